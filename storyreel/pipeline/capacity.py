"""How many provider calls run at once, per model, and so how long a job takes.

Concurrency is per *model* (Runway limits each model separately): one semaphore per
model name, shared by every job in this process. ``MODEL_CONCURRENCY`` names a model's
limit; else the provider's own ``concurrency`` (CPU-bound local motion, a narrator that
speaks one text at a time); else ``CONCURRENCY``.
"""

from __future__ import annotations

import math
import threading

from ..providers.base import Providers
from ..settings import Settings

_slots_lock = threading.Lock()
_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}

#: typical seconds one step takes, by provider name and stage (for the user's ETA)
TYPICAL_SECONDS = {("runway", "pictures"): 10.0, ("runway", "motion"): 60.0,
                   ("local", "pictures"): 0.05, ("local", "motion"): 1.6}


def model_slots(model: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore for ``model`` (one per model and limit)."""
    with _slots_lock:
        key = (model, limit)
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(limit)
        return _slots[key]


def limit_for(settings: Settings, provider) -> int:
    """How many calls to ``provider``'s model may run at once in this process."""
    model = getattr(provider, "model", getattr(provider, "name", "?"))
    if model in settings.model_concurrency:
        return max(1, settings.model_concurrency[model])
    return max(1, getattr(provider, "concurrency", None) or settings.concurrency)


def slots_for(settings: Settings, provider) -> tuple[int, threading.BoundedSemaphore]:
    """``(limit, semaphore)`` for ``provider``'s model."""
    limit = limit_for(settings, provider)
    return limit, model_slots(getattr(provider, "model", getattr(provider, "name", "?")), limit)


def estimate_seconds(settings: Settings, providers: Providers, segment_count: int, segment_seconds: float) -> float:
    """Roughly how long a job takes: the rounds of pictures and clips the concurrency
    allows, plus script, narration and assembly."""
    pic = TYPICAL_SECONDS.get((providers.pictures.name, "pictures"), 10.0)
    clip = TYPICAL_SECONDS.get((providers.motion.name, "motion"), 60.0) * max(1.0, segment_seconds / 5)
    pic_rounds = math.ceil(min(5, segment_count) / limit_for(settings, providers.pictures))
    clip_rounds = math.ceil(segment_count / limit_for(settings, providers.motion))
    return 20 + pic_rounds * pic + clip_rounds * clip + 0.05 * segment_count * segment_seconds
