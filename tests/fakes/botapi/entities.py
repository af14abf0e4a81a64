"""What the fake server knows: the bot, its users and their private chats, the messages
in them, the files, and the callback queries waiting for an answer; and the fake's clock.

``Entities`` is a base of ``FakeTelegram``: its public methods are how a test arranges the
world (``add_chat``, ``block_user``, ``add_file``, ``advance_clock``); the underscored ones
are shared with the update builders and the Bot API methods.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tests.fakes.botapi import media
from tests.fakes.botapi.text import inline_keyboard
from tests.fakes.botapi.wire import BLOCKED, QUERY_TOO_OLD, ApiError, bad

QUERY_AGE_LIMIT = 15 * 60  # seconds a callback query can still be answered


class Entities:
    """Users, chats, messages, files and callback queries of one bot (``token``)."""

    def _init_entities(self, token: str) -> None:
        bot_id = token.split(":")[0]
        self.bot_user = {"id": int(bot_id) if bot_id.isdigit() else 1, "is_bot": True,
                         "first_name": "StoryReel", "username": "storyreel_test_bot"}
        self.files: dict[str, dict] = {}  # file_id -> {data, size, path, unique_id}
        self.commands: dict[str, list] = {}  # language_code ("" for all) -> commands
        self.query_age_limit: float = QUERY_AGE_LIMIT  # a test may shorten it
        self.clock_offset = 0.0  # seconds the fake's clock runs ahead of the real one
        self.local_mode = False  # as ``telegram-bot-api --local``: files may be sent as file:// paths
        self._state = threading.RLock()
        self._users: dict[int, dict] = {}
        self._blocked: set[int] = set()
        self._no_voice: set[int] = set()  # users whose privacy settings refuse voice notes
        self._block_on: dict[int, str] = {}  # user -> the method whose next call to their chat blocks
        self._messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> message
        self._formats: dict[tuple[int, int], tuple] = {}  # (chat_id, message_id) -> formatting of its text
        self._next_message: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._ids = itertools.count(1)
        self._queries: dict[str, dict] = {}  # callback query id -> {"at": created, "answered": bool}

    # ---- what a test arranges ---------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock (epoch seconds): message dates and callback query ages read it."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock ``seconds`` ahead, e.g. past the age a callback query can be answered."""
        with self._state:
            self.clock_offset += seconds

    def add_chat(self, user_id: int, first_name: str | None = None, language_code: str = "ru",
                 username: str | None = None) -> dict:
        """Make ``user_id`` a user in a private chat with the bot (the builders do this too)."""
        with self._state:
            user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                    "first_name": first_name or f"User{user_id}"})
            user["language_code"] = language_code
            if username:
                user["username"] = username
            return dict(user)

    def block_user(self, user_id: int, *, on: str | None = None) -> None:
        """The user blocks the bot: every send and edit to their chat answers 403 from now
        on; with ``on`` (a method name), from the bot's next ``on`` call to their chat, that
        call included (a moment mid-job that does not depend on timing)."""
        with self._state:
            if on is None:
                self._blocked.add(user_id)
            else:
                self._block_on[user_id] = on.lower()

    block = block_user  # the name tests used first

    def forbid_voice_messages(self, user_id: int, forbidden: bool = True) -> None:
        """The user's privacy settings refuse voice notes (a Premium option): ``sendVoice``
        to them answers 400 VOICE_MESSAGES_FORBIDDEN."""
        with self._state:
            (self._no_voice.add if forbidden else self._no_voice.discard)(user_id)

    def unblock_user(self, user_id: int) -> None:
        """The user unblocks the bot."""
        with self._state:
            self._blocked.discard(user_id)
            self._block_on.pop(user_id, None)

    def _block_when_due(self, method: str, params: dict) -> None:
        """A ``block_user(…, on=method)`` takes effect as that call arrives."""
        with self._state:
            chat = params.get("chat_id")
            if self._block_on.get(chat) == method.lower():
                del self._block_on[chat]
                self._blocked.add(chat)

    def add_file(self, file_id: str, data: bytes, file_size: int | None = None,
                 file_path: str | None = None) -> None:
        """A file the bot may ``getFile`` and download; ``file_size`` may claim more than ``data``."""
        with self._state:
            n = next(self._ids)
            self.files[file_id] = {"data": data, "size": len(data) if file_size is None else file_size,
                                   "path": file_path or media.file_path(data, n), "unique_id": f"AgAD{n:06d}"}

    def file_data(self, file_id: str) -> bytes:
        """The bytes behind ``file_id``, uploaded by the bot or added by a test."""
        return self.files[file_id]["data"]

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """The message as the chat shows it now (None if it never was or was deleted)."""
        with self._state:
            msg = self._messages.get((chat_id, message_id))
            return dict(msg) if msg else None

    # ---- chats and messages -----------------------------------------------------------------

    def _chat(self, chat_id: int) -> dict:
        user = self._users.get(chat_id, {})
        chat = {"id": chat_id, "type": "private", "first_name": user.get("first_name", f"User{chat_id}")}
        return {**chat, "username": user["username"]} if "username" in user else chat

    def _target(self, params: dict) -> int:
        """The chat a send goes to: 400 if unknown, 403 if the user blocked the bot."""
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise bad("chat_id is empty")
        if chat_id not in self._users:
            raise bad("chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat_id

    def _new_message(self, chat_id: int, params: dict, formatting: tuple = (), **content) -> dict:
        """A message from the bot, stored; only an inline keyboard shows in it."""
        markup = inline_keyboard(params.get("reply_markup"))
        if markup:
            content["reply_markup"] = markup
        with self._state:
            msg = {"message_id": next(self._next_message[chat_id]), "from": self.bot_user,
                   "chat": self._chat(chat_id), "date": int(self.now()), **content}
            self._messages[(chat_id, msg["message_id"])] = msg
            self._formats[(chat_id, msg["message_id"])] = formatting
            return msg

    def _incoming(self, user_id: int, language_code: str, **content) -> dict:
        """A message from the user ``user_id``, stored."""
        user = self.add_chat(user_id, language_code=language_code)
        with self._state:
            msg = {"message_id": next(self._next_message[user_id]), "from": user, "date": int(self.now()),
                   "chat": self._chat(user_id), **content}
            self._messages[(user_id, msg["message_id"])] = msg
        return msg

    def _stored(self, params: dict) -> tuple[tuple[Any, int], dict | None]:
        """The key and the stored message (None if absent) that ``chat_id``/``message_id`` name."""
        if params.get("message_id") is None:
            raise bad("message identifier is not specified")
        key = (params.get("chat_id"), params["message_id"])
        return key, self._messages.get(key)

    # ---- files --------------------------------------------------------------------------------

    def _file(self, files: dict, name: str, ref: Any) -> tuple[bytes, str | None]:
        """Bytes and known file_id (None if new) of a file parameter: an upload, attach://, a file_id."""
        if ref is None and name in files:
            return files[name], None
        if isinstance(ref, str) and ref.startswith("attach://"):
            if ref[9:] not in files:
                raise bad("can't parse InputMedia: media not found")
            return files[ref[9:]], None
        if ref in (None, ""):
            raise bad(f"there is no {name} in the request")
        if ref in self.files:
            return self.files[ref]["data"], ref
        if str(ref).startswith("file://"):  # a path on the server's disk: a local server only
            if not self.local_mode:
                raise bad("wrong remote file identifier specified: Wrong character in the string")
            path = Path(unquote(urlparse(str(ref)).path))
            if not path.is_file():
                raise bad("wrong file identifier/HTTP URL specified")
            return path.read_bytes(), None
        if str(ref).startswith(("http://", "https://")):
            raise bad("failed to get HTTP URL content")
        raise bad("wrong file identifier/HTTP URL specified")

    def _stored_file(self, kind: str, data: bytes, file_id: str | None, params: dict) -> dict | list:
        """The object (video, photo sizes…) a message shows for a file, stored for getFile."""
        if file_id is None:
            file_id = f"{kind}-{next(self._ids)}"
            self.add_file(file_id, data, file_path=media.file_path(data, next(self._ids), kind))
        entry = self.files[file_id]
        obj = {"file_id": file_id, "file_unique_id": entry["unique_id"], "file_size": entry["size"]}
        if kind == "photo":
            width, height = media.image_size(data)
            return [{**obj, "width": width, "height": height}]
        if kind == "video":  # what the sender says wins over what the server reads
            info = media.video_info(data)
            info.update({k: params[k] for k in ("duration", "width", "height") if params.get(k) is not None})
            return {**obj, **info, "mime_type": "video/mp4"}
        return {**obj, "mime_type": "application/octet-stream"}

    # ---- callback queries ---------------------------------------------------------------------

    def _new_query(self) -> str:
        """A callback query id, answerable once within ``query_age_limit`` seconds."""
        with self._state:
            query_id = str(4_000_000_000_000 + next(self._ids))
            self._queries[query_id] = {"at": self.now(), "answered": False}
            return query_id

    def _check_query(self, query_id: str) -> dict:
        """The query ``query_id``; 400 if unknown, answered already or older than ``query_age_limit``."""
        with self._state:
            query = self._queries.get(query_id)
            if query is None or query["answered"] or self.now() - query["at"] > self.query_age_limit:
                raise bad(QUERY_TOO_OLD)
            return query
