"""The cost ledger (R36): every provider call's price, estimates, and spending caps.

Prices come from ``Settings.prices`` (USD per unit, keyed ``"{model}/{unit}"``); a
provider reports what a call consumed through ``providers.base.report_usage`` and the
pipeline records one entry per call in the job (``job.costs``) and, through a
``Spending`` store, in the user's total for the day. Caps are checked against the
*estimate* before anything is spent.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass
from typing import Protocol

from ..errors import CostCapExceeded
from ..providers.base import Providers, Usage
from ..settings import Settings

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
             prompt_chars: int = 200) -> Estimate:
    """What a job of this size should cost with these providers (before any retries)."""
    words = segment_count * segment_seconds * settings.words_per_second
    model = getattr(providers.script, "model", "")
    script = price(settings, Usage(model, _INSTRUCTION_TOKENS + prompt_chars / 3, "input_token")) + price(
        settings, Usage(model, words * _TOKENS_PER_WORD + segment_count * 60, "output_token"))
    pictures = segment_count * price(settings, Usage(getattr(providers.pictures, "model", ""), 1, "image"))
    billed = getattr(providers.motion, "billed_seconds", None)
    seconds = billed(segment_seconds) if callable(billed) else segment_seconds
    clips = segment_count * price(settings, Usage(getattr(providers.motion, "model", ""), seconds, "second"))
    narration = price(settings, Usage(getattr(providers.speech, "model", ""), words * _CHARS_PER_WORD, "character"))
    return Estimate(round(script, 4), round(pictures, 4), round(clips, 4), round(narration, 4))


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
            key = (user_id, _today())
            self._totals[key] = self._totals.get(key, 0.0) + cost

    def today(self, user_id: int | None) -> float:
        with self._lock:
            return self._totals.get((user_id, _today()), 0.0)


class RedisSpending:
    """``spend:{user}:{YYYY-MM-DD}`` (UTC), kept two days."""

    def __init__(self, redis, prefix: str = "storyreel:spend") -> None:
        self.redis, self.prefix = redis, prefix

    def add(self, user_id: int | None, cost: float) -> None:
        if cost <= 0:
            return
        key = f"{self.prefix}:{user_id}:{_today()}"
        pipe = self.redis.pipeline()
        pipe.incrbyfloat(key, cost)
        pipe.expire(key, 2 * 86400)
        pipe.execute()

    def today(self, user_id: int | None) -> float:
        value = self.redis.get(f"{self.prefix}:{user_id}:{_today()}")
        return float(value) if value else 0.0


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


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()



#: typical seconds one step takes, by provider name and stage (for the user's ETA)
TYPICAL_SECONDS = {("runway", "pictures"): 10.0, ("runway", "motion"): 60.0,
                   ("local", "pictures"): 0.05, ("local", "motion"): 1.6}


def estimate_seconds(settings: Settings, providers: Providers, segment_count: int, segment_seconds: float) -> float:
    """Roughly how long a job takes: the rounds of pictures and clips the concurrency
    allows, plus script, narration and assembly."""
    from .schedule import limit_for  # the same limits the scheduler will use

    pic = TYPICAL_SECONDS.get((providers.pictures.name, "pictures"), 10.0)
    clip = TYPICAL_SECONDS.get((providers.motion.name, "motion"), 60.0) * max(1.0, segment_seconds / 5)
    pic_rounds = math.ceil(min(5, segment_count) / limit_for(settings, providers.pictures))
    clip_rounds = math.ceil(segment_count / limit_for(settings, providers.motion))
    return 20 + pic_rounds * pic + clip_rounds * clip + 0.05 * segment_count * segment_seconds
