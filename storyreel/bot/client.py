"""python-telegram-bot's ``Bot``, called from synchronous code (Celery tasks, threads).

PTB's Bot is asynchronous; a worker process keeps one event loop on a thread of its own
and every call is submitted to it. ``TelegramClient.call`` is the one place that decides
what a failed Telegram call means, and the one layer that retries one:

    RetryAfter (429)                 waited out (``retry_after``, capped), then sent again
    TimedOut, other NetworkError     tried again, 3 tries in all, 1 s and 2 s apart (5xx too)
    BadRequest (400)                 never retried: the request itself is wrong. The ones
                                     that mean "nothing to do" (``nothing_to_do``: not
                                     modified, message to edit/delete not found, query too
                                     old) are logged at debug and swallowed by the calls
                                     whose caller allows it (edits, button removal, answers)
    Forbidden (403)                  raised as ``UserBlocked``: the user blocked the bot (or
                                     can no longer be written to); never retried
    anything else (401, 409…)        raised as PTB raised it

With ``TELEGRAM_LOCAL_SERVER`` (Telegram's ``telegram-bot-api --local``) the bot runs in
PTB's local mode: the final video goes as its ``file://`` path, which the server reads
from disk, instead of up to 2 GB read into memory and uploaded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import structlog
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, InputMediaVideo
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from ..errors import ConfigError, UserBlocked
from ..settings import Settings

log = structlog.get_logger(__name__)

_NETWORK_TRIES = 3
_MAX_RETRY_AFTER = 120.0
#: 400s whose request asked for what is already so: the edit changes nothing, the message
#: (or the query) is gone. Worded as Telegram words them, matched ignoring case.
_NOTHING_TO_DO = ("message is not modified", "message to edit not found", "message to delete not found",
                  "query is too old", "query id is invalid")
#: a NetworkError (no 400) that another try cannot fix
_NOT_RETRIED = ("request entity too large",)


def nothing_to_do(exc: BaseException) -> bool:
    """True for a ``BadRequest`` that means the call had nothing left to do."""
    return isinstance(exc, BadRequest) and any(p in str(exc).lower() for p in _NOTHING_TO_DO)


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
        self.local_mode = settings.telegram_local_server
        # generous pools: a worker's threads share this one bot
        request = HTTPXRequest(connection_pool_size=32, read_timeout=30, write_timeout=120, connect_timeout=10,
                               media_write_timeout=300)
        self.bot = Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot", request=request,
                       local_mode=self.local_mode)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-loop", daemon=True)
        self._thread.start()
        self.call(self.bot.initialize)

    # ---- plumbing ---------------------------------------------------------------------
    def call(self, fn: Callable[..., Awaitable[Any]], *args, **kwargs) -> Any:
        """Run ``fn(*args, **kwargs)`` on the bot's loop, by the policy in the module
        docstring: 429s waited out, network errors tried again, a 400 raised at once, a 403
        raised as ``UserBlocked``."""
        method = getattr(fn, "__name__", "?")
        network_failures = 0
        while True:
            future = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self._loop)
            try:
                return future.result()
            except RetryAfter as exc:
                wait = min(_seconds(exc.retry_after), _MAX_RETRY_AFTER)
                log.warning("telegram_rate_limited", method=method, retry_after=wait)
                time.sleep(wait)
            except Forbidden as exc:
                chat_id = kwargs.get("chat_id", args[0] if args and isinstance(args[0], int) else None)
                raise UserBlocked(str(exc), chat_id=chat_id, method=method) from exc
            except BadRequest:
                raise
            except NetworkError as exc:  # TimedOut included
                network_failures += 1
                if network_failures >= _NETWORK_TRIES or any(p in str(exc).lower() for p in _NOT_RETRIED):
                    raise
                log.warning("telegram_network_error", method=method, error=str(exc), attempt=network_failures)
                time.sleep(0.5 * 2 ** network_failures)

    def _quiet(self, fn: Callable[..., Awaitable[Any]], *args, **kwargs) -> bool:
        """``call``, where a "nothing to do" 400 is no failure: False when it came."""
        try:
            self.call(fn, *args, **kwargs)
        except BadRequest as exc:
            if not nothing_to_do(exc):
                raise
            log.debug("telegram_nothing_to_do", method=getattr(fn, "__name__", "?"), reason=str(exc))
            return False
        return True

    def close(self) -> None:
        try:
            self.call(self.bot.shutdown)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ---- the calls the bot makes --------------------------------------------------------
    def send_message(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        msg = self.call(self.bot.send_message, chat_id, text[:4096], reply_markup=markup)
        return msg.message_id

    def edit_message(self, chat_id: int, message_id: int, text: str,
                     markup: InlineKeyboardMarkup | None = None) -> bool:
        """Edit a message's text; False when there was nothing to do (same text, message gone)."""
        return self._quiet(self.bot.edit_message_text, text[:4096], chat_id=chat_id, message_id=message_id,
                           reply_markup=markup)

    def remove_buttons(self, chat_id: int, message_id: int) -> bool:
        """Take a message's inline keyboard away; False when there was nothing to do."""
        return self._quiet(self.bot.edit_message_reply_markup, chat_id=chat_id, message_id=message_id,
                           reply_markup=None)

    def answer_callback(self, callback_id: str, text: str | None = None) -> bool:
        """Answer a button press; False when the query was too old to answer (the
        spinner is gone by then anyway)."""
        return self._quiet(self.bot.answer_callback_query, callback_id, text=text)

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

    def send_photo(self, chat_id: int, path: Path, caption: str | None = None,
                   markup: InlineKeyboardMarkup | None = None) -> int:
        """One picture (uploaded), with an optional caption and keyboard; its message id."""
        path = Path(path)
        msg = self.call(self.bot.send_photo, chat_id, path.read_bytes(), caption=caption[:1024] if caption else None,
                        reply_markup=markup, filename=path.name)
        return msg.message_id

    def send_voice(self, chat_id: int, voice: Path | str, caption: str | None = None,
                   duration: float | None = None) -> str | None:
        """A voice note: a ``Path`` (OGG/Opus) is uploaded, a ``str`` is the file_id of one
        sent before. The voice note's file_id, to send it again without uploading; None when
        Telegram kept the file as a document (not OGG/Opus, MP3 or M4A)."""
        if isinstance(voice, Path):
            data, filename = voice.read_bytes(), voice.name
        else:
            data, filename = voice, None
        msg = self.call(self.bot.send_voice, chat_id, data, caption=caption[:1024] if caption else None,
                        duration=round(duration) if duration else None, filename=filename)
        return msg.voice.file_id if msg.voice is not None else None

    def send_video(self, chat_id: int, path: Path, *, duration: float, width: int, height: int, caption: str) -> None:
        """The finished video: by its local path to a local Bot API server (PTB's local mode
        sends ``file:///…``, read there from disk), uploaded otherwise."""
        path = Path(path).resolve()
        video = path.as_uri() if self.local_mode else path.read_bytes()
        self.call(self.bot.send_video, chat_id, video, duration=round(duration), width=width, height=height,
                  caption=caption[:1024], supports_streaming=True, filename="storyreel.mp4")

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
