"""The one settings object, read once from the environment and a ``.env`` file.

Explicit arguments (CLI flags, tests) override it through ``Settings(**overrides)`` or
``settings.model_copy(update=…)``. Variable names are the field names in upper case
(``SEGMENT_COUNT=12``); ``.env.example`` documents each.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .models import Aspect


#: USD per unit, keyed "model/unit" (list prices, November 2026; override with PRICES)
DEFAULT_PRICES: dict[str, float] = {
    "gen4_image/image": 0.05,          # 720p: 5 credits at $0.01
    "gen4_image_turbo/image": 0.02,
    "gen4_turbo/second": 0.05,          # 5 credits a second
    "gen4.5/second": 0.12,
    "gpt-6-luna/input_token": 0.10e-6,
    "gpt-6-luna/output_token": 0.50e-6,   # reasoning tokens are billed as output
    "gpt-realtime-2.1-mini/input_token": 0.60e-6,        # text in: instructions and the text to read
    "gpt-realtime-2.1-mini/output_token": 2.40e-6,       # text out: the transcript of what was said
    "gpt-realtime-2.1-mini/audio_output_token": 20e-6,   # about 10 audio tokens a second of speech
    "gpt-transcribe/second": 0.0045 / 60,
    # models being shut down, kept so an operator who still pins one sees its cost
    "gpt-4.1-mini/input_token": 0.40e-6,
    "gpt-4.1-mini/output_token": 1.60e-6,
    "gpt-4o-mini-tts/character": 15e-6,  # about $0.015 a minute of speech
    "gpt-4o-mini-transcribe/second": 0.003 / 60,
    "whisper-1/second": 0.006 / 60,
}


#: the visual styles a person chooses from, and the words each adds to every picture
DEFAULT_VISUAL_STYLES: dict[str, str] = {
    "photo": "photorealistic photograph, natural light, sharp detail",
    "cinematic": "cinematic film still, dramatic lighting, shallow depth of field, anamorphic",
    "illustration": "detailed digital illustration, clean lines, rich colour",
    "anime": "anime style, cel shading, vivid colours, expressive characters",
    "watercolor": "watercolor painting, soft washes, paper texture, muted palette",
}

#: how the narrator may sound, and the instruction each gives the speech model
DEFAULT_NARRATION_STYLES: dict[str, str] = {
    "calm": "Calm, warm and unhurried, like a documentary narrator.",
    "lively": "Lively and energetic, with a smile in the voice.",
    "serious": "Serious and measured, like a news anchor.",
}


class Settings(BaseSettings):
    """Every tunable of StoryReel, with the product's defaults (4-minute videos of 48 × 5 s
    segments, 3 calls at once per model, 10-minute approvals, 5 jobs a minute a user…)."""

    model_config = SettingsConfigDict(
        # an empty variable (``MUSIC_DIR=`` as .env.example has it) means "not set", not ""
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # The video
    segment_count: int = Field(48, ge=1, le=500, description="segments per video")
    segment_seconds: float = Field(5.0, gt=0, le=60, description="seconds per segment")
    aspect: Aspect = Field(Aspect.LANDSCAPE, description="16:9, 9:16 or 1:1")
    video_short_side: int = Field(720, ge=90, le=2160, description="short side in pixels (720 → 1280×720)")
    fps: int = Field(24, ge=10, le=60)
    words_per_second: float = Field(2.3, gt=0.5, le=5, description="narration pace used to size scripts")

    # Input
    max_prompt_chars: int = Field(2000, ge=10)
    default_language: str = Field("ru", description="used when a prompt's language is unclear")

    # Media
    ffmpeg_binary: str | None = Field(None, description="path to ffmpeg; else PATH, else imageio-ffmpeg's")
    max_upload_mb: float = Field(50.0, gt=1, description="Bot API upload limit; bigger videos are compressed")
    audio_bitrate_kbps: int = Field(128, ge=32, le=320)
    max_tempo: float = Field(1.35, ge=1.0, le=2.0, description="fastest narration speed-up to fit a segment")
    music_dir: Path | None = Field(None, description="folder of background tracks (mp3/ogg/wav/m4a)")
    music_volume: float = Field(0.25, ge=0, le=1)
    burn_subtitles: bool = False
    music: bool = Field(True, description="background music when MUSIC_DIR has tracks (a person may turn it off)")

    # What a person may choose per video (the bot's /settings; the CLI's flags); these are the defaults
    video_lengths: list[int] = Field(
        default_factory=lambda: [30, 60, 120, 240], description="JSON: the lengths offered, in seconds"
    )
    visual_styles: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_VISUAL_STYLES),
        description='JSON: the visual styles offered, name → words added to every picture; replaces the list',
    )
    visual_style: str = Field("", description="the default visual style (a name of VISUAL_STYLES); empty: none")
    narration_styles: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_NARRATION_STYLES),
        description="JSON: the narration styles offered, name → instruction to the speech model",
    )
    narration_style: str = Field("", description="the default narration style; empty: OPENAI_TTS_STYLE")
    reference: str = Field(
        "first", pattern="^(off|first|user)$",
        description="style and character reference for the pictures: off, first (picture 1 for the rest), "
                    "user (a picture the person sends)",
    )
    fast_pictures: bool = Field(
        False, description="pictures with RUNWAY_FAST_IMAGE_MODEL (needs a reference: picture 1 is made first)"
    )
    motion_budget: int = Field(
        0, ge=0, description="animate only this many segments (the most visual) with the motion provider; "
                             "the rest pan and zoom locally; 0: all"
    )
    max_script_revisions: int = Field(5, ge=0, description="script revisions a person may ask per job")
    max_redos: int = Field(12, ge=0, description="pictures and clips a person may have redone per job")

    # Work
    work_dir: Path = Field(
        Path("work"), description="temporary job folders (the bot's); `storyreel make` uses the user's cache "
                                  "folder unless WORK_DIR is set",
    )
    job_max_age_hours: float = Field(24.0, gt=0)
    min_free_disk_mb: float = Field(1024.0, ge=0, description="new jobs are refused below this much free space")
    # a dead worker's job moves again within JOB_LOCK_SECONDS + RECOVER_SECONDS (its lock
    # is renewed every third of its life, its model slots lapse with it): 15 s by default
    job_lock_seconds: float = Field(
        10.0, ge=2, description="a dead worker's jobs and model slots are taken over after this long"
    )
    recover_seconds: float = Field(5.0, ge=0.5, description="how often beat checks approval deadlines and dead workers")
    broker_visibility_seconds: float = Field(
        120.0, ge=2, description="a task a dead worker took is handed out again after this long"
    )
    concurrency: int = Field(
        3, ge=1, le=32, description="calls at once per model (the bot counts a cloud model's across every worker)"
    )
    retries: int = Field(2, ge=0, le=10, description="extra attempts for a segment after a transient failure")
    local_motion_workers: int = Field(2, ge=1, le=32, description="local clips rendered at once (CPU-bound)")

    # Providers: per stage, "cloud when its key is set, offline otherwise", or
    # named: "pictures=runway,motion=local" (stages: script, pictures, motion, speech,
    # transcription; providers: openai, runway, local)
    providers: str = Field("", description="explicit provider per stage, e.g. pictures=runway,motion=local")
    model_concurrency: dict[str, int] = Field(
        default_factory=dict, description='JSON: calls at once per model, e.g. {"gen4_turbo": 2}; else CONCURRENCY'
    )
    clips_during_review: bool = Field(False, description="keep making clips while the user looks at the clip preview")
    progress_every: int = Field(10, ge=1, description="segments between progress updates")

    # OpenAI. The SDK's own variables: OPENAI_API_KEY, OPENAI_BASE_URL.
    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"))
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description="any OpenAI-compatible server (Ollama, vLLM, OpenRouter…)",
    )
    openai_model: str = Field("gpt-6-luna", description="the model that writes scripts")
    openai_reasoning_effort: str = Field(
        "low", pattern="^(|none|minimal|low|medium|high|xhigh|max)$",
        description="reasoning effort of the script writer; empty = do not send (models that do not reason)",
    )
    openai_script_api: str = Field(
        "responses", pattern="^(responses|chat)$",
        description="responses (OpenAI) or chat (Chat Completions: most compatible servers)",
    )
    openai_transcribe_model: str = Field("gpt-transcribe")
    openai_tts_model: str = Field("gpt-realtime-2.1-mini", description="the narration model")
    openai_tts_voice: str = Field("alloy")
    openai_speech_api: str = Field(
        "auto", pattern="^(auto|realtime|speech)$",
        description="realtime (a WebSocket session) or speech (/v1/audio/speech); auto: realtime for "
                    "models whose name has 'realtime', speech otherwise",
    )
    openai_speech_base_url: str | None = Field(
        None, description="a separate server for /v1/audio/speech (Kokoro, Piper, LocalAI…); empty = OPENAI_BASE_URL"
    )
    openai_speech_api_key: SecretStr | None = Field(None, description="its key; empty = OPENAI_API_KEY")
    openai_tts_style: str = Field("", description='how the narrator sounds, e.g. "calm documentary narrator"')
    narration_max_word_diff: float = Field(
        0.15, ge=0, le=1,
        description="share of words the realtime narrator may say differently before the piece is asked again",
    )
    model_check_hours: float = Field(24.0, gt=0, description="how long a model's shutdown date is cached")
    model_warn_days: int = Field(30, ge=0, description="warn this many days before a configured model shuts down")
    openai_max_retries: int = Field(2, ge=0, le=10, description="the SDK's retries of 408/409/429/5xx (3 attempts)")
    openai_timeout: float = Field(120.0, gt=0, description="seconds per OpenAI request")

    # Runway. The SDK's own variables: RUNWAYML_API_SECRET, RUNWAYML_BASE_URL;
    # RUNWAY_API_KEY, the name most deployments know, is accepted too.
    runway_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("RUNWAY_API_KEY", "RUNWAYML_API_SECRET", "runway_api_key")
    )
    runway_base_url: str | None = Field(None, validation_alias=AliasChoices("RUNWAYML_BASE_URL", "runway_base_url"))
    runway_image_model: str = Field("gen4_image")
    runway_video_model: str = Field("gen4_turbo")
    runway_fast_image_model: str = Field("gen4_image_turbo", description="the cheaper picture model (FAST_PICTURES)")
    runway_max_retries: int = Field(2, ge=0, le=10, description="the SDK's retries of 408/409/429/5xx")
    runway_timeout: float = Field(60.0, gt=0, description="seconds per Runway HTTP request")
    task_timeout: float = Field(300.0, gt=0, description="seconds a generation task may take")
    poll_interval: float = Field(5.0, gt=0, description="seconds between polls of a generation task")
    runway_url_ttl: float = Field(
        3600.0, ge=0, description="seconds a Runway output URL is trusted; older pictures go as data URIs"
    )

    # Cost: USD per unit, keyed "model/unit"; caps in USD, 0 = no cap
    prices: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES), description="JSON price table, merged over the defaults"
    )
    max_cost_per_job: float = Field(0.0, ge=0)
    max_cost_per_user_day: float = Field(0.0, ge=0)

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = Field(
        "https://api.telegram.org", description="Bot API server; a local one lifts the 20/50 MB limits"
    )
    telegram_local_server: bool = Field(
        False, description="TELEGRAM_API_URL is Telegram's local Bot API server: 2000 MB downloads and uploads"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0")
    worker_concurrency: int = Field(8, ge=1, le=64, description="jobs and updates a worker process handles at once")
    approval_timeout: float = Field(600.0, gt=0, description="seconds an approval waits before the job is cancelled")
    approval_ttl: float = Field(900.0, gt=0, description="TTL of approval:{job_id}:{type} keys")
    jobs_per_minute: int = Field(5, ge=1)
    jobs_per_hour: int = Field(20, ge=1)
    active_jobs_per_user: int = Field(1, ge=1)
    max_download_mb: float = Field(20.0, gt=0, description="Bot API download limit (voice notes)")

    # Logs
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

    @field_validator("prices", mode="after")
    @classmethod
    def _merge_prices(cls, value: dict[str, float]) -> dict[str, float]:
        return {**DEFAULT_PRICES, **value}

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @staticmethod
    def secret(value: SecretStr | None) -> str | None:
        """A secret's value, or None when unset or blank."""
        text = value.get_secret_value().strip() if value is not None else ""
        return text or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
