"""The command line: ``storyreel make | web | worker | beat | bot | set-webhook | job |
jobs | cleanup | doctor``. This module is only the click group that gathers them:

- ``make``: a video made on this machine, with its input checks;
- ``terminal``: the approvals and progress bars ``make`` shows;
- ``services``: the bot's long-running processes and ``set-webhook``;
- ``ops``: ``job``, ``jobs`` and ``cleanup``;
- ``doctor``: every start-up check, one line each;
- ``startup`` and ``exits``: the checks and the one-line failures they all share.
"""

from __future__ import annotations

import click

from .doctor import doctor_cmd
from .make import make_cmd
from .ops import cleanup, job_cmd, jobs_cmd
from .services import beat, bot, set_webhook, web, worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="storyreel")
def main() -> None:
    """StoryReel: a prompt becomes a narrated video."""


main.add_command(make_cmd)
main.add_command(web)
main.add_command(worker)
main.add_command(beat)
main.add_command(set_webhook)
main.add_command(bot)
main.add_command(job_cmd)
main.add_command(jobs_cmd)
main.add_command(cleanup)
main.add_command(doctor_cmd)
