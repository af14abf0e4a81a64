"""A loopback Telegram Bot API server that speaks the real wire format.

``FakeTelegram`` answers ``/bot<token>/<method>`` (method names in any case, GET or POST,
parameters in the query string, a form, JSON or multipart/form-data) and serves
``/file/bot<token>/<file_path>`` downloads the way api.telegram.org does: the
``{"ok": …, "result": …}`` envelope; errors as ``{"ok": false, "error_code",
"description", "parameters": {"retry_after"}}``, worded as the server words them; the
20 MB download and 50 MB upload limits; 64-byte callback data; "message is not
modified"; webhook and getUpdates excluding each other. Point python-telegram-bot at it:
``telegram.Bot(token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")``.

``fake.sent`` records one ``BotCall`` per Bot API call (failed ones too, with their
``status``); ``fake.calls(method, chat_id)``, ``texts`` and ``wait_for`` read it. The
builders (``text_update``, ``voice_update``, ``callback_update``…) make the Update JSON
Telegram sends; ``deliver`` posts one to a webhook with the secret header, and
``push_update`` queues one for ``getUpdates``. ``sample_png``/``sample_mp4``/
``sample_voice`` make real media (Pillow, FFmpeg) once per process.

Where it departs from the real server: private chats only (channel posts exist as
updates); ``sendMediaGroup`` wants the documented 2–10 items where the real server also
takes one; files by URL are refused (there is no network here); entity parsing catches
what bots get wrong (unescaped MarkdownV2 characters, unknown or unclosed HTML tags),
not the whole grammar.

Retries: none here. The fake never retries and never waits except for ``latency`` and
long polling. Answering the faults it injects (``fail_next``, ``flood_limit``) is the
bot's job; that is what they are for.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import re
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from tests.fakes.server import FakeServer, Reply, Request, serve_forever_cli

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_UPLOAD = 50 * 1024 * 1024  # a bigger request gets 413
MAX_TEXT, MAX_CAPTION, MAX_CALLBACK_DATA = 4096, 1024, 64
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                 "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
# on the wire every parameter is a string; the server reads each one as its type
_JSON = {"reply_markup", "media", "allowed_updates", "commands", "entities", "caption_entities", "scope",
         "link_preview_options", "reply_parameters"}
_INT = {"message_id", "duration", "width", "height", "offset", "limit", "timeout", "max_connections",
        "cache_time", "message_thread_id", "reply_to_message_id"}
_BOOL = {"supports_streaming", "show_alert", "drop_pending_updates", "disable_notification", "protect_content",
         "has_spoiler", "disable_content_type_detection"}
_NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                 "as a current content and reply markup of the message")
_BLOCKED = "Forbidden: bot was blocked by the user"
_DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: _BLOCKED, 404: "Not Found", 409: "Conflict",
                 413: "Request Entity Too Large", 500: "Internal Server Error", 502: "Bad Gateway"}


@dataclass
class BotCall:
    """One Bot API call as the fake answered it; ``params`` decoded (ints, bools, dicts)."""

    method: str  # the canonical spelling, e.g. "sendMessage"
    params: dict
    files: dict[str, bytes]  # multipart part name -> bytes
    at: float
    status: int = 200
    result: Any = None  # the result answered, or the error envelope

    @property
    def ok(self) -> bool:
        return self.status == 200


class _CallLog(list):
    """``FakeServer.calls`` (the raw ``Request`` list) made callable:
    ``fake.calls(method, chat_id)`` selects from the decoded ``BotCall`` records."""

    def __init__(self, select: Callable[..., list[BotCall]]) -> None:
        super().__init__()
        self._select = select

    def __call__(self, method: str | None = None, chat_id: int | str | None = None) -> list[BotCall]:
        return self._select(method, chat_id)


class ApiError(Exception):
    """An error answer; a method raises it and ``handle`` turns it into the envelope."""

    def __init__(self, status: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# ---- real media, made once per process ---------------------------------------------------

@lru_cache(maxsize=32)
def sample_png(width: int = 160, height: int = 90, color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A real PNG: one colour with a lighter band."""
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(img).rectangle([0, height // 3, width, height // 2], fill=tuple(min(c + 80, 255) for c in color))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _ffmpeg(args: list[str], suffix: str) -> bytes:
    from storyreel.media.ffmpeg import ffmpeg_binary
    with tempfile.TemporaryDirectory() as tmp:  # a file, not a pipe: MP4 wants its index up front
        out = Path(tmp) / f"out{suffix}"
        subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", *args, str(out)],
                       check=True, capture_output=True, timeout=60)
        return out.read_bytes()


@lru_cache(maxsize=8)
def sample_mp4(seconds: float = 1.0, width: int = 160, height: int = 90) -> bytes:
    """A real H.264/AAC MP4 (test pattern and a tone) of ``seconds``."""
    return _ffmpeg(["-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=10:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    "-movflags", "+faststart"], ".mp4")


@lru_cache(maxsize=8)
def sample_voice(seconds: float = 1.0) -> bytes:
    """A real OGG/Opus voice note of ``seconds``, as Telegram clients record them."""
    return _ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}", "-ac", "1",
                    "-c:a", "libopus", "-b:a", "24k"], ".ogg")


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (OSError, ValueError) as exc:  # not an image Pillow knows
        raise _bad("IMAGE_PROCESS_FAILED") from exc


