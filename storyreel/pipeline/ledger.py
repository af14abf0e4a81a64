"""The cost ledger: every provider call's price, estimates, and spending caps.

Prices come from ``Settings.prices`` (USD per unit, keyed ``"{model}/{unit}"``); a
provider reports what a call consumed through ``providers.base.report_usage`` and the
pipeline records one entry per call in the job (``job.costs``) and, through a
``Spending`` store (memory here; Redis for the bot, in ``bot.state``), in the user's
total for the day. Caps are checked against the *estimate* before anything is spent.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, replace
from typing import Protocol

from ..errors import CostCapExceeded
from ..models import Job, JobOptions
from ..providers.base import Providers, Usage
from ..settings import Settings
from .choices import animated, motion_segments, uses_fast_model

#: rough sizes used by the estimate (tokens of our instructions, characters per word)
_INSTRUCTION_TOKENS = 700
_TOKENS_PER_WORD = 1.6
_CHARS_PER_WORD = 6.2


def price(settings: Settings, usage: Usage) -> float:
    """USD for one usage record; unknown model/unit pairs cost 0 (local providers)."""
    return usage.units * settings.prices.get(f"{usage.model}/{usage.unit}", 0.0)


@dataclass
class Estimate:
    """The expected cost of a job, by stage, in USD."""

    script: float
    pictures: float
    clips: float
    narration: float

    @property
    def total(self) -> float:
        return round(self.script + self.pictures + self.clips + self.narration, 4)


def estimate(settings: Settings, providers: Providers, *, segment_count: int, segment_seconds: float,
             prompt_chars: int = 200, options: JobOptions | None = None) -> Estimate:
    """What a job of this size should cost with these providers and ``options`` (fast
    pictures, a motion budget), before any retries or edits."""
    options = options or JobOptions()
    words = segment_count * segment_seconds * settings.words_per_second
    script = script_price(settings, providers, segment_count, segment_seconds, prompt_chars=prompt_chars)
    pictures = sum(picture_price(settings, providers, options, index=i) for i in range(segment_count))
    animated = len(motion_segments(segment_count, options.motion_budget, []))
    clips = animated * _clip_unit(settings, providers, segment_seconds)
    expected = getattr(providers.speech, "expected_usage", None)
    if callable(expected):  # a narrator billed by something other than characters (audio tokens)
        spoken = expected(chars=words * _CHARS_PER_WORD, seconds=segment_count * segment_seconds,
                          pieces=segment_count)
        narration = sum(price(settings, u) for u in spoken)
    else:
        narration = price(settings, Usage(getattr(providers.speech, "model", ""), words * _CHARS_PER_WORD,
                                          "character"))
    return Estimate(round(script, 4), round(pictures, 4), round(clips, 4), round(narration, 4))


def saving(settings: Settings, providers: Providers, options: JobOptions, *, segment_count: int,
           segment_seconds: float) -> float:
    """How much ``options``' fast pictures and motion budget save against making every
    picture with the main model and animating every segment (USD, 0 when nothing)."""
    full = replace(options, fast_pictures=False, motion_budget=0)
    size = {"segment_count": segment_count, "segment_seconds": segment_seconds}
    return round(max(0.0, estimate(settings, providers, options=full, **size).total
                     - estimate(settings, providers, options=options, **size).total), 4)


def script_price(settings: Settings, providers: Providers, segment_count: int, segment_seconds: float, *,
                 prompt_chars: int = 200) -> float:
    """One script request (writing or revising) of this size."""
    words = segment_count * segment_seconds * settings.words_per_second
    model = getattr(providers.script, "model", "")
    return price(settings, Usage(model, _INSTRUCTION_TOKENS + prompt_chars / 3, "input_token")) + price(
        settings, Usage(model, words * _TOKENS_PER_WORD + segment_count * 60, "output_token"))


def picture_price(settings: Settings, providers: Providers, options: JobOptions, *, index: int) -> float:
    """Picture ``index``: the cheaper model's price when it is made with it."""
    model = getattr(providers.pictures, "model", "")
    fast = getattr(providers.pictures, "fast_model", None)
    if fast and uses_fast_model(options, index):
        model = fast
    return price(settings, Usage(model, 1, "image"))


def clip_price(settings: Settings, providers: Providers, job: Job, *, index: int) -> float:
    """Segment ``index``'s clip: the motion model's price within the motion budget, else
    nothing (the local pan and zoom)."""
    if index not in animated(job):
        return 0.0
    return _clip_unit(settings, providers, job.segment_seconds)


def _clip_unit(settings: Settings, providers: Providers, segment_seconds: float) -> float:
    billed = getattr(providers.motion, "billed_seconds", None)
    seconds = billed(segment_seconds) if callable(billed) else segment_seconds
    return price(settings, Usage(getattr(providers.motion, "model", ""), seconds, "second"))


def cost_entry(settings: Settings, used: list[Usage], *, stage: str, segment: int | None, provider: str,
               duration_ms: int, attempt: int = 1, task_id: str | None = None) -> dict:
    """The ledger record of one paid step: what it consumed, by unit, and its price."""
    units: dict[str, float] = {}
    for u in used:  # one step may make several requests (a script and its repair)
        units[u.unit] = units.get(u.unit, 0.0) + u.units
    return {"stage": stage, "segment": segment, "provider": provider,
            "model": used[0].model if used else None, "units": units,
            "cost": round(sum(price(settings, u) for u in used), 6),
            "duration_ms": duration_ms, "attempt": attempt, "task_id": task_id, "at": round(time.time(), 3)}


def add_cost(job: Job, entry: dict, spending: "Spending") -> bool:
    """Put ``entry`` in the job's ledger and the user's daily total; False (and nothing
    added) when it used nothing, or when its task was recorded before (a task polled
    again after a resume was paid for once). The caller holds the job's lock."""
    if not entry["units"]:
        return False
    if entry.get("task_id") and any(c.get("task_id") == entry["task_id"] for c in job.costs):
        return False
    job.costs.append(entry)
    spending.add(job.user_id, entry["cost"])
    return True


class Spending(Protocol):
    """Per-user spending by day (Redis for the bot, memory for the CLI)."""

    def add(self, user_id: int | None, cost: float) -> None: ...

    def today(self, user_id: int | None) -> float: ...


class MemorySpending:
    def __init__(self) -> None:
        self._totals: dict[tuple[int | None, str], float] = {}
        self._lock = threading.Lock()

    def add(self, user_id: int | None, cost: float) -> None:
        with self._lock:
            key = (user_id, today_utc())
            self._totals[key] = self._totals.get(key, 0.0) + cost

    def today(self, user_id: int | None) -> float:
        with self._lock:
            return self._totals.get((user_id, today_utc()), 0.0)


def check_caps(settings: Settings, spending: Spending, user_id: int | None, expected: float) -> None:
    """Refuse a job whose estimate breaks a cap, before anything is spent."""
    cap = settings.max_cost_per_job
    if cap and expected > cap + 1e-9:
        raise CostCapExceeded(f"estimate {expected:.2f} over the job cap {cap:.2f}", code="cost_cap_job",
                              cost=expected, cap=cap)
    cap = settings.max_cost_per_user_day
    if cap and spending.today(user_id) + expected > cap + 1e-9:
        raise CostCapExceeded(f"estimate {expected:.2f} over the daily cap {cap:.2f}", code="cost_cap_day",
                              cost=expected, cap=cap)


def today_utc() -> str:
    """The UTC day spending is counted in ("2026-11-29")."""
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


