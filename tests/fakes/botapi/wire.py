"""The Bot API on the wire: the ``{"ok": …}`` envelope, error answers, how a request's
parameters are decoded, and the record of one call (``BotCall``).

A method raises ``ApiError`` (``bad(…)`` for a 400) and the server turns it into the
error envelope with ``error_reply``; ``parse_request`` reads the query string, a form,
JSON or multipart/form-data and gives every parameter its type, as the server does.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from tests.fakes.server import Reply, Request

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_UPLOAD = 50 * 1024 * 1024  # a bigger request gets 413
MAX_TEXT, MAX_CAPTION, MAX_CALLBACK_DATA = 4096, 1024, 64

NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message")
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: BLOCKED, 404: "Not Found", 409: "Conflict",
                413: "Request Entity Too Large", 500: "Internal Server Error", 502: "Bad Gateway"}

# on the wire every parameter is a string; the server reads each one as its type
_JSON = {"reply_markup", "media", "allowed_updates", "commands", "entities", "caption_entities", "scope",
         "link_preview_options", "reply_parameters"}
_INT = {"message_id", "duration", "width", "height", "offset", "limit", "timeout", "max_connections",
        "cache_time", "message_thread_id", "reply_to_message_id"}
_BOOL = {"supports_streaming", "show_alert", "drop_pending_updates", "disable_notification", "protect_content",
         "has_spoiler", "disable_content_type_detection"}


class ApiError(Exception):
    """An error answer; a method raises it and the server turns it into the envelope."""

    def __init__(self, status: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def bad(description: str) -> ApiError:
    """A 400, worded as the server words it ("Bad Request: " and the reason)."""
    return ApiError(400, f"Bad Request: {description}")


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

    @property
    def error_code(self) -> int | None:
        """The ``error_code`` answered; None for a success."""
        return None if self.ok else self.status

    @property
    def description(self) -> str | None:
        """The error ``description`` answered; None for a success."""
        if self.ok:
            return None
        return self.result.get("description") if isinstance(self.result, dict) else None


class FailedCall(NamedTuple):
    """A call answered with an error: compares equal to a plain
    ``(method, error_code, description)`` tuple."""

    method: str
    error_code: int
    description: str


class CallLog(list):
    """``FakeServer.calls`` (the raw ``Request`` list) made callable:
    ``fake.calls(method, chat_id)`` selects from the decoded ``BotCall`` records."""

    def __init__(self, select: Callable[..., list[BotCall]]) -> None:
        super().__init__()
        self._select = select

    def __call__(self, method: str | None = None, chat_id: int | str | None = None) -> list[BotCall]:
        return self._select(method, chat_id)


def error_reply(err: ApiError) -> Reply:
    """The error envelope for ``err``, with ``Retry-After`` for a 429."""
    body = {"ok": False, "error_code": err.status, "description": err.description}
    headers = {}
    if err.parameters:
        body["parameters"] = err.parameters
        if "retry_after" in err.parameters:
            headers["Retry-After"] = str(err.parameters["retry_after"])
    return Reply.json(body, err.status, headers)


def parse_request(request: Request) -> tuple[dict, dict[str, bytes]]:
    """A request's parameters (each read as its type) and uploaded files."""
    raw: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    files: dict[str, bytes] = {}
    mimetype, options = parse_options_header(request.headers.get("content-type", ""))
    if request.body and mimetype == "application/json":
        try:
            raw.update(json.loads(request.body))
        except ValueError as exc:
            raise bad("can't parse JSON encoded request") from exc
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
            raise bad(f"can't parse {what} JSON object") from exc
    if name in _INT or name in ("chat_id", "user_id"):
        try:
            return int(value)
        except ValueError:
            if name in _INT:
                raise bad(f"invalid {name} specified") from None
            return value  # "@channelname"
    if name in _BOOL:
        return value.lower() in ("true", "1")
    return value