def _video_info(data: bytes) -> dict:
    """What the server reads from an uploaded video; zeros if it is not one."""
    import av
    try:
        with av.open(io.BytesIO(data)) as container:
            codec = container.streams.video[0].codec_context
            return {"duration": round((container.duration or 0) / av.time_base),
                    "width": codec.width, "height": codec.height}
    except (av.FFmpegError, OSError, ValueError, IndexError):  # Telegram shows it without metadata
        return {"duration": 0, "width": 0, "height": 0}


_KINDS = (  # magic bytes -> the folder and extension api.telegram.org uses
    (lambda d: d[:4] == b"OggS", "voice", ".oga"),
    (lambda d: d[:8] == b"\x89PNG\r\n\x1a\n", "photos", ".png"),
    (lambda d: d[:3] == b"\xff\xd8\xff", "photos", ".jpg"),
    (lambda d: d[4:8] == b"ftyp", "videos", ".mp4"),
    (lambda d: d[:3] == b"ID3" or d[:2] == b"\xff\xfb", "music", ".mp3"),
)
_FOLDERS = {"photo": "photos", "video": "videos", "document": "documents", "audio": "music", "voice": "voice"}


def _file_path(data: bytes, n: int, kind: str | None = None) -> str:
    folder, ext = next(((f, e) for test, f, e in _KINDS if test(data)), ("documents", ""))
    return f"{_FOLDERS.get(kind, folder)}/file_{n}{ext}"


# ---- text entities: what the server cannot parse ------------------------------------------

_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
              "tg-spoiler", "tg-emoji", "blockquote"}
_MD_RESERVED = set("#+-={}.!()")  # never markup on their own, so always escaped


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.plain: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in _HTML_TAGS:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset {self._at()}')
        self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            expected = f'"</{self.open[-1]}>"' if self.open else "no end tag"
            raise _bad(f"can't parse entities: Unmatched end tag at byte offset {self._at()}, "
                       f'expected {expected}, found "</{tag}>"')
        self.open.pop()

    def handle_data(self, data):
        self.plain.append(data)

    def _at(self) -> int:
        line, col = self.getpos()
        lines = self.rawdata.splitlines(keepends=True)
        return len("".join(lines[:line - 1]).encode()) + len(lines[line - 1][:col].encode()) if lines else 0


