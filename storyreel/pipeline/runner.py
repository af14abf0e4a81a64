"""One way through a job: ``Pipeline`` runs the stages in order for a shell (CLI, bot).

    script → [approve] ─┬→ pictures → [approve the first 5] → clips → [approve the first 3] ─┬→ assembly
                        └→ narration ──────────────────────────────────────────────────────────┘
    → delivery → cleanup

Who does what: ``admission`` accepts a job (or refuses it before anything is spent),
``stages`` does each stage's work, ``schedule`` decides when each segment's steps run,
``approvals.ApprovalFlow`` asks a person and reads the answers, ``calls.CallRunner`` runs
every provider call (the one layer that retries), ``recorder`` saves the job and its
history. The shell supplies the approvals, the progress sink, the cancel and stop
checks and the delivery; and, when a job's steps may run on several machines (the bot),
the model slots every worker shares (``capacity.Slots``) and the store of paid results
every machine reaches (``results.Results``). Both default to this process and this disk.
"""

from __future__ import annotations

import time
from typing import Callable

import structlog

from ..errors import JobCancelled, StepInterrupted
from ..log import ms_since
from ..media.files import FileManager
from ..models import Job, JobStatus, VideoFormat
from ..providers.base import Providers, Stop
from ..settings import Settings
from .admission import admit
from .approvals import ApprovalFlow, Approvals, AutoApprove, Gate, GateApprovals, Preview
from .calls import CallRunner
from .capacity import Capacity, Slots
from .ledger import MemorySpending, Spending
from .recorder import JobRecorder, Progress
from .results import LocalResults, Results
from .schedule import produce
from .stages import Outcome, Stages
from .store import JobStore, LocalJobStore

Deliver = Callable[[Job, Outcome], None]


class Pipeline:
    """Runs a job's stages with the given providers (built once per process and shared)."""

    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        *,
        files: FileManager | None = None,
        store: JobStore | None = None,
        approvals: Approvals | None = None,
        gate: Gate | None = None,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        interrupted: Callable[[], bool] = lambda: False,
        spending: Spending | None = None,
        slots: Slots | None = None,
        results: Results | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.files = files or FileManager(settings.work_dir)
        self.spending = spending or MemorySpending()
        stop = Stop(cancelled=cancelled, interrupted=interrupted)
        self.recorder = JobRecorder(store or LocalJobStore(self.files), progress)
        self.calls = CallRunner(settings, self.recorder, self.spending, stop)
        self.results = results or LocalResults()
        self.stages = Stages(settings, providers, self.files, self.recorder, self.calls,
                             Capacity(settings, slots), self.results)
        approvals = approvals or (GateApprovals(gate) if gate is not None else AutoApprove())
        self.flow = ApprovalFlow(approvals, self.recorder, stop)

    # ---- jobs -------------------------------------------------------------------------
    def new_job(self, prompt: str, *, language: str | None = None, job_id: str | None = None, **fields) -> Job:
        """A job for ``prompt`` (no folder yet), or the ``InputError`` that refuses it;
        nothing is spent before this passes (see ``admission.admit``)."""
        return admit(self.settings, self.providers, self.spending, prompt, language=language, job_id=job_id,
                     **fields)

    def run(self, job: Job, deliver: Deliver, *, script_text: str | None = None) -> Outcome:
        """The whole job in this process, waiting for each approval (the CLI)."""
        self.files.create_job_dir(job.job_id)
        outcome = self.advance(job, deliver, script_text=script_text, wait=True)
        assert outcome is not None
        return outcome

    def advance(self, job: Job, deliver: Deliver, *, script_text: str | None = None,
                wait: bool = False) -> Outcome | None:
        """Do everything the job allows now. Returns the delivered ``Outcome``, or None
        when the job waits for a person (only with ``wait=False``: the caller is freed
        and calls again once the answer is in). The job's folder is deleted when the job
        ends: delivered, cancelled or failed."""
        structlog.contextvars.bind_contextvars(job_id=job.job_id, user_id=job.user_id)
        note = self.recorder.note
        started = time.perf_counter()
        if job.status == JobStatus.CREATED:
            note(job, "job_started", language=job.language, segments=job.segment_count,
                 seconds=job.segment_seconds, aspect=job.aspect.value, estimate=job.estimate)
        try:
            self.files.create_job_dir(job.job_id)
            self.stages.write_script(job, script_text)
            if not self._script_gate(job, wait):
                return None
            if not produce(self.stages, self.flow, job, wait=wait):
                return None
            outcome = self.stages.assemble(job)
            self.calls.stop.check()  # cancelled or stopped while FFmpeg ran: nothing is delivered
            deliver(job, outcome)
            note(job, "job_done", duration_ms=ms_since(started), size=outcome.size, cost=job.cost)
            self.recorder.set_status(job, JobStatus.DONE)
            self._cleanup(job)
            return outcome
        except StepInterrupted:
            # not an end: the job stays as recorded and another process goes on with it
            note(job, "job_step_interrupted", stage=job.status.value)
            self.recorder.save(job)
            raise
        except JobCancelled:
            note(job, "job_cancelled", stage=job.status.value, cost=job.cost)
            job.status = JobStatus.CANCELLED
            self._cleanup(job)
            raise
        except BaseException as exc:
            job.status, job.error = JobStatus.FAILED, getattr(exc, "code", type(exc).__name__)
            note(job, "job_failed", level="error", error=str(exc), code=job.error, cost=job.cost)
            self._cleanup(job)
            raise
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "user_id")

    def _script_gate(self, job: Job, wait: bool) -> bool:
        """Ask for the script's approval; each edit the person asks meanwhile (the whole
        text, one segment, a note for the writer) is made and the new script shown with
        the same question. True once approved; False when the job waits for an answer
        (never with ``wait``: then this polls)."""
        flow, notice = self.flow, None
        while True:
            if flow.approved(job, "script"):
                return True
            for edit in flow.pending_edits(job):
                notice = self.stages.apply_edit(job, edit, self.stages.edit_cost(job, edit))
            flow.request(job, Preview("script", script=job.script, cost=self.expected_cost(job), notice=notice))
            if flow.approved(job, "script"):
                return True
            if not wait:
                return False
            if not flow.pending_edits(job):
                self.calls.stop.check()
                time.sleep(0.1)

    @staticmethod
    def expected_cost(job: Job) -> float | None:
        """What the job should cost now: its estimate and the edits accepted since."""
        if job.estimate is None:
            return None
        return round(job.estimate + job.extra_estimate, 4)

    def _cleanup(self, job: Job) -> None:
        """The job ended: its folder goes, and what was kept for other machines."""
        self.files.cleanup_job(job.job_id)
        self.results.forget(job.job_id)

    # ---- the stages one at a time (benchmarks, tests, the bot's delivery) ----------------
    def video_format(self, job: Job) -> VideoFormat:
        return self.stages.video_format(job)

    def save(self, job: Job) -> None:
        self.recorder.save(job)

    def write_script(self, job: Job, script_text: str | None = None) -> None:
        self.stages.write_script(job, script_text)

    def make_pictures(self, job: Job) -> None:
        """Every picture, no approvals asked."""
        produce(self.stages, self.flow, job, clips=False, narration=False, wait=True, previews=False)

    def make_clips(self, job: Job) -> None:
        """Every clip from its picture, no approvals asked."""
        produce(self.stages, self.flow, job, pictures=False, narration=False, wait=True, previews=False)

    def narrate(self, job: Job) -> None:
        self.stages.narrate(job)

    def assemble(self, job: Job) -> Outcome:
        return self.stages.assemble(job)
