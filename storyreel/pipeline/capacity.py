"""How many provider calls run at once, per model, and so how long a job takes.

Concurrency is per *model* (Runway limits each model separately, per account). A model's
limit is ``MODEL_CONCURRENCY[model]``; else the provider's own ``concurrency`` (CPU-bound
local motion, a narrator that speaks one text at a time); else ``CONCURRENCY``.

Who counts the calls is pluggable: ``Slots`` is the small interface (take a lease on one
of a model's slots without waiting; give it back). ``ProcessSlots``, the default (the
CLI, tests, benchmarks), counts the calls of this process. The bot passes slots that
every worker process on every host shares (``storyreel.bot.slots.RedisSlots``), so two
workers against one Runway account stay within its limit together. A provider that
runs on this machine (offline pictures, Ken Burns motion, eSpeak) is limited by this
machine, not by an account: its slots are always this process's.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from ..errors import JobCancelled
from ..providers.base import Providers
from ..settings import Settings

#: typical seconds one step takes, by provider name and stage (for the user's ETA)
TYPICAL_SECONDS = {("runway", "pictures"): 10.0, ("runway", "motion"): 60.0,
                   ("local", "pictures"): 0.05, ("local", "motion"): 1.6}

_WAIT_FIRST, _WAIT_MAX = 0.02, 0.25  # seconds between looks for a free slot (``ModelSlots.hold``)


class Lease(Protocol):
    """One slot of one model, held until ``release()`` (which may be called again: no-op)."""

    def release(self) -> None: ...


class Slots(Protocol):
    """Who may call a model now: at most ``limit`` calls to ``model`` at once."""

    def try_acquire(self, model: str, limit: int) -> Lease | None:
        """A lease on a free slot of ``model``, or None when all ``limit`` are taken.
        Never waits (the scheduler asks again as slots free)."""
        ...


class _SemaphoreLease:
    def __init__(self, semaphore: threading.BoundedSemaphore) -> None:
        self._semaphore: threading.BoundedSemaphore | None = semaphore

    def release(self) -> None:
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()


class ProcessSlots:
    """``Slots`` counted in this process: one semaphore per model and limit, shared by
    every job the process runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}

    def try_acquire(self, model: str, limit: int) -> Lease | None:
        with self._lock:
            semaphore = self._semaphores.setdefault((model, limit), threading.BoundedSemaphore(limit))
        return _SemaphoreLease(semaphore) if semaphore.acquire(blocking=False) else None


#: the slots of this process (the default wherever no shared slots are given)
PROCESS_SLOTS = ProcessSlots()


@dataclass(frozen=True)
class ModelSlots:
    """The slots of one provider's model: ``limit`` of them, counted by ``slots``."""

    model: str
    limit: int
    slots: Slots

    def try_acquire(self) -> Lease | None:
        return self.slots.try_acquire(self.model, self.limit)

    @contextmanager
    def hold(self, stop: Callable[[], bool] = lambda: False) -> Iterator[Lease]:
        """Wait for a slot and hold it for the block. A shared slot cannot be waited on, so
        this looks again every few tens of milliseconds; ``stop()`` ends the wait
        (``JobCancelled("stopped")``: a sibling step failed, nothing more is paid)."""
        delay = _WAIT_FIRST
        while (lease := self.try_acquire()) is None:
            if stop():
                raise JobCancelled("stopped")
            time.sleep(delay)
            delay = min(_WAIT_MAX, delay * 1.5)
        try:
            yield lease
        finally:
            lease.release()


class Capacity:
    """The slots each provider's calls take: ``shared`` (every worker's, in the bot) for
    cloud models, this process's for providers that run on this machine."""

    def __init__(self, settings: Settings, shared: Slots | None = None) -> None:
        self.settings = settings
        self.shared = shared if shared is not None else PROCESS_SLOTS

    def for_provider(self, provider) -> ModelSlots:
        slots = PROCESS_SLOTS if runs_here(provider) else self.shared
        return ModelSlots(model_name(provider), limit_for(self.settings, provider), slots)


def model_name(provider) -> str:
    """The model ``provider``'s calls are limited under (its name when it has no model)."""
    return getattr(provider, "model", getattr(provider, "name", "?"))


def runs_here(provider) -> bool:
    """True for a provider limited by this machine rather than by an account: it names
    its own ``concurrency`` (a CPU or library limit), or it is an offline "local" one."""
    return getattr(provider, "concurrency", None) is not None or getattr(provider, "name", "") == "local"


def limit_for(settings: Settings, provider) -> int:
    """How many calls to ``provider``'s model may run at once."""
    model = model_name(provider)
    if model in settings.model_concurrency:
        return max(1, settings.model_concurrency[model])
    return max(1, getattr(provider, "concurrency", None) or settings.concurrency)


def estimate_seconds(settings: Settings, providers: Providers, segment_count: int, segment_seconds: float) -> float:
    """Roughly how long a job takes: the rounds of pictures and clips the concurrency
    allows, plus script, narration and assembly."""
    pic = TYPICAL_SECONDS.get((providers.pictures.name, "pictures"), 10.0)
    clip = TYPICAL_SECONDS.get((providers.motion.name, "motion"), 60.0) * max(1.0, segment_seconds / 5)
    pic_rounds = math.ceil(min(5, segment_count) / limit_for(settings, providers.pictures))
    clip_rounds = math.ceil(segment_count / limit_for(settings, providers.motion))
    return 20 + pic_rounds * pic + clip_rounds * clip + 0.05 * segment_count * segment_seconds
