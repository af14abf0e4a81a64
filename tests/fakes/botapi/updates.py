"""Updates: the JSON Telegram sends a bot, and the two ways it gets there.

The builders (``text_update``, ``voice_update``, ``callback_update``…) make one Update
each, storing the user's message as the server would. ``deliver`` posts an update to a
webhook with the secret header; ``push_update`` queues it for ``getUpdates`` (long
polling included). ``setWebhook``, ``deleteWebhook`` and ``getWebhookInfo`` live here too:
a webhook and ``getUpdates`` exclude each other.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request

from tests.fakes.botapi.entities import Entities
from tests.fakes.botapi.wire import ApiError, bad


class Updates(Entities):
    """The update builders, the ``getUpdates`` queue and the webhook of ``FakeTelegram``."""

    def _init_updates(self) -> None:
        self.webhook: dict = {"url": ""}
        self.webhook_requires_https = True  # as Telegram; a test may relax it
        self._updates = threading.Condition(self._state)
        self._queue: list[dict] = []
        self._update_ids = itertools.count(100_000_001)
        self._closing = False

    # ---- getting updates to the bot -------------------------------------------------------------

    def push_update(self, update: dict) -> None:
        """Queue ``update`` for ``getUpdates``; long polls waiting now answer with it."""
        with self._updates:
            self._queue.append(update)
            self._updates.notify_all()

    def deliver(self, webhook_url: str, update: dict, secret: str | None = None, timeout: float = 10.0) -> int:
        """POST ``update`` to a webhook as Telegram does; the HTTP status it answered."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        req = urllib.request.Request(webhook_url, json.dumps(update).encode(), headers, method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
        try:
            with opener.open(req, timeout=timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def _wake_pollers(self) -> None:
        """Long polls answer now instead of holding up shutdown."""
        with self._updates:
            self._closing = True
            self._updates.notify_all()

    # ---- update builders: the JSON Telegram sends ---------------------------------------------

    def _update(self, **body) -> dict:
        # a snapshot: later edits of a stored message must not change an update already made
        return json.loads(json.dumps({"update_id": next(self._update_ids), **body}))

    def _media(self, file_id: str, data: bytes | None, file_size: int, **fields) -> dict:
        if data is not None:
            self.add_file(file_id, data, file_size)
        unique = self.files[file_id]["unique_id"] if file_id in self.files else f"AgAD{next(self._ids):06d}"
        return {"file_id": file_id, "file_unique_id": unique, **fields, "file_size": file_size}

    def text_update(self, user_id: int, text: str, language_code: str = "ru") -> dict:
        """The user sends ``text``."""
        return self._update(message=self._incoming(user_id, language_code, text=text))

    def command_update(self, user_id: int, command: str = "/start", language_code: str = "ru") -> dict:
        """The user sends a command (``/start``, ``/cancel now``…), with its bot_command entity."""
        entity = {"type": "bot_command", "offset": 0, "length": len(command.split()[0])}
        return self._update(message=self._incoming(user_id, language_code, text=command, entities=[entity]))

    def voice_update(self, user_id: int, file_id: str, duration: int, file_size: int,
                     mime_type: str = "audio/ogg", language_code: str = "ru", data: bytes | None = None) -> dict:
        """A voice note; with ``data`` the file is added for ``getFile`` too."""
        voice = self._media(file_id, data, file_size, duration=duration, mime_type=mime_type)
        return self._update(message=self._incoming(user_id, language_code, voice=voice))

    def audio_update(self, user_id: int, file_id: str, duration: int, file_size: int,
                     mime_type: str = "audio/mpeg", language_code: str = "ru", data: bytes | None = None,
                     file_name: str = "audio.mp3") -> dict:
        """An audio file; with ``data`` the file is added for ``getFile`` too."""
        audio = self._media(file_id, data, file_size, duration=duration, mime_type=mime_type, file_name=file_name)
        return self._update(message=self._incoming(user_id, language_code, audio=audio))

    def document_update(self, user_id: int, file_id: str = "doc-1", file_size: int = 1000,
                        file_name: str = "notes.txt", language_code: str = "ru") -> dict:
        """A document (a text file unless told)."""
        document = self._media(file_id, None, file_size, file_name=file_name, mime_type="text/plain")
        return self._update(message=self._incoming(user_id, language_code, document=document))

    def photo_update(self, user_id: int, caption: str | None = None, language_code: str = "ru") -> dict:
        """A photo in two sizes, with an optional caption."""
        sizes = [self._media(f"photo-{next(self._ids)}", None, w * h // 10, width=w, height=h)
                 for w, h in ((90, 51), (320, 180))]
        extra = {"caption": caption} if caption else {}
        return self._update(message=self._incoming(user_id, language_code, photo=sizes, **extra))

    def sticker_update(self, user_id: int, language_code: str = "ru") -> dict:
        """A sticker."""
        sticker = self._media(f"sticker-{next(self._ids)}", None, 20_000, type="regular", width=512, height=512,
                              is_animated=False, is_video=False, emoji="👍")
        return self._update(message=self._incoming(user_id, language_code, sticker=sticker))

    def edited_message_update(self, user_id: int, text: str, message_id: int | None = None,
                              language_code: str = "ru") -> dict:
        """The user edits their message ``message_id`` (or a new one) to ``text``."""
        original = self._messages.get((user_id, message_id)) or self._incoming(user_id, language_code, text=text)
        return self._update(edited_message={**original, "text": text, "edit_date": int(self.now())})

    def channel_post_update(self, chat_id: int = -1001234567890, text: str = "news",
                            title: str = "A channel") -> dict:
        """A post in a channel the bot is in."""
        chat = {"id": chat_id, "type": "channel", "title": title}
        with self._state:
            post = {"message_id": next(self._next_message[chat_id]), "sender_chat": chat,
                    "date": int(self.now()), "chat": chat, "text": text}
        return self._update(channel_post=post)

    def callback_update(self, user_id: int, data: str, message_id: int, language_code: str = "ru") -> dict:
        """A press of a button on the bot's message ``message_id`` (as stored, buttons and
        all); a message the fake never saw comes as Telegram's inaccessible one (date 0).
        The query can be answered once, within ``query_age_limit`` seconds of the fake's clock."""
        user = self.add_chat(user_id, language_code=language_code)
        query_id = self._new_query()
        with self._state:
            message = self._messages.get((user_id, message_id)) or \
                {"chat": self._chat(user_id), "message_id": message_id, "date": 0}
        return self._update(callback_query={"id": query_id, "from": user, "message": message,
                                            "chat_instance": str(-7_000_000_000 - user_id), "data": data})

    # ---- the Bot API methods of updates and webhooks -------------------------------------------

    def _api_setWebhook(self, params, files):
        url = params.get("url") or ""
        if not url:  # an empty URL removes the webhook
            return self._api_deleteWebhook(params, files)
        if self.webhook_requires_https and not url.startswith("https://"):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad("secret token contains unallowed characters")
        with self._updates:
            if params.get("drop_pending_updates"):
                self._queue.clear()
            self.webhook = {"url": url, "secret_token": secret, "allowed_updates": params.get("allowed_updates"),
                            "max_connections": params.get("max_connections") or 40}
        return True, "Webhook was set"

    def _api_deleteWebhook(self, params, files):
        with self._updates:
            was_set = bool(self.webhook["url"])
            if params.get("drop_pending_updates"):
                self._queue.clear()
            self.webhook = {"url": ""}
        return True, "Webhook was deleted" if was_set else "Webhook is already deleted"

    def _api_getWebhookInfo(self, params, files):
        with self._updates:
            hook = self.webhook
            info = {"url": hook["url"], "has_custom_certificate": False, "pending_update_count": len(self._queue)}
            if hook["url"]:
                info["max_connections"] = hook["max_connections"]
                if hook.get("allowed_updates"):
                    info["allowed_updates"] = hook["allowed_updates"]
        return info

    def _api_getUpdates(self, params, files):
        if self.webhook["url"]:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset, limit = params.get("offset") or 0, min(max(params.get("limit") or 100, 1), 100)
        allowed = set(params.get("allowed_updates") or ())
        deadline = time.monotonic() + max(params.get("timeout") or 0, 0)
        with self._updates:
            if offset > 0:  # confirms, and so forgets, every update before it
                self._queue = [u for u in self._queue if u["update_id"] >= offset]
            elif offset < 0:
                self._queue = self._queue[offset:]
            while True:
                ready = [u for u in self._queue if not allowed or (set(u) - {"update_id"}) & allowed]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closing:
                    return ready[:limit]
                self._updates.wait(remaining)
