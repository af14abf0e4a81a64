"""The call runner: every provider call of a job goes through ``CallRunner.call``.

This is THE layer that tries a failed step again — the one statement of the product's
retry policy:

* HTTP-level failures (408/409/429/5xx, connection errors, timeouts of one request) are
  retried by the providers' SDKs alone (``OPENAI_MAX_RETRIES``, ``RUNWAY_MAX_RETRIES``,
  honouring ``Retry-After``); what is still failing after them reaches the pipeline as a
  *permanent* error, so no failure is retried by two layers.
* A failed *step* — a generation task that failed or timed out, a Realtime connection
  dropped mid-audio — reaches it as a ``TransientError`` and is tried again here,
  ``RETRIES`` more times, after ``retry_after`` when the provider gave one, else after a
  capped exponential backoff with jitter.
* Nothing else retries: not the scheduler, not the providers, not the shells.

Each attempt's duration, usage and price go to the log and, through the ledger, to the
job's cost records and the user's daily total.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import structlog
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..errors import TransientError
from ..log import ms_since
from ..models import Job
from ..providers.base import NEVER, Stop, metered
from ..settings import Settings
from .ledger import MemorySpending, Spending, add_cost, cost_entry
from .recorder import JobRecorder

log = structlog.get_logger(__name__)


class CallRunner:
    """Runs provider calls for jobs: retries, timing, the cost ledger."""

    def __init__(self, settings: Settings, recorder: JobRecorder, spending: Spending | None = None,
                 stop: Stop = NEVER) -> None:
        self.settings = settings
        self.recorder = recorder
        self.spending = spending or MemorySpending()
        self.stop = stop

    def call(self, job: Job, stage: str, segment: int | None, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """``fn(*args, **kwargs)``, tried again on ``TransientError``; each attempt is
        recorded. The job's cancel and stop checks run before every attempt."""
        provider = getattr(getattr(fn, "__self__", None), "name", "?")
        task = kwargs.get("task")  # a paid remote task's record, when the step has one
        for attempt in Retrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            retry=retry_if_exception_type(TransientError),
            wait=_retry_wait,
            reraise=True,
        ):
            with attempt:
                self.stop.check()
                number = attempt.retry_state.attempt_number
                started = time.perf_counter()
                with metered() as used:
                    try:
                        result = fn(*args, **kwargs)
                    except Exception as exc:
                        self.recorder.note(job, "provider_error", level="warning", stage=stage, segment=segment,
                                           provider=provider, attempt=number,
                                           code=getattr(exc, "code", type(exc).__name__), error=str(exc)[:300])
                        raise
                    finally:
                        self.record(job, cost_entry(self.settings, used, stage=stage, segment=segment,
                                                    provider=provider, duration_ms=ms_since(started), attempt=number,
                                                    task_id=getattr(task, "task_id", None)))
        return result

    def record(self, job: Job, entry: dict) -> None:
        """One call's ledger record (logged always, kept when it cost something new)."""
        with self.recorder.lock:
            kept = add_cost(job, entry, self.spending)
        log.info("provider_call", recorded=kept, **{k: v for k, v in entry.items() if k != "at"})


def _retry_wait(state) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if hinted:
        return float(hinted)
    return wait_exponential_jitter(initial=1, max=30)(state)
