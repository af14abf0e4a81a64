"""Paid results kept where every host that may resume the job reaches them.

A job's files live in the job folder of the machine that made them; its next step may
run on another machine. What that machine cannot get back for free must be kept
elsewhere: Runway's pictures and clips are fetched again by their recorded task ids
(``stages.make_picture``/``make_clip``), but a narration piece is paid per call and
exists nowhere but in the file we wrote. ``Results`` keeps such files under a name per
job (``narration/007``) and puts them back into a folder that lacks them.

``LocalResults`` (the CLI's, and the default) keeps nothing: a job never leaves its
machine, and its folder is the only copy. The bot keeps them in Redis for as long as
the job (``storyreel.bot.results.RedisResults``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Results(Protocol):
    """A job's paid files, reachable from every host."""

    def keep(self, job_id: str, name: str, path: Path) -> None:
        """Keep a copy of ``path`` (a whole file) as ``name`` of the job. Best effort: a
        copy that could not be kept costs a second call only if the job moves."""
        ...

    def fetch(self, job_id: str, name: str, path: Path) -> bool:
        """Write the kept ``name`` to ``path`` (whole or not at all); False when none is kept."""
        ...

    def forget(self, job_id: str) -> None:
        """The job ended: drop everything kept for it."""
        ...


class LocalResults:
    """``Results`` for a job that never leaves its machine: nothing is copied."""

    def keep(self, job_id: str, name: str, path: Path) -> None:
        pass

    def fetch(self, job_id: str, name: str, path: Path) -> bool:
        return False

    def forget(self, job_id: str) -> None:
        pass
