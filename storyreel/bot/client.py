"""python-telegram-bot's ``Bot``, called from synchronous code (Celery tasks, threads).

PTB's Bot is asynchronous; a worker process keeps one event loop on a thread of its own
and every call is submitted to it. This module is the one layer that retries a Telegram
call: a 429 (``RetryAfter``) waits the ``retry_after`` Telegram asked for and goes on;
a network error or timeout is tried again a few times with a short backoff. Other
Telegram errors (400, 403…) are not retried: the caller decides what they mean.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import structlog
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, InputMediaVideo
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from ..errors import ConfigError
from ..settings import Settings

log = structlog.get_logger(__name__)

_NETWORK_TRIES = 3
_MAX_RETRY_AFTER = 120.0


def buttons(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Inline keyboard from rows of (label, callback data); data must fit 64 bytes."""
    for row in rows:
        for _label, data in row:
            if len(data.encode()) > 64:
                raise ValueError(f"callback data over 64 bytes: {data!r}")
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                 for row in rows])


class TelegramClient:
    """Synchronous facade over one ``telegram.Bot``."""

    def __init__(self, settings: Settings) -> None:
        token = settings.secret(settings.telegram_bot_token)
        if not token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set", code="config",
                              reason="TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")
        api = settings.telegram_api_url.rstrip("/")
        # generous pools: a worker's threads share this one bot
        request = HTTPXRequest(connection_pool_size=32, read_timeout=30, write_timeout=120, connect_timeout=10,
                               media_write_timeout=300)
        self.bot = Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot", request=request,
                       local_mode=False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-loop", daemon=True)
        self._thread.start()
        self.call(self.bot.initialize)

    # ---- plumbing ---------------------------------------------------------------------
    def call(self, fn: Callable[..., Awaitable[Any]], *args, **kwargs) -> Any:
        """Run ``fn(*args, **kwargs)`` on the bot's loop; wait out 429s; retry network errors."""
        network_failures = 0
        while True:
            future = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self._loop)
            try:
                return future.result()
            except RetryAfter as exc:
                wait = min(_seconds(exc.retry_after), _MAX_RETRY_AFTER)
                log.warning("telegram_rate_limited", method=getattr(fn, "__name__", "?"), retry_after=wait)
                time.sleep(wait)
            except (TimedOut, NetworkError) as exc:
                network_failures += 1
                if network_failures >= _NETWORK_TRIES:
                    raise
                log.warning("telegram_network_error", method=getattr(fn, "__name__", "?"), error=str(exc))
                time.sleep(0.5 * 2 ** network_failures)

    def close(self) -> None:
        try:
            self.call(self.bot.shutdown)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ---- the calls the bot makes --------------------------------------------------------
    def send_message(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        msg = self.call(self.bot.send_message, chat_id, text[:4096], reply_markup=markup)
        return msg.message_id

    def edit_message(self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        from telegram.error import BadRequest

        try:
            self.call(self.bot.edit_message_text, text[:4096], chat_id=chat_id, message_id=message_id,
                      reply_markup=markup)
        except BadRequest as exc:  # "message is not modified" and friends: nothing to do
            log.info("telegram_edit_skipped", reason=str(exc))

    def remove_buttons(self, chat_id: int, message_id: int) -> None:
        from telegram.error import BadRequest

        try:
            self.call(self.bot.edit_message_reply_markup, chat_id=chat_id, message_id=message_id, reply_markup=None)
        except BadRequest as exc:
            log.info("telegram_edit_skipped", reason=str(exc))

    def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        from telegram.error import BadRequest

        try:
            self.call(self.bot.answer_callback_query, callback_id, text=text)
        except BadRequest as exc:  # too old to answer: the spinner is gone anyway
            log.info("telegram_callback_too_old", reason=str(exc))

    def send_album(self, chat_id: int, files: list[Path], kind: str) -> None:
        """Pictures (``kind="photo"``) or clips (``"video"``) as one album (2–10 items);
        a single file goes on its own."""
        opened = [Path(f).read_bytes() for f in files]
        if len(opened) == 1:
            send = self.bot.send_photo if kind == "photo" else self.bot.send_video
            self.call(send, chat_id, opened[0])
            return
        make = InputMediaPhoto if kind == "photo" else InputMediaVideo
        media = [make(data, filename=Path(f).name) for data, f in zip(opened, files)]
        self.call(self.bot.send_media_group, chat_id, media)

    def send_video(self, chat_id: int, path: Path, *, duration: float, width: int, height: int, caption: str) -> None:
        with open(path, "rb") as handle:
            self.call(self.bot.send_video, chat_id, handle.read(), duration=round(duration), width=width,
                      height=height, caption=caption[:1024], supports_streaming=True, filename="storyreel.mp4")

    def download(self, file_id: str, out: Path) -> Path:
        tg_file = self.call(self.bot.get_file, file_id)
        self.call(tg_file.download_to_drive, custom_path=out)
        return out

    def set_webhook(self, url: str, secret: str) -> bool:
        return self.call(self.bot.set_webhook, url, secret_token=secret, drop_pending_updates=False,
                         allowed_updates=["message", "edited_message", "callback_query", "channel_post"])

    def delete_webhook(self) -> bool:
        return self.call(self.bot.delete_webhook)

    def get_updates(self, offset: int | None, timeout: int) -> list[dict]:
        updates = self.call(self.bot.get_updates, offset=offset, timeout=timeout,
                            read_timeout=timeout + 10)
        return [u.to_dict() for u in updates]


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
