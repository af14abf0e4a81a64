"""A loopback Telegram Bot API server that speaks the real wire format.

``FakeTelegram`` answers ``/bot<token>/<method>`` (method names in any case, GET or POST,
parameters in the query string, a form, JSON or multipart/form-data) and serves
``/file/bot<token>/<file_path>`` downloads the way api.telegram.org does: the
``{"ok": …, "result": …}`` envelope; errors as ``{"ok": false, "error_code",
"description", "parameters": {"retry_after"}}``, worded as the server words them; the
20 MB download and 50 MB upload limits; 64-byte callback data; webhook and getUpdates
excluding each other. Point python-telegram-bot at it:
``telegram.Bot(token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")``.

It is strict where a bot can go wrong, as the real server is: an edit to the same content
and keyboard is "message is not modified"; editing or deleting a message that is not there
is "message to edit/delete not found"; a callback query answered twice, or more than
``query_age_limit`` seconds (15 minutes) after the press by the fake's clock
(``advance_clock``), is "query is too old…"; a user who blocked the bot
(``block_user``) makes every send and edit to their chat 403 "Forbidden: bot was blocked
by the user" (``block_user(user, on=method)``: from the bot's next ``method`` call there).

``fake.sent`` records one ``BotCall`` per Bot API call with its outcome; ``fake.calls``,
``texts``, ``wait_for``, ``failed_calls`` and ``assert_no_failed_calls`` read it. The
builders (``text_update``, ``voice_update``, ``callback_update``…) make the Update JSON
Telegram sends; ``deliver`` posts one to a webhook with the secret header, and
``push_update`` queues one for ``getUpdates``. ``sample_png``/``sample_mp4``/
``sample_voice`` make real media (Pillow, FFmpeg) once per process.

The parts live in ``tests.fakes.botapi`` (wire format, media, text, entities, updates,
methods, call log); this module puts them together, serves HTTP, and re-exports the names
tests import. Run alone: ``python -m tests.fakes.telegram_server --port N [--token T]``.

Where it departs from the real server: private chats only (channel posts exist as
updates); ``sendMediaGroup`` wants the documented 2–10 items where the real server also
takes one; files by URL are refused (there is no network here); entity parsing catches
what bots get wrong, not the whole grammar. With ``local_mode`` set, as
``telegram-bot-api --local``, a file may be sent as a ``file:///absolute/path`` the
server reads from disk (no upload limit on it); otherwise such a path is refused.

Retries: none here. The fake never retries and never waits except for ``latency`` and
long polling. Answering the faults it injects (``fail_next``, ``flood_limit``) is the
bot's job; that is what they are for.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from urllib.parse import unquote

from tests.fakes.botapi.calls import CallRecords
from tests.fakes.botapi.entities import QUERY_AGE_LIMIT
from tests.fakes.botapi.media import sample_mp4, sample_png, sample_voice
from tests.fakes.botapi.methods import BotMethods
from tests.fakes.botapi.updates import Updates
from tests.fakes.botapi.wire import (
    MAX_CALLBACK_DATA,
    MAX_CAPTION,
    MAX_DOWNLOAD,
    MAX_TEXT,
    MAX_UPLOAD,
    ApiError,
    BotCall,
    FailedCall,
    error_reply,
    parse_request,
)
from tests.fakes.server import FakeServer, Reply, Request, serve_forever_cli

__all__ = [
    "MAX_CALLBACK_DATA", "MAX_CAPTION", "MAX_DOWNLOAD", "MAX_TEXT", "MAX_UPLOAD", "QUERY_AGE_LIMIT",
    "ApiError", "BotCall", "FailedCall", "FakeTelegram", "sample_mp4", "sample_png", "sample_voice",
]


class FakeTelegram(FakeServer, CallRecords, BotMethods, Updates):
    """The Bot API of one bot (``token``) on 127.0.0.1; see the module docstring."""

    def __init__(self, token: str = "123:ABC", port: int = 0, *, latency: float = 0.0) -> None:
        super().__init__(port)
        self.token = token
        self.latency = latency  # seconds added to every Bot API answer
        self.max_upload = MAX_UPLOAD  # a test may lower it rather than send 50 MB
        self._init_entities(token)
        self._init_updates()
        self._init_calls()
        self._methods = {n[5:].lower(): n[5:] for n in dir(self) if n.startswith("_api_")}

    def handle(self, request: Request) -> Reply:
        path = unquote(request.path)  # PTB quotes file URLs: the token's ":" comes as %3A
        if path.startswith("/file/bot"):
            return self._download(path[len("/file/bot"):])
        if not path.startswith("/bot"):
            return error_reply(ApiError(404, "Not Found"))
        token, _, method = path[len("/bot"):].partition("/")
        name = self._methods.get(method.lower())
        params, files, status, body, headers = {}, {}, 200, None, {}
        try:
            if token != self.token:  # a token that cannot even be parsed is 404, a wrong one 401
                wellformed = re.fullmatch(r"\d+:[\w-]+", token) is not None
                raise ApiError(401, "Unauthorized") if wellformed else ApiError(404, "Not Found")
            if name is None:
                raise ApiError(404, "Not Found")
            if self.latency:
                time.sleep(self.latency)
            if len(request.body) > self.max_upload:
                raise ApiError(413, "Request Entity Too Large")
            params, files = parse_request(request)
            self._block_when_due(name, params)
            fault = self._fault(name, params)
            if fault:
                raise fault
            result = getattr(self, f"_api_{name}")(params, files)
            body = {"ok": True, "result": result}
            if isinstance(result, tuple):  # (result, description), as the webhook methods answer
                body = {"ok": True, "result": result[0], "description": result[1]}
        except ApiError as err:
            reply = error_reply(err)
            status, body, headers = err.status, json.loads(reply.body), reply.headers
        payload = json.dumps(body)  # now: a later edit of a stored message must not change it
        recorded = json.loads(payload)
        self._record(BotCall(name or method, params, files, self.now(), status,
                             recorded["result"] if status == 200 else recorded))
        return Reply(status, payload.encode(), {"Content-Type": "application/json", **headers})

    def _download(self, rest: str) -> Reply:
        token, _, file_path = rest.partition("/")
        with self._state:
            found = next((f for f in self.files.values() if f["path"] == file_path), None)
        if token != self.token:
            return error_reply(ApiError(401, "Unauthorized"))
        if found is None:
            return error_reply(ApiError(404, "Not Found"))
        return Reply(200, found["data"], {"Content-Type": "application/octet-stream"})

    def stop(self) -> None:
        self._wake_pollers()
        super().stop()


def _cli_factory(port: int, argv: list[str]) -> FakeTelegram:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    return FakeTelegram(args.token, port, latency=args.latency)


if __name__ == "__main__":
    serve_forever_cli(_cli_factory, "A fake Telegram Bot API server on 127.0.0.1")
