"""Accepting a job: everything that can refuse it is checked before anything is spent.

The prompt (empty, too long), the video's length against the upload limit, the free
disk space, and the estimated cost against the per-job and per-user-day caps.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import structlog

from ..errors import InputError, MediaError
from ..lang import detect_language
from ..media.assemble import video_bitrate_for
from ..media.files import new_job_id
from ..models import Aspect, Job, JobOptions
from ..providers.base import Providers
from ..settings import Settings
from .ledger import Spending, check_caps, estimate

log = structlog.get_logger(__name__)


def admit(settings: Settings, providers: Providers, spending: Spending, prompt: str, *,
          language: str | None = None, job_id: str | None = None, **fields) -> Job:
    """A new job for ``prompt`` (no folder yet), or the ``InputError`` that refuses it.

    ``job_id`` may be derived from what asked for the job (a Telegram message), so that
    asking twice makes one job; ``fields`` go to the job as they are (user, chat…), and
    may choose its shape and length (``aspect``, ``segment_count``, ``burn_subtitles``)
    and ``options`` (``JobOptions``), the server's settings being the defaults.
    """
    segment_count = int(fields.pop("segment_count", None) or settings.segment_count)
    aspect = Aspect(fields.pop("aspect", None) or settings.aspect)
    burn = fields.pop("burn_subtitles", None)
    options = fields.pop("options", None) or default_options(settings)
    text = " ".join((prompt or "").split())
    if not text:
        raise InputError("empty prompt", code="empty_prompt")
    if len(text) > settings.max_prompt_chars:
        raise InputError("prompt too long", code="prompt_too_long", limit=settings.max_prompt_chars)
    try:  # a video too long for the upload limit is refused before anything is made
        video_bitrate_for(segment_count * settings.segment_seconds, settings.max_upload_bytes,
                          settings.audio_bitrate_kbps * 1000)
    except MediaError as exc:
        raise InputError(str(exc), code="video_too_long") from exc
    check_disk(settings)
    expected = estimate(settings, providers, segment_count=segment_count, segment_seconds=settings.segment_seconds,
                        prompt_chars=len(text), options=options).total
    check_caps(settings, spending, fields.get("user_id"), expected)
    now = time.time()
    return Job(
        job_id=job_id or new_job_id(),
        prompt=text,
        language=language or detect_language(text, settings.default_language),
        segment_count=segment_count,
        segment_seconds=settings.segment_seconds,
        aspect=aspect,
        created_at=now,
        updated_at=now,
        burn_subtitles=settings.burn_subtitles if burn is None else bool(burn),
        estimate=expected,
        options=options,
        **fields,
    )


def default_options(settings: Settings) -> JobOptions:
    """The choices a job gets when the person made none: the server's settings."""
    return JobOptions(narration_style=settings.narration_style, music=settings.music,
                      visual_style=settings.visual_style, reference=settings.reference,
                      fast_pictures=settings.fast_pictures, motion_budget=settings.motion_budget)


def check_disk(settings: Settings) -> None:
    """Refuse new jobs when the work folder's disk is nearly full (a job needs room)."""
    need = settings.min_free_disk_mb
    if not need:
        return
    root = Path(settings.work_dir)
    probe_dir = next((p for p in (root, *root.resolve().parents) if p.exists()), Path("."))
    free_mb = shutil.disk_usage(probe_dir).free / 1_048_576
    if free_mb < need:
        log.error("disk_low", free_mb=round(free_mb), need_mb=need)
        raise InputError(f"only {free_mb:.0f} MB free in {root}", code="disk_full")
