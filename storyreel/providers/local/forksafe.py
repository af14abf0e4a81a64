"""A lock for the offline engines that a forked process gets back free.

eSpeak NG and PocketSphinx are C libraries that do one thing at a time per process, so
each is used under a lock. Celery's prefork pool and gunicorn fork: a child forked while
another thread held the lock would inherit it held forever. This lock replaces itself in
the child, and runs a reset of the engine's own state there too.
"""

from __future__ import annotations

import os
import threading
from typing import Callable


class ForkSafeLock:
    """``with lock:`` like ``threading.Lock``; a forked child starts with it free."""

    def __init__(self, on_fork: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._on_fork = on_fork
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        if self._on_fork is not None:
            self._on_fork()

    def __enter__(self) -> "ForkSafeLock":
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()
