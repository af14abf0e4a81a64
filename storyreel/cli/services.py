"""The long-running processes of the bot: ``storyreel web``, ``worker``, ``beat``,
``bot --polling``, and the one-off ``set-webhook``.

Each checks what it needs before it starts (``startup``): a missing setting, an
unreachable Redis, a missing FFmpeg or a retired model ends it at once with one line on
stderr and exit 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .exits import one_line_errors
from .startup import WEB_REQUIRED, WORKER_REQUIRED, check_models, model_cache, service_settings


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("PORT", 8000)), type=int, help="default: $PORT or 8000")
@click.option("--workers", default=2, show_default=True, type=int)
@one_line_errors
def web(host, port, workers):
    """The web process: Telegram's webhook and /health (gunicorn)."""
    settings = service_settings(*WEB_REQUIRED, redis=True)
    check_models(settings, model_cache(settings))
    argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", "8",
            "--timeout", "300", "--graceful-timeout", "30", "-b", f"{host}:{port}", "storyreel.web:create_app()"]
    os.execv(sys.executable, argv)


@click.command()
@click.option("--concurrency", "-c", type=int, help="steps at once (default: WORKER_CONCURRENCY)")
@one_line_errors
def worker(concurrency):
    """A Celery worker: updates and job steps."""
    settings = service_settings(*WORKER_REQUIRED, redis=True, ffmpeg=True)
    check_models(settings, model_cache(settings))
    from ..worker import JOBS_QUEUE, UPDATES_QUEUE, get_app

    get_app().worker_main(["worker", "-P", "threads", "-c", str(concurrency or settings.worker_concurrency),
                            "-Q", f"{UPDATES_QUEUE},{JOBS_QUEUE}", "-l", settings.log_level.lower(),
                            "--without-gossip", "--without-mingle"])


@click.command()
@one_line_errors
def beat():
    """Celery beat: the hourly cleanup of job folders left by crashes."""
    settings = service_settings("redis_url", redis=True)
    from ..worker import get_app

    schedule = Path(settings.work_dir).resolve().parent / "celerybeat-schedule"  # beside the work folder
    get_app().start(["beat", "-l", settings.log_level.lower(), "-s", str(schedule)])


@click.command("set-webhook")
@one_line_errors
def set_webhook():
    """Register TELEGRAM_WEBHOOK_URL (with its secret) with Telegram."""
    settings = service_settings("telegram_bot_token", "telegram_webhook_url", "telegram_webhook_secret")
    from ..bot.client import TelegramClient

    client = TelegramClient(settings)
    try:
        client.set_webhook(settings.telegram_webhook_url, settings.secret(settings.telegram_webhook_secret))
    finally:
        client.close()
    click.echo(f"webhook set: {settings.telegram_webhook_url}")


@click.command()
@click.option("--polling", is_flag=True, required=True, help="Fetch updates with getUpdates (no public URL).")
@one_line_errors
def bot(polling):
    """The bot without a public URL: poll Telegram and hand updates to the workers
    (run `storyreel worker` beside it)."""
    settings = service_settings("telegram_bot_token", "redis_url", redis=True)
    from ..bot.client import TelegramClient
    from ..worker import enqueue_update

    client = TelegramClient(settings)
    client.delete_webhook()  # getUpdates is refused while a webhook is set
    click.echo("polling for updates; Ctrl-C stops", err=True)
    offset = None
    try:
        while True:
            for update in client.get_updates(offset, timeout=25):
                enqueue_update(update)
                offset = update["update_id"] + 1
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
