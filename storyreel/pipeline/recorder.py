"""What a job leaves behind as it goes: its saved state, its history, its stage timings.

Every part of the pipeline records through one ``JobRecorder``: worker threads share a
job, so saving it and appending to its history go through one lock. The history is what
``storyreel job ID`` prints; each entry is also a structured log event.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import structlog

from ..log import ms_since
from ..models import Job, JobStatus
from .store import JobStore

log = structlog.get_logger(__name__)


class Progress(Protocol):
    """Where stage and segment progress goes (a progress bar, a Telegram message…)."""

    def stage(self, job: Job, stage: str, total: int) -> None: ...

    def advance(self, job: Job, stage: str, done: int, total: int) -> None: ...


class NullProgress:
    """Progress that goes nowhere (benchmarks, tests)."""

    def stage(self, job: Job, stage: str, total: int) -> None:
        pass

    def advance(self, job: Job, stage: str, done: int, total: int) -> None:
        pass


class JobRecorder:
    """Saves a job, notes its events and times its stages (one writer at a time)."""

    def __init__(self, store: JobStore, progress: Progress | None = None) -> None:
        self.store = store
        self.progress = progress or NullProgress()
        self.lock = threading.RLock()

    def save(self, job: Job) -> None:
        """Record the job's state."""
        with self.lock:
            self.store.save(job)

    def set_status(self, job: Job, status: JobStatus) -> None:
        job.status = status
        self.save(job)

    def note(self, job: Job, event: str, level: str = "info", **fields) -> None:
        """A log event that also goes into the job's own history."""
        getattr(log, level)(event, **fields)
        with self.lock:
            job.history.append({"at": round(time.time(), 3), "event": event,
                                **{k: v for k, v in fields.items() if v is not None}})

    def noted(self, job: Job, event: str, **match) -> bool:
        """True when the history already holds ``event`` with these fields."""
        with self.lock:
            return any(h.get("event") == event and all(h.get(k) == v for k, v in match.items())
                       for h in job.history)

    def stage(self, job: Job, stage: str, total: int) -> "StageTimer":
        """``with recorder.stage(job, "narration", n):`` notes the start, the end and its
        duration, and tells the progress sink."""
        return StageTimer(self, job, stage, total)


class StageTimer:
    """The context manager ``JobRecorder.stage`` returns."""

    def __init__(self, recorder: JobRecorder, job: Job, stage: str, total: int) -> None:
        self.recorder, self.job, self.stage, self.total = recorder, job, stage, total
        self.started = 0.0

    def __enter__(self) -> "StageTimer":
        self.started = time.perf_counter()
        self.recorder.note(self.job, "stage_started", stage=self.stage)
        self.recorder.progress.stage(self.job, self.stage, self.total)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.recorder.progress.advance(self.job, self.stage, self.total, self.total)
            self.recorder.note(self.job, "stage_finished", stage=self.stage, duration_ms=ms_since(self.started))
        return False

