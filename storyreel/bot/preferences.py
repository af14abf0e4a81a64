"""What a person chose for their next videos (the bot's ``/settings``), kept in Redis.

Every choice defaults to the server's settings, so someone who never opens the menu gets
the server's videos. ``job_fields`` turns the choices into a new job's fields. A stored
choice the operator has since taken away (a voice, a style, a length) reads back as the
default, so a job never asks a provider for something that is no longer offered. The
menu that changes them is ``settings_menu``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import structlog

from .. import redis_keys
from ..models import Aspect, JobOptions
from ..providers.base import Providers
from ..settings import Settings

log = structlog.get_logger(__name__)

#: how long a person's choices are kept after they last changed them
KEEP_SECONDS = 365 * 24 * 3600
REFERENCES = ("off", "first", "user")


@dataclass
class Preferences:
    """One person's choices for their next videos; ``defaults`` gives the server's."""

    aspect: str = Aspect.LANDSCAPE.value
    length: int = 240  # seconds
    voice: str | None = None  # None: the speech provider's first voice
    narration_style: str = ""  # a key of Settings.narration_styles; "": none
    subtitles: bool = False
    music: bool = True
    visual_style: str = ""  # a key of Settings.visual_styles; "": none
    reference: str = "first"  # off | first | user
    reference_file_id: str | None = None  # the Telegram file_id of the person's photo
    fast_pictures: bool = False
    motion_budget: int = 0  # 0: every segment

    @classmethod
    def defaults(cls, settings: Settings) -> "Preferences":
        return cls(aspect=settings.aspect.value, length=default_length(settings),
                   narration_style=settings.narration_style, subtitles=settings.burn_subtitles,
                   music=settings.music, visual_style=settings.visual_style, reference=settings.reference,
                   fast_pictures=settings.fast_pictures, motion_budget=settings.motion_budget)


def default_length(settings: Settings) -> int:
    """The server's video length, in whole seconds."""
    return max(1, round(settings.segment_count * settings.segment_seconds))


def segment_count(prefs: Preferences, settings: Settings) -> int:
    """Segments of a video of the chosen length (at least one)."""
    return max(1, round(prefs.length / settings.segment_seconds))


def speech_voices(providers: Providers) -> tuple[str, ...]:
    """The voices the speech provider offers (the first is its default)."""
    return tuple(getattr(providers.speech, "voices", ()) or ())


class PreferenceStore:
    """Each person's choices in Redis (one hash each, see ``redis_keys.preferences``),
    with the id of their latest menu and the file_ids of the voice samples already made.

    ``voices`` gives the voices on offer now; a stored voice not among them reads back as
    the default (None: voices are not checked)."""

    def __init__(self, redis, settings: Settings, voices: Callable[[], tuple[str, ...]] | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self._voices = voices

    def voices(self) -> tuple[str, ...]:
        return tuple(self._voices()) if self._voices is not None else ()

    def load(self, user_id: int) -> Preferences:
        """The person's choices, each one still on offer (else the default)."""
        raw = self.redis.hget(redis_keys.preferences(user_id), "choices")
        try:
            stored = json.loads(raw) if raw else {}
        except ValueError:
            log.warning("preferences_unreadable", user_id=user_id)
            stored = {}
        return self.checked(stored if isinstance(stored, dict) else {})

    def checked(self, stored: dict[str, Any]) -> Preferences:
        """``Preferences`` from stored values: the unknown dropped, the ones no longer on
        offer (or of the wrong type) replaced by the server's defaults."""
        settings, default = self.settings, Preferences.defaults(self.settings)
        known = {f.name: f for f in fields(Preferences)}
        prefs = replace(default, **{k: v for k, v in stored.items() if k in known})
        lengths = set(settings.video_lengths) | {default.length}
        if prefs.aspect not in {a.value for a in Aspect}:
            prefs.aspect = default.aspect
        if not (isinstance(prefs.length, int) and prefs.length in lengths):
            prefs.length = default.length
        if prefs.voice is not None and self._voices is not None and prefs.voice not in self.voices():
            prefs.voice = None
        if prefs.narration_style and prefs.narration_style not in settings.narration_styles:
            prefs.narration_style = default.narration_style if default.narration_style in \
                settings.narration_styles else ""
        if prefs.visual_style and prefs.visual_style not in settings.visual_styles:
            prefs.visual_style = default.visual_style if default.visual_style in settings.visual_styles else ""
        if prefs.reference not in REFERENCES:
            prefs.reference = default.reference
        if not isinstance(prefs.reference_file_id, (str, type(None))):
            prefs.reference_file_id = None
        if not (isinstance(prefs.motion_budget, int) and prefs.motion_budget >= 0):
            prefs.motion_budget = default.motion_budget
        for flag in ("subtitles", "music", "fast_pictures"):
            if not isinstance(getattr(prefs, flag), bool):
                setattr(prefs, flag, getattr(default, flag))
        return prefs

    def save(self, user_id: int, prefs: Preferences) -> None:
        key = redis_keys.preferences(user_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, "choices", json.dumps(asdict(prefs), ensure_ascii=False))
            pipe.expire(key, KEEP_SECONDS)
            pipe.execute()

    # ---- the person's latest menu message ---------------------------------------------------
    def menu(self, user_id: int) -> tuple[int, int] | None:
        """(chat_id, message_id) of the person's latest ``/settings`` message, if open."""
        raw = self.redis.hget(redis_keys.preferences(user_id), "menu")
        chat, _, message_id = (raw or "").partition(":")
        try:
            return int(chat), int(message_id)
        except ValueError:
            return None

    def set_menu(self, user_id: int, chat_id: int | None, message_id: int | None = None) -> None:
        """Remember the latest menu; ``None``: it was closed."""
        key = redis_keys.preferences(user_id)
        if chat_id is None or message_id is None:
            self.redis.hdel(key, "menu")
            return
        with self.redis.pipeline() as pipe:
            pipe.hset(key, "menu", f"{chat_id}:{message_id}")
            pipe.expire(key, KEEP_SECONDS)
            pipe.execute()

    # ---- voice samples, made once per server ------------------------------------------------
    def sample(self, key: str) -> str | None:
        return self.redis.hget(redis_keys.VOICE_SAMPLES, key)

    def keep_sample(self, key: str, file_id: str) -> None:
        self.redis.hset(redis_keys.VOICE_SAMPLES, key, file_id)

    def forget_sample(self, key: str) -> None:
        self.redis.hdel(redis_keys.VOICE_SAMPLES, key)


def job_fields(prefs: Preferences, settings: Settings) -> dict:
    """The fields of a new job that follow the person's choices: ``segment_count``,
    ``aspect``, ``burn_subtitles``, ``options`` and ``reference_file_id`` (the photo the
    worker fetches when the reference is "user"; its ``reference_image`` stays None)."""
    count = segment_count(prefs, settings)
    file_id = prefs.reference_file_id if prefs.reference == "user" else None
    reference = prefs.reference
    if reference == "user" and not file_id:  # chosen, but no photo came: the server's way
        reference = settings.reference if settings.reference != "user" else "first"
    options = JobOptions(
        voice=prefs.voice, narration_style=prefs.narration_style, music=prefs.music,
        visual_style=prefs.visual_style, reference=reference, reference_image=None,
        fast_pictures=prefs.fast_pictures,
        motion_budget=prefs.motion_budget if prefs.motion_budget < count else 0,
    )
    return {"segment_count": count, "aspect": Aspect(prefs.aspect), "burn_subtitles": prefs.subtitles,
            "options": options, "reference_file_id": file_id}
