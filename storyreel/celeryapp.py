"""The Celery app for Celery's own command line (``celery -A storyreel.celeryapp flower``,
``inspect ping``): importing this module builds it from the settings. StoryReel's own
commands (``storyreel worker``, ``storyreel beat``) build theirs with
``storyreel.worker.get_app()`` and never import this module."""

from .worker import get_app

app = get_app()
