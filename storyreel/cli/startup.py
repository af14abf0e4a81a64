"""The checks a command makes before it starts work: the settings (one line naming the
bad one), the settings each bot process cannot start without, Redis, FFmpeg and the
OpenAI models in use. Each problem is a ``CommandFailed`` with exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import click
import platformdirs
import structlog
from pydantic import SecretStr, ValidationError

from ..errors import MediaError, StoryReelError
from ..log import configure_logging
from ..media.ffmpeg import ffmpeg_binary
from ..messages import message_for
from ..settings import Settings
from .exits import EXIT_INPUT, CommandFailed, failure_for

#: the settings each bot process cannot start without
WEB_REQUIRED = ("telegram_webhook_secret", "telegram_bot_token")
WORKER_REQUIRED = ("telegram_bot_token", "redis_url")

log = structlog.get_logger(__name__)


def load_settings(**overrides) -> Settings:
    """The settings with ``overrides`` (``None`` values ignored); an invalid one is a
    ``CommandFailed`` naming it."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        name = ".".join(str(p) for p in first["loc"]).upper()
        raise CommandFailed(f"invalid setting {name}: {reason}" if name else f"invalid settings: {reason}",
                            EXIT_INPUT) from None


def setting_value(settings: Settings, name: str):
    """The value of the setting ``name``; a secret is unwrapped (``None`` when unset or blank)."""
    value = getattr(settings, name)
    return settings.secret(value) if isinstance(value, SecretStr) else value


def service_settings(*required: str, redis: bool = False, ffmpeg: bool = False) -> Settings:
    """Settings for a long-running process: a missing required setting, an unreachable
    Redis or a missing FFmpeg stops it at once with one line naming what is wrong."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    for name in required:
        if not setting_value(settings, name):
            raise CommandFailed(f"{name.upper()} is not set", EXIT_INPUT)
    if ffmpeg:
        try:
            ffmpeg_binary(settings.ffmpeg_binary)
        except MediaError as exc:
            raise CommandFailed(message_for(exc), EXIT_INPUT) from None
    if redis:
        import redis as redis_lib

        try:
            redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
        except (redis_lib.RedisError, ValueError) as exc:
            raise CommandFailed(f"REDIS_URL: cannot reach Redis at {safe_url(settings.redis_url)} ({exc})",
                                EXIT_INPUT) from None
    return settings


def check_models(settings: Settings, cache, *, echo: bool = False) -> None:
    """The start-up check of the OpenAI models in use: a retired or unknown one stops the
    process with one line (exit 2); one near its shutdown date is a ``model_shutdown_near``
    log event (and, with ``echo``, a line on stderr); an unreachable server stops nothing."""
    from ..providers.model_guard import ModelGuard, Status

    try:
        statuses = ModelGuard(settings, cache=cache).check()
    except StoryReelError as exc:  # a malformed PROVIDERS
        raise failure_for(exc) from None
    for status in statuses:
        if status.blocking:
            raise CommandFailed(status.line, EXIT_INPUT)
    for status in statuses:  # an unchecked model was logged by the guard (model_check_failed)
        if status.status is Status.WARN:
            log.warning("model_shutdown_near", **status.fields())
            if echo:
                click.echo(f"storyreel: warning: {status.line}", err=True)


def model_cache(settings: Settings):
    """The lookups cache of a process that has Redis: shared with every other process."""
    import redis as redis_lib

    from ..providers.model_guard import RedisLookupCache

    return RedisLookupCache(redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3))


def safe_url(url: str) -> str:
    """``url`` without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def command_line_work_dir(settings: Settings) -> Path:
    """Where the command line keeps its job folders: ``WORK_DIR`` when it is set (the
    environment or ``.env``), else ``work`` in the user's cache folder, by the platform's
    convention (``$XDG_CACHE_HOME/storyreel`` or ``~/.cache/storyreel`` on Linux,
    ``~/Library/Caches/storyreel`` on macOS, ``%LOCALAPPDATA%\\storyreel\\Cache`` on
    Windows). The bot's processes keep ``WORK_DIR`` as it is."""
    if "work_dir" in settings.model_fields_set:
        return settings.work_dir
    return platformdirs.user_cache_path("storyreel", appauthor=False) / "work"
