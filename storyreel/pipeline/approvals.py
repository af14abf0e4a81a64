"""Approvals: the three points where a person says yes or no.

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

import structlog

from ..errors import JobCancelled
from ..models import Job, JobStatus, Script
from ..providers.base import NEVER, Stop
from .edits import Edit
from .recorder import JobRecorder

log = structlog.get_logger(__name__)

#: how many pictures and clips a person sees before approving
PICTURE_PREVIEW = 5
CLIP_PREVIEW = 3

#: the approval kinds, in order, and their names in the Redis keys ``approval:{job_id}:{type}``
KEY_TYPES = {"script": "script", "pictures": "images", "clips": "videos"}


@dataclass
class Preview:
    """What a person is shown: the script (with the job's estimated cost), or the first
    pictures / clips; after an edit (``round`` > 0) the new script, or the pictures /
    clips redone. ``numbers`` are the segments the files show, counted from 1. A
    ``sheet`` is more of the pictures, shown while the question is open (no question)."""

    kind: str  # "script", "pictures" or "clips"
    script: Script | None = None
    files: list[Path] = field(default_factory=list)
    cost: float | None = None
    numbers: list[int] = field(default_factory=list)
    round: int = 0
    sheet: bool = False
    notice: str | None = None  # the code of why the last edit could not be made (the script is as it was)


class Approvals(Protocol):
    """A shell's side of the gates. Besides ``request`` and ``state`` a shell may have
    ``edits(job)`` (every edit the person asked of this job, in order: ``edits.Edit``),
    ``show(job, preview)`` (more pictures while the question is open) and
    ``delivered(job, kind)`` (the question was really shown)."""

    def request(self, job: Job, preview: Preview) -> None:
        """Show ``preview`` and ask; must not block for the answer (a CLI may)."""
        ...

    def state(self, job: Job, kind: str) -> bool | None:
        """True approved, False refused, None no answer yet."""
        ...


class Gate(Protocol):
    def ask(self, job: Job, preview: Preview) -> bool | Edit:
        """True to go on, False to cancel the job, an ``Edit`` to change something and
        be asked again (blocks until answered)."""
        ...


class GateApprovals:
    """``Approvals`` over a blocking ``Gate`` (the CLI's case: one process, one job).

    The question is asked on a thread of its own, so pictures and clips keep coming
    while the person reads; the answer is kept in memory. A gate that raises counts as
    a refusal, and its error is logged.
    """

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._answers: dict[tuple[str, str], bool] = {}
        self._edits: list[Edit] = []
        self._lock = threading.Lock()

    def request(self, job: Job, preview: Preview) -> None:
        def ask() -> None:
            try:
                answer = self.gate.ask(job, preview)
            except Exception as exc:  # a gate that fails refuses: the job must not go on unseen
                log.warning("approval_gate_failed", kind=preview.kind, error=str(exc)[:300])
                answer = False
            with self._lock:
                if isinstance(answer, Edit):  # the gate is asked again once the edit is made
                    self._edits.append(answer)
                else:
                    self._answers[(job.job_id, preview.kind)] = bool(answer)

        threading.Thread(target=contextvars.copy_context().run, args=(ask,), name=f"ask-{preview.kind}",
                         daemon=True).start()

    def state(self, job: Job, kind: str) -> bool | None:
        with self._lock:
            return self._answers.get((job.job_id, kind))

    def edits(self, job: Job) -> list[Edit]:
        with self._lock:
            return list(self._edits)

    def show(self, job: Job, preview: Preview) -> None:
        shown = getattr(self.gate, "show", None)
        if callable(shown):
            shown(job, preview)


class AutoApprove:
    """Approves everything at once."""

    def ask(self, job: Job, preview: Preview) -> bool:
        return True

    def request(self, job: Job, preview: Preview) -> None:
        pass

    def state(self, job: Job, kind: str) -> bool | None:
        return True


def asked_tag(kind: str, round: int) -> str:
    """How ``job.asked`` records that the gate ``kind`` was asked in ``round``."""
    return kind if not round else f"{kind}#{round}"


class ApprovalFlow:
    """A job's approvals, asked and read in one place: each is asked once per job (the
    request survives restarts in ``job.asked``), and its answer is read the same way
    wherever the pipeline needs it."""

    def __init__(self, approvals: Approvals, recorder: JobRecorder, stop: Stop = NEVER) -> None:
        self.approvals = approvals
        self.recorder = recorder
        self.stop = stop

    def needs_request(self, job: Job, kind: str) -> bool:
        """True until the approval of ``kind`` has been asked *and* shown, in its current
        round (an edit starts a new one: the gate is asked again with what changed).
        ``job.asked`` is recorded before the question goes out (an answer may come back
        at once); an ``Approvals`` that can tell (``delivered``) has a question that a
        dead worker recorded but never showed asked again."""
        if asked_tag(kind, job.rounds.get(kind, 0)) not in job.asked:
            return True
        delivered = getattr(self.approvals, "delivered", None)
        return delivered is not None and not delivered(job, kind)

    def request(self, job: Job, preview: Preview) -> None:
        """Ask for the approval of ``preview.kind`` unless it was asked and shown."""
        if not self.needs_request(job, preview.kind):
            return
        self.stop.check()
        preview.round = job.rounds.get(preview.kind, 0)
        if preview.kind == "script":
            job.status = JobStatus.AWAITING_SCRIPT_APPROVAL
        tag = asked_tag(preview.kind, preview.round)
        for name in (preview.kind, tag):
            if name not in job.asked:
                job.asked.append(name)
        self.recorder.save(job)
        self.recorder.note(job, "approval_requested", kind=preview.kind, round=preview.round or None)
        self.approvals.request(job, preview)

    def pending_edits(self, job: Job) -> list[Edit]:
        """The edits asked of the job and not yet made, in order."""
        edits = getattr(self.approvals, "edits", None)
        return list(edits(job))[job.edits_done:] if callable(edits) else []

    def show(self, job: Job, preview: Preview, name: str) -> None:
        """Show more of an open gate (a sheet of pictures), once: ``name`` is recorded."""
        shown = getattr(self.approvals, "show", None)
        if name in job.asked or not callable(shown):
            return
        self.stop.check()
        shown(job, preview)
        job.asked.append(name)
        self.recorder.save(job)

    def approved(self, job: Job, kind: str) -> bool:
        """True when ``kind`` is approved, False while it is not asked or not answered;
        raises ``JobCancelled`` when it was refused (or timed out)."""
        if kind not in job.asked:
            return False
        state = self.approvals.state(job, kind)
        if state is False:
            self.recorder.note(job, "approval_refused", kind=kind)
            raise JobCancelled(f"{kind} not approved")
        if state and not self.recorder.noted(job, "approval_given", kind=kind):
            self.recorder.note(job, "approval_given", kind=kind)
        return bool(state)