def _plain_text(text: str, parse_mode: str | None) -> str:
    """The text the user sees; 400 where Telegram cannot parse the markup."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        parser = _HtmlText()
        parser.feed(text)
        parser.close()
        if parser.open:
            raise _bad(f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{parser.open[-1]}"')
        return "".join(parser.plain)
    if mode != "markdownv2":
        return text
    out, i, in_code = [], 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            out.append(text[i + 1:i + 2])
            i += 1
        elif ch == "`":
            in_code = not in_code
        elif in_code:
            out.append(ch)
        elif ch == "(" and text[i - 1:i] == "]" and ")" in text[i:]:
            i = text.index(")", i)  # a link's URL is not shown
        elif ch in _MD_RESERVED:
            raise _bad(f"can't parse entities: Character '{ch}' is reserved and must be escaped "
                       "with the preceding '\\'")
        elif ch not in "*_~|[]>":
            out.append(ch)
        i += 1
    if in_code:
        raise _bad(f"can't parse entities: Can't find end of Code entity at byte offset "
                   f"{len(text[:text.rfind('`')].encode())}")
    return "".join(out)


# ---- the server ---------------------------------------------------------------------------

class FakeTelegram(FakeServer):
    """The Bot API of one bot (``token``) on 127.0.0.1; see the module docstring."""

    def __init__(self, token: str = "123:ABC", port: int = 0, *, latency: float = 0.0) -> None:
        super().__init__(port)
        self.calls = _CallLog(self._select_calls)  # still the base class's raw request log
        self.token = token
        self.latency = latency  # seconds added to every Bot API answer
        self.flood_limit: tuple[int, float] | None = None  # (sends, seconds) per chat, then 429
        self.webhook_requires_https = True  # as Telegram; a test may relax it
        self.max_upload = MAX_UPLOAD  # a test may lower it rather than send 50 MB
        bot_id = token.split(":")[0]
        self.bot_user = {"id": int(bot_id) if bot_id.isdigit() else 1, "is_bot": True,
                         "first_name": "StoryReel", "username": "storyreel_test_bot"}
        self.sent: list[BotCall] = []
        self.files: dict[str, dict] = {}  # file_id -> {data, size, path, unique_id}
        self.webhook: dict = {"url": ""}
        self.commands: dict[str, list] = {}  # language_code ("" for all) -> commands
        self._state = threading.RLock()
        self._updates = threading.Condition(self._state)
        self._queue: list[dict] = []
        self._users: dict[int, dict] = {}
        self._blocked: set[int] = set()
        self._messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> message
        self._next_message: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(100_000_001)
        self._queries: dict[str, bool] = {}  # callback query id -> answered yet
        self._faults: dict[str, deque] = defaultdict(deque)
        self._flood: dict[int, deque] = defaultdict(deque)
        self._closing = False
        self._methods = {n[5:].lower(): n[5:] for n in dir(self) if n.startswith("_api_")}

    # ---- what a test arranges ---------------------------------------------------------------

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

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sending to them answers 403 from now on."""
        self._blocked.add(user_id)

    def add_file(self, file_id: str, data: bytes, file_size: int | None = None,
                 file_path: str | None = None) -> None:
        """A file the bot may ``getFile`` and download; ``file_size`` may claim more than ``data``."""
        with self._state:
            n = next(self._ids)
            self.files[file_id] = {"data": data, "size": len(data) if file_size is None else file_size,
                                   "path": file_path or _file_path(data, n), "unique_id": f"AgAD{n:06d}"}

    def file_data(self, file_id: str) -> bytes:
        """The bytes behind ``file_id``, uploaded by the bot or added by a test."""
        return self.files[file_id]["data"]

    def fail_next(self, method: str, count: int = 1, retry_after: int = 1, *, error_code: int = 429,
                  description: str | None = None) -> None:
        """Answer the next ``count`` calls of ``method`` with an error, 429 unless told."""
        self._faults[method.lower()].extend([(error_code, retry_after, description)] * count)

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

    # ---- what the bot did ---------------------------------------------------------------------

    def _select_calls(self, method: str | None = None, chat_id: int | str | None = None) -> list[BotCall]:
        with self._lock:
            calls = list(self.sent)
        if method:
            calls = [c for c in calls if c.method.lower() == method.lower()]
        if chat_id is not None:
            calls = [c for c in calls if str(c.params.get("chat_id")) == str(chat_id)]
        return calls

    def texts(self, chat_id: int | str) -> list[str]:
        """Texts of the successful sendMessage/editMessageText calls to ``chat_id``, in order."""
        return [c.params.get("text", "") for c in self.calls(chat_id=chat_id)
                if c.ok and c.method in ("sendMessage", "editMessageText")]

    def wait_for(self, predicate: Callable[[BotCall], bool] | str, timeout: float = 5.0) -> BotCall:
        """The first call matching ``predicate`` (or a method name), polling until ``timeout``;
        AssertionError listing every recorded call if none comes."""
        if isinstance(predicate, str):
            name = predicate.lower()
            predicate = lambda call: call.method.lower() == name
        deadline = time.monotonic() + timeout
        while True:
            found = next((c for c in self.calls() if predicate(c)), None)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                listing = "\n".join(f"  {c.method} {c.status} {c.params}" for c in self.calls()) or "  (none)"
                raise AssertionError(f"no matching Bot API call within {timeout}s; calls:\n{listing}")
            time.sleep(0.01)

    # ---- update builders: the JSON Telegram sends ---------------------------------------------

    def _update(self, **body) -> dict:
        # a snapshot: later edits of a stored message must not change an update already made
        return json.loads(json.dumps({"update_id": next(self._update_ids), **body}))

    def _incoming(self, user_id: int, language_code: str, **content) -> dict:
        user = self.add_chat(user_id, language_code=language_code)
        with self._state:
            msg = {"message_id": next(self._next_message[user_id]), "from": user, "date": int(time.time()),
                   "chat": self._chat(user_id), **content}
            self._messages[(user_id, msg["message_id"])] = msg
        return msg

    def _media(self, file_id: str, data: bytes | None, file_size: int, **fields) -> dict:
        if data is not None:
            self.add_file(file_id, data, file_size)
        unique = self.files[file_id]["unique_id"] if file_id in self.files else f"AgAD{next(self._ids):06d}"
        return {"file_id": file_id, "file_unique_id": unique, **fields, "file_size": file_size}

    def text_update(self, user_id: int, text: str, language_code: str = "ru") -> dict:
        return self._update(message=self._incoming(user_id, language_code, text=text))

    def command_update(self, user_id: int, command: str = "/start", language_code: str = "ru") -> dict:
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
        audio = self._media(file_id, data, file_size, duration=duration, mime_type=mime_type, file_name=file_name)
        return self._update(message=self._incoming(user_id, language_code, audio=audio))

    def document_update(self, user_id: int, file_id: str = "doc-1", file_size: int = 1000,
                        file_name: str = "notes.txt", language_code: str = "ru") -> dict:
        document = self._media(file_id, None, file_size, file_name=file_name, mime_type="text/plain")
        return self._update(message=self._incoming(user_id, language_code, document=document))

    def photo_update(self, user_id: int, caption: str | None = None, language_code: str = "ru") -> dict:
        sizes = [self._media(f"photo-{next(self._ids)}", None, w * h // 10, width=w, height=h)
                 for w, h in ((90, 51), (320, 180))]
        extra = {"caption": caption} if caption else {}
        return self._update(message=self._incoming(user_id, language_code, photo=sizes, **extra))

    def sticker_update(self, user_id: int, language_code: str = "ru") -> dict:
        sticker = self._media(f"sticker-{next(self._ids)}", None, 20_000, type="regular", width=512, height=512,
                              is_animated=False, is_video=False, emoji="👍")
        return self._update(message=self._incoming(user_id, language_code, sticker=sticker))

    def edited_message_update(self, user_id: int, text: str, message_id: int | None = None,
                              language_code: str = "ru") -> dict:
        """The user edits their message ``message_id`` (or a new one) to ``text``."""
        original = self._messages.get((user_id, message_id)) or self._incoming(user_id, language_code, text=text)
        return self._update(edited_message={**original, "text": text, "edit_date": int(time.time())})

    def channel_post_update(self, chat_id: int = -1001234567890, text: str = "news",
                            title: str = "A channel") -> dict:
        chat = {"id": chat_id, "type": "channel", "title": title}
        with self._state:
            post = {"message_id": next(self._next_message[chat_id]), "sender_chat": chat,
                    "date": int(time.time()), "chat": chat, "text": text}
        return self._update(channel_post=post)

    def callback_update(self, user_id: int, data: str, message_id: int, language_code: str = "ru") -> dict:
        """A press of a button on the bot's message ``message_id`` (as stored, buttons and
        all); a message the fake never saw comes as Telegram's inaccessible one (date 0)."""
        user = self.add_chat(user_id, language_code=language_code)
        with self._state:
            query_id = str(4_000_000_000_000 + next(self._ids))
            self._queries[query_id] = False
            message = self._messages.get((user_id, message_id)) or \
                {"chat": self._chat(user_id), "message_id": message_id, "date": 0}
        return self._update(callback_query={"id": query_id, "from": user, "message": message,
                                            "chat_instance": str(-7_000_000_000 - user_id), "data": data})

    # ---- HTTP ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = unquote(request.path)  # PTB quotes file URLs: the token's ":" comes as %3A
        if path.startswith("/file/bot"):
            token, _, file_path = path[len("/file/bot"):].partition("/")
            with self._state:
                found = next((f for f in self.files.values() if f["path"] == file_path), None)
            if token != self.token:
                return _error_reply(ApiError(401, "Unauthorized"))
            if found is None:
                return _error_reply(ApiError(404, "Not Found"))
            return Reply(200, found["data"], {"Content-Type": "application/octet-stream"})
        if not path.startswith("/bot"):
            return _error_reply(ApiError(404, "Not Found"))
        token, _, method = path[len("/bot"):].partition("/")
        if token != self.token:  # a token that cannot even be parsed is 404, a wrong one 401
            wellformed = re.fullmatch(r"\d+:[\w-]+", token) is not None
            return _error_reply(ApiError(401, "Unauthorized") if wellformed else ApiError(404, "Not Found"))
        name = self._methods.get(method.lower())
        if name is None:
            return _error_reply(ApiError(404, "Not Found"))
        if self.latency:
            time.sleep(self.latency)
        params, files, headers = {}, {}, {}
        try:
            if len(request.body) > self.max_upload:
                raise ApiError(413, "Request Entity Too Large")
            params, files = _parse(request)
            fault = self._fault(name, params)
            if fault:
                raise fault
            result = getattr(self, f"_api_{name}")(params, files)
            status, body = 200, {"ok": True, "result": result}
            if isinstance(result, tuple):  # (result, description), as the webhook methods answer
                body = {"ok": True, "result": result[0], "description": result[1]}
        except ApiError as err:
            reply = _error_reply(err)
            status, body, headers = err.status, json.loads(reply.body), reply.headers
        payload = json.dumps(body)  # now: a later edit of a stored message must not change it
        recorded = json.loads(payload)
        with self._lock:
            self.sent.append(BotCall(name, params, files, time.time(), status,
                                     recorded["result"] if status == 200 else recorded))
        return Reply(status, payload.encode(), {"Content-Type": "application/json", **headers})

    def _fault(self, name: str, params: dict) -> ApiError | None:
        with self._state:
            queue = self._faults.get(name.lower())
            if queue:
                code, retry_after, description = queue.popleft()
                if code == 429:
                    return ApiError(429, description or f"Too Many Requests: retry after {retry_after}",
                                    {"retry_after": retry_after})
                return ApiError(code, description or _DESCRIPTIONS.get(code, "Internal Server Error"))
            chat = params.get("chat_id")
            if self.flood_limit and isinstance(chat, int) and name.startswith(("send", "edit")):
                count, window = self.flood_limit
                stamps, now = self._flood[chat], time.monotonic()
                while stamps and now - stamps[0] >= window:
                    stamps.popleft()
                if len(stamps) >= count:
                    wait = max(1, math.ceil(window - (now - stamps[0])))
                    return ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
                stamps.append(now)
        return None

    def stop(self) -> None:
        with self._updates:
            self._closing = True
            self._updates.notify_all()  # long polls answer now instead of holding up shutdown
        super().stop()

    # ---- helpers of the methods ---------------------------------------------------------------

    def _chat(self, chat_id: int) -> dict:
        user = self._users.get(chat_id, {})
        chat = {"id": chat_id, "type": "private", "first_name": user.get("first_name", f"User{chat_id}")}
        return {**chat, "username": user["username"]} if "username" in user else chat

    def _target(self, params: dict) -> int:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _bad("chat_id is empty")
        if chat_id not in self._users:
            raise _bad("chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, _BLOCKED)
        return chat_id

    def _new_message(self, chat_id: int, params: dict, **content) -> dict:
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            content["reply_markup"] = markup  # only inline keyboards show in a message
        with self._state:
            msg = {"message_id": next(self._next_message[chat_id]), "from": self.bot_user,
                   "chat": self._chat(chat_id), "date": int(time.time()), **content}
            self._messages[(chat_id, msg["message_id"])] = msg
            return msg

    def _caption(self, params: dict) -> dict:
        caption = params.get("caption")
        if caption and len(caption) > MAX_CAPTION:
            raise _bad("message caption is too long")
        return {"caption": _plain_text(caption, params.get("parse_mode"))} if caption else {}

    def _file(self, files: dict, name: str, ref: Any) -> tuple[bytes, str | None]:
        """Bytes and known file_id (None if new) of a file parameter: an upload, attach://, a file_id."""
        if ref is None and name in files:
            return files[name], None
        if isinstance(ref, str) and ref.startswith("attach://"):
            if ref[9:] not in files:
                raise _bad("can't parse InputMedia: media not found")
            return files[ref[9:]], None
        if ref in (None, ""):
            raise _bad(f"there is no {name} in the request")
        if ref in self.files:
            return self.files[ref]["data"], ref
        if str(ref).startswith(("http://", "https://")):
            raise _bad("failed to get HTTP URL content")
        raise _bad("wrong file identifier/HTTP URL specified")

    def _stored_file(self, kind: str, data: bytes, file_id: str | None, params: dict) -> dict:
        """The object (video, photo sizes…) a message shows for a file, stored for getFile."""
        if file_id is None:
            file_id = f"{kind}-{next(self._ids)}"
            self.add_file(file_id, data, file_path=_file_path(data, next(self._ids), kind))
        entry = self.files[file_id]
        obj = {"file_id": file_id, "file_unique_id": entry["unique_id"], "file_size": entry["size"]}
        if kind == "photo":
            width, height = _image_size(data)
            return [{**obj, "width": width, "height": height}]
        if kind == "video":  # what the sender says wins over what the server reads
            info = _video_info(data)
            info.update({k: params[k] for k in ("duration", "width", "height") if params.get(k) is not None})
            return {**obj, **info, "mime_type": "video/mp4"}
        return {**obj, "mime_type": "application/octet-stream"}

    def _send_file(self, kind: str, params: dict, files: dict) -> dict:
        chat_id = self._target(params)
        data, file_id = self._file(files, kind, params.get(kind))
        _check_markup(params.get("reply_markup"))
        caption = self._caption(params)
        return self._new_message(chat_id, params, **{kind: self._stored_file(kind, data, file_id, params)}, **caption)

    def _stored(self, params: dict) -> tuple[tuple[int, int], dict | None]:
        if params.get("message_id") is None:
            raise _bad("message identifier is not specified")
        key = (params.get("chat_id"), params["message_id"])
        return key, self._messages.get(key)

    def _edit(self, params: dict, **content) -> dict | bool:
        _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        with self._state:
            _, msg = self._stored(params)
            if msg is None:
                raise _bad("message to edit not found")
            if msg["from"]["id"] != self.bot_user["id"]:
                raise _bad("message can't be edited")
            markup = params.get("reply_markup")
            markup = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
            if all(msg.get(k) == v for k, v in content.items()) and msg.get("reply_markup") == markup:
                raise _bad(_NOT_MODIFIED)
            msg.pop("reply_markup", None)  # an edit without a keyboard takes the old one away
            msg.update(content, edit_date=int(time.time()), **({"reply_markup": markup} if markup else {}))
            return msg

    # ---- Bot API methods: the name after _api_ is the canonical spelling --------------------------

    def _api_getMe(self, params, files):
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def _api_sendMessage(self, params, files):
        chat_id = self._target(params)
        text = _text(params, "message is too long")
        _check_markup(params.get("reply_markup"))
        return self._new_message(chat_id, params, text=text)

    def _api_editMessageText(self, params, files):
        return self._edit(params, text=_text(params, "MESSAGE_TOO_LONG"))

    def _api_editMessageReplyMarkup(self, params, files):
        return self._edit(params)

    def _api_deleteMessage(self, params, files):
        with self._state:
            key, msg = self._stored(params)
            if msg is None:
                raise _bad("message to delete not found")
            del self._messages[key]
        return True

    def _api_sendChatAction(self, params, files):
        self._target(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _api_answerCallbackQuery(self, params, files):
        query_id = str(params.get("callback_query_id") or "")
        with self._state:
            if self._queries.get(query_id, True):  # unknown, or answered already
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            if len(params.get("text") or "") > 200:
                raise _bad("MESSAGE_TOO_LONG")
            self._queries[query_id] = True
        return True

    def _api_sendPhoto(self, params, files):
        return self._send_file("photo", params, files)

    def _api_sendVideo(self, params, files):
        return self._send_file("video", params, files)

    def _api_sendDocument(self, params, files):
        return self._send_file("document", params, files)

    def _api_sendMediaGroup(self, params, files):
        chat_id = self._target(params)
        media = params.get("media")
        if media is None:
            raise _bad('parameter "media" is required')
        if not isinstance(media, list) or not media:
            raise _bad("there are no messages to send")
        if len(media) > 10:
            raise _bad("too many messages to send as an album")
        if len(media) < 2:
            raise _bad("media group must include 2-10 items")
        kinds = {item.get("type") for item in media}
        for kind in ("document", "audio"):
            if kind in kinds and len(kinds) > 1:
                raise _bad(f"{kind} can't be mixed with other media types")
        contents = []
        for item in media:
            kind = item.get("type")
            if kind not in ("photo", "video", "document", "audio"):
                raise _bad(f'can\'t parse InputMedia: type "{kind}" can\'t be used in sendMediaGroup')
            data, file_id = self._file(files, "media", item.get("media"))
            contents.append({kind: self._stored_file(kind, data, file_id, item), **self._caption(item)})
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        return [self._new_message(chat_id, {}, media_group_id=group_id, **c) for c in contents]

    def _api_getFile(self, params, files):
        entry = self.files.get(params.get("file_id") or "")
        if entry is None:
            raise _bad("invalid file_id")
        if entry["size"] > MAX_DOWNLOAD:
            raise _bad("file is too big")
        return {"file_id": params["file_id"], "file_unique_id": entry["unique_id"], "file_size": entry["size"],
                "file_path": entry["path"]}

    def _api_setWebhook(self, params, files):
        url = params.get("url") or ""
        if not url:  # an empty URL removes the webhook
            return self._api_deleteWebhook(params, files)
        if self.webhook_requires_https and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
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

    def _api_setMyCommands(self, params, files):
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        for cmd in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(cmd.get("description") or "") <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[params.get("language_code") or ""] = commands
        return True

    def _api_getMyCommands(self, params, files):
        return self.commands.get(params.get("language_code") or "", [])

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


def _text(params: dict, too_long: str) -> str:
    text = params.get("text") or ""
    if not text.strip():
        raise _bad("message text is empty")
    if len(text) > MAX_TEXT:
        raise _bad(too_long)
    return _plain_text(text, params.get("parse_mode"))


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise _bad("object expected as reply markup")
    for button in itertools.chain.from_iterable(markup.get("inline_keyboard", [])):
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
            raise _bad("BUTTON_DATA_INVALID")
        if not set(button) - {"text", "style", "icon_custom_emoji_id"}:
            raise _bad("text buttons are unallowed in the inline keyboard")


def _error_reply(err: ApiError) -> Reply:
    body = {"ok": False, "error_code": err.status, "description": err.description}
    headers = {}
    if err.parameters:
        body["parameters"] = err.parameters
        if "retry_after" in err.parameters:
            headers["Retry-After"] = str(err.parameters["retry_after"])
    return Reply.json(body, err.status, headers)


def _parse(request: Request) -> tuple[dict, dict[str, bytes]]:
    """A request's parameters (each read as its type) and uploaded files."""
    raw: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    files: dict[str, bytes] = {}
    mimetype, options = parse_options_header(request.headers.get("content-type", ""))
    if request.body and mimetype == "application/json":
        try:
            raw.update(json.loads(request.body))
        except ValueError as exc:
            raise _bad("can't parse JSON encoded request") from exc
    elif request.body and mimetype == "application/x-www-form-urlencoded":
        raw.update({k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()})
    elif request.body and mimetype == "multipart/form-data":
        _, form, uploads = FormDataParser(silent=False).parse(io.BytesIO(request.body), mimetype,
                                                              len(request.body), options)
        raw.update(form.to_dict())
        files = {name: storage.read() for name, storage in uploads.items()}
    return {name: _decode(name, value) for name, value in raw.items()}, files


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):  # a JSON body already has its types
        return value
    if name in _JSON:
        try:
            return json.loads(value)
        except ValueError as exc:
            what = "reply keyboard markup" if name == "reply_markup" else name.replace("_", " ")
            raise _bad(f"can't parse {what} JSON object") from exc
    if name in _INT or name in ("chat_id", "user_id"):
        try:
            return int(value)
        except ValueError:
            if name in _INT:
                raise _bad(f"invalid {name} specified") from None
            return value  # "@channelname"
    if name in _BOOL:
        return value.lower() in ("true", "1")
    return value


def _cli_factory(port: int, argv: list[str]) -> FakeTelegram:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    return FakeTelegram(args.token, port, latency=args.latency)


if __name__ == "__main__":
    serve_forever_cli(_cli_factory, "A fake Telegram Bot API server on 127.0.0.1")
