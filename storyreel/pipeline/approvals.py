"""Approvals: the three points where a person says yes or no (R7, R10, R12, R17, R19).

The pipeline never waits inside a provider call for a person. It *requests* an approval
(the shell shows the preview: the CLI in the terminal, the bot with buttons) and later
reads its *state*: True (approved), False (refused, timed out) or None (no answer yet).
While an answer is pending the scheduler keeps doing whatever does not need it, and when
nothing is left it either waits (the CLI) or returns, freeing the worker (the bot: the
button press starts the next step; see ``storyreel.bot``).

``Gate`` is the older, blocking form (ask and get an answer); ``GateApprovals`` adapts a
gate, ``AutoApprove`` says yes to everything (``--yes``).
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..models import Job, Script

#: how many pictures and clips a person sees before approving (R10, R12)
PICTURE_PREVIEW = 5
CLIP_PREVIEW = 3

#: the approval kinds, in order, and their names in the seed's Redis keys (R17)
SEED_TYPES = {"script": "script", "pictures": "images", "clips": "videos"}


@dataclass
class Preview:
    """What a person is shown: the script (with the job's estimated cost), or the first
    pictures / clips."""

    kind: str  # "script", "pictures" or "clips"
    script: Script | None = None
    files: list[Path] = field(default_factory=list)
    cost: float | None = None


class Approvals(Protocol):
    def request(self, job: Job, preview: Preview) -> None:
        """Show ``preview`` and ask; must not block for the answer (a CLI may)."""
        ...

    def state(self, job: Job, kind: str) -> bool | None:
        """True approved, False refused, None no answer yet."""
        ...


class Gate(Protocol):
    def ask(self, job: Job, preview: Preview) -> bool:
        """True to go on, False to cancel the job (blocks until answered)."""
        ...


class GateApprovals:
    """``Approvals`` over a blocking ``Gate`` (the CLI's case: one process, one job).

    The question is asked on a thread of its own, so pictures and clips keep coming
    while the person reads; the answer is kept in memory. A gate that raises counts as
    a refusal (and the error is logged by the caller's ``state`` check).
    """

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._answers: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def request(self, job: Job, preview: Preview) -> None:
        def ask() -> None:
            try:
                answer = bool(self.gate.ask(job, preview))
            except Exception:
                answer = False
            with self._lock:
                self._answers[(job.job_id, preview.kind)] = answer

        threading.Thread(target=contextvars.copy_context().run, args=(ask,), name=f"ask-{preview.kind}",
                         daemon=True).start()

    def state(self, job: Job, kind: str) -> bool | None:
        with self._lock:
            return self._answers.get((job.job_id, kind))


class AutoApprove:
    """Approves everything at once."""

    def ask(self, job: Job, preview: Preview) -> bool:
        return True

    def request(self, job: Job, preview: Preview) -> None:
        pass

    def state(self, job: Job, kind: str) -> bool | None:
        return True
