"""The one settings object, read once from the environment and a ``.env`` file.

Explicit arguments (CLI flags, tests) override it through ``Settings(**overrides)`` or
``settings.model_copy(update=…)``. Variable names are the field names in upper case
(``SEGMENT_COUNT=12``); ``.env.example`` documents each.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import Aspect


class Settings(BaseSettings):
    """Every tunable of StoryReel. Defaults follow ../shared/SPEC.md."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # The video (R8)
    segment_count: int = Field(48, ge=1, le=500, description="segments per video")
    segment_seconds: float = Field(5.0, gt=0, le=60, description="seconds per segment")
    aspect: Aspect = Field(Aspect.LANDSCAPE, description="16:9, 9:16 or 1:1")
    video_short_side: int = Field(720, ge=90, le=2160, description="short side in pixels (720 → 1280×720)")
    fps: int = Field(24, ge=10, le=60)
    words_per_second: float = Field(2.3, gt=0.5, le=5, description="narration pace used to size scripts")

    # Input (R3)
    max_prompt_chars: int = Field(2000, ge=10)
    default_language: str = Field("ru", description="used when a prompt's language is unclear")

    # Media (R13, R14, R34)
    ffmpeg_binary: str | None = Field(None, description="path to ffmpeg; else PATH, else imageio-ffmpeg's")
    max_upload_mb: float = Field(50.0, gt=1, description="Bot API upload limit; bigger videos are compressed")
    audio_bitrate_kbps: int = Field(128, ge=32, le=320)
    max_tempo: float = Field(1.35, ge=1.0, le=2.0, description="fastest narration speed-up to fit a segment")
    music_dir: Path | None = Field(None, description="folder of background tracks (mp3/ogg/wav/m4a)")
    music_volume: float = Field(0.25, ge=0, le=1)
    burn_subtitles: bool = False

    # Work (R9, R16)
    work_dir: Path = Field(Path("work"), description="temporary job folders")
    job_max_age_hours: float = Field(24.0, gt=0)
    concurrency: int = Field(3, ge=1, le=32, description="segments made at once per stage")
    retries: int = Field(2, ge=0, le=10, description="extra attempts for a segment after a transient failure")
    local_motion_workers: int = Field(2, ge=1, le=32, description="local clips rendered at once (CPU-bound)")

    # Logs (R27)
    log_format: str = Field("console", pattern="^(console|json)$")
    log_level: str = Field("INFO")

    @model_validator(mode="after")
    def _whole_frames(self) -> "Settings":
        # segments must fall on frame boundaries, or every clip is a fraction of a frame off
        # and the pictures drift away from their narration over the video
        frames = self.segment_seconds * self.fps
        if abs(frames - round(frames)) > 1e-6:
            raise ValueError(
                f"SEGMENT_SECONDS × FPS must be a whole number of frames "
                f"({self.segment_seconds:g} s × {self.fps} fps = {frames:g})"
            )
        return self

    @field_validator("default_language")
    @classmethod
    def _lang(cls, value: str) -> str:
        return value.strip().lower()[:8] or "ru"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
