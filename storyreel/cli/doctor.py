"""``storyreel doctor``: every check the processes make at start, one line each (ok, warn
or FAIL), so a deployment can be checked before anything runs. Exit 1 when something
fails; a key's value is never shown."""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError, MediaError
from ..log import configure_logging
from ..media.ffmpeg import ffmpeg_binary
from ..messages import message_for
from ..settings import Settings
from .exits import EXIT_FAILED, CommandFailed
from .startup import WEB_REQUIRED, WORKER_REQUIRED, load_settings, safe_url, setting_value


@click.command("doctor")
def doctor_cmd():
    """Run every check the processes make at start, one line each (ok, warn or FAIL):
    the settings, the provider of each stage, Redis, FFmpeg, the keys (never shown) and
    the OpenAI models' shutdown dates. Exit 1 when something fails."""
    failed = []

    def say(state: str, text: str) -> None:
        if state == "FAIL":
            failed.append(text)
        click.echo(f"{state:<5} {text}")

    try:
        settings = load_settings()
    except CommandFailed as failure:
        say("FAIL", failure.text)
        sys.exit(EXIT_FAILED)
    configure_logging(settings.log_format, "CRITICAL")  # the lines below are the report
    try:
        _doctor(settings, say)
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        say("FAIL", f"the checks stopped: {type(exc).__name__}")
    sys.exit(EXIT_FAILED if failed else 0)


def _doctor(settings: Settings, say) -> None:
    from ..providers.factory import STAGES, choose
    from ..providers.model_guard import ModelGuard, models_in_use

    say("ok", "settings: valid")
    try:
        chosen = choose(settings)
    except ConfigError as exc:
        say("FAIL", f"providers: {exc.context.get('reason') or exc.detail}")
        chosen = {}
    for stage in STAGES if chosen else ():
        say("ok", f"{stage}: {chosen[stage]}" + (" (offline)" if chosen[stage] == "local" else ""))
    for name, value in (("OPENAI_API_KEY", settings.openai_api_key), ("RUNWAY_API_KEY", settings.runway_api_key),
                        ("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token),
                        ("TELEGRAM_WEBHOOK_SECRET", settings.telegram_webhook_secret)):
        say("ok", f"{name}: {'set' if settings.secret(value) else 'not set'}")  # the value is never shown
    # without a bot token this is a command-line install: the bot's needs are only notes
    bot = settings.secret(settings.telegram_bot_token) is not None
    for process, names in (("web", WEB_REQUIRED), ("worker", WORKER_REQUIRED)):
        missing = [n.upper() for n in names if not setting_value(settings, n)]
        if missing:
            say("FAIL" if bot else "warn", f"storyreel {process}: {', '.join(missing)} not set")
        else:
            say("ok", f"storyreel {process}: required settings present")
    if settings.secret(settings.telegram_webhook_secret):
        from ..web import webhook_secret

        try:
            webhook_secret(settings)
        except ConfigError as exc:
            say("FAIL", exc.detail)
    _doctor_redis(settings, say, bot)
    try:
        path = ffmpeg_binary(settings.ffmpeg_binary)
        say("ok", f"ffmpeg: {path} ({_ffmpeg_version(path)})")
    except MediaError as exc:
        say("FAIL", f"ffmpeg: {message_for(exc)}")
    if chosen and not models_in_use(settings):
        say("ok", "OpenAI models: none in use")
    elif chosen:
        states = {"ok": "ok", "warn": "warn", "unchecked": "warn", "retired": "FAIL", "unknown": "FAIL"}
        for status in ModelGuard(settings).check():  # no cache: what the server says now
            say(states[status.status.value], status.line)


def _doctor_redis(settings: Settings, say, needed: bool) -> None:
    import redis as redis_lib

    where = safe_url(settings.redis_url)
    try:
        redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis_lib.RedisError, ValueError) as exc:
        say("FAIL" if needed else "warn", f"redis: cannot reach {where} ({type(exc).__name__})")
    else:
        say("ok", f"redis: reachable at {where}")


def _ffmpeg_version(path: str) -> str:
    import subprocess

    try:
        done = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "version unknown"
    first = done.stdout.splitlines()[0] if done.stdout else ""
    return first.split(" Copyright")[0] or "version unknown"
