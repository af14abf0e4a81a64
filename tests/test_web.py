"""The webhook process on a real port, against the real Redis (database 13).

Most tests serve ``create_app`` with werkzeug in a thread and replace ``enqueue`` (the
request for a chat's drain) with a recorder, and read the update from its chat's inbox
in Redis; the fuzz posts through Flask's test client. Two run the real thing under
gunicorn in a subprocess (the deploy command's factory-call syntax, the real Celery
publish): one reads the Celery messages out of the ``updates`` list in Redis, one fuzzes.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
import structlog
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from werkzeug.serving import make_server

from storyreel import redis_keys as keys
from storyreel.bot.inbox import Inbox
from storyreel.errors import ConfigError
from storyreel.log import configure_logging
from storyreel.settings import Settings
from storyreel.web import MAX_BODY_BYTES, MAX_DEPTH, SECRET_HEADER, create_app, nested_deeper_than
from tests.conftest import close_redis, fresh_redis

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET = "s3cr3t-Webhook_token-0123456789"
GOOD = {SECRET_HEADER: SECRET}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _update(update_id: int, text: str = "hello") -> dict:
    return {"update_id": update_id,
            "message": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}, "text": text}}


@pytest.fixture
def redis13():
    client = fresh_redis(REDIS_URL)
    yield client
    close_redis(client)


class Recorder:
    """Stands in for the Celery publish: records the chats whose drain was asked for, or
    fails like a dead broker."""

    def __init__(self) -> None:
        self.chats: list[str] = []
        self.broken = False

    def __call__(self, chat: str) -> None:
        if self.broken:
            raise ConnectionRefusedError(111, "broker down")
        self.chats.append(chat)


def _drain(redis, chat: str = "42") -> list[int]:
    """What a worker would do with the chat's inbox; the update_ids handled, in order."""
    handled: list[int] = []
    Inbox(redis).drain(chat, lambda update: handled.append(update["update_id"]))
    return handled


def _waiting(redis, chat: str = "42") -> list[dict]:
    return [json.loads(redis.hget(keys.inbox_bodies(chat), update_id)) for update_id in Inbox(redis).pending(chat)]


def _settings(**overrides) -> Settings:
    values = {"telegram_webhook_secret": SECRET, "redis_url": REDIS_URL, "log_level": "DEBUG"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def serve():
    """serve(app) -> an httpx client for it, on a real port, until the test ends."""
    servers, clients = [], []

    def start(app) -> httpx.Client:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        client = httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=10)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web(redis13, serve):
    """A client for the app (its own Redis client, from the settings) with a recording
    ``enqueue``, and that recorder."""
    recorder = Recorder()
    app = create_app(_settings(), enqueue=recorder)
    return serve(app), recorder


def test_right_secret_is_accepted_into_the_chats_inbox(web, redis13):
    client, recorder = web
    reply = client.post("/webhook", json=_update(1001), headers=GOOD)
    assert reply.status_code == 200
    assert reply.json() == {"ok": True}
    # in Redis before the 200, under its chat; then the chat's drain asked for
    assert _waiting(redis13) == [_update(1001)]
    assert recorder.chats == ["42"]
    assert _drain(redis13) == [1001]
    # what was handled is recorded for a day: Telegram's re-send a minute later is dropped
    assert 86400 - 5 < redis13.ttl(keys.update_done(1001)) <= 86400
    assert client.post("/webhook", json=_update(1001), headers=GOOD).status_code == 200
    assert recorder.chats == ["42"] and _waiting(redis13) == []


@pytest.mark.parametrize("headers", [
    {},
    {SECRET_HEADER: ""},
    {SECRET_HEADER: "wrong"},
    {SECRET_HEADER: SECRET[:-1] + "X"},   # same length, last character differs
    {SECRET_HEADER: SECRET + "x"},
    {SECRET_HEADER: SECRET.upper()},
], ids=["missing", "empty", "wrong", "last-char", "longer", "case"])
def test_missing_or_wrong_secret_is_refused(web, redis13, headers):
    client, recorder = web
    reply = client.post("/webhook", json=_update(7), headers=headers)
    assert reply.status_code == 403
    assert recorder.chats == []
    assert redis13.keys() == []  # a stranger's update_id does not burn the real one


@pytest.mark.parametrize("body", [
    b"{not json",
    b"\xff\xfe\x00",
    b"",
    b"[1, 2, 3]",
    b'"update"',
    b'{"message": {"text": "hi"}}',
    b'{"update_id": "12"}',
    b'{"update_id": 1.5}',
    b'{"update_id": true}',
    b'{"update_id": -3}',
    b'{"update_id": 9007199254740992}',
    b'{"update_id": ' + b"9" * 5000 + b"}",
    b'{"update_id": 1, "t": "\xc3\x28"}',
    b"\xff\xfe{\x00",
    b'{"update_id": 1, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"update_id": 1, "x": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    b"[" * 1_000_000,
    b'"' + b'\\"' * 300_000,
], ids=["broken", "binary", "empty", "list", "string", "no-id", "id-str", "id-float", "id-bool", "id-negative",
        "id-past-2**53", "id-5000-digits", "bad-utf8", "bad-utf16", "deep-arrays", "deep-objects", "only-opens",
        "unclosed-string"])
def test_malformed_body_is_400(web, redis13, body):
    client, recorder = web
    reply = client.post("/webhook", content=body, headers={**GOOD, "Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["ok"] is False
    assert recorder.chats == []
    assert redis13.keys() == []


def test_a_body_nested_50000_deep_is_400_before_any_redis_work(web, redis13):
    client, recorder = web
    with structlog.testing.capture_logs() as events:
        reply = client.post("/webhook", content=b'{"update_id": 5, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                            headers=GOOD)
    assert reply.status_code == 400 and reply.json() == {"ok": False, "error": "body_too_deep"}
    assert [e["reason"] for e in events if e["event"] == "webhook_refused"] == ["body_too_deep"]
    assert recorder.chats == [] and redis13.keys() == []
    # as deep as allowed, brackets in strings not counted, other encodings read as Telegram's would be
    within = {"update_id": 6, "x": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)), "t": "[{" * 1000}
    for body in (json.dumps(within).encode(), json.dumps(within).encode("utf-16"),
                 json.dumps(within).encode("utf-32-be"), b"\xef\xbb\xbf" + json.dumps(within).encode()):
        assert client.post("/webhook", content=body, headers=GOOD).status_code == 200
    assert _waiting(redis13, "update:6") == [within]  # no chat: a chat of its own
    one_more = {"update_id": 7, "x": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)}
    assert client.post("/webhook", json=one_more, headers=GOOD).status_code == 400


def test_oversized_body_is_413(web, redis13):
    client, recorder = web
    update = _update(5, text="x" * (1024 * 1024 + 10))
    reply = client.post("/webhook", json=update, headers=GOOD)
    assert reply.status_code == 413
    assert recorder.chats == [] and redis13.keys() == []


def test_same_update_twice_is_handled_once(web, redis13):
    client, recorder = web
    first = client.post("/webhook", json=_update(55), headers=GOOD)
    again = client.post("/webhook", json=_update(55), headers=GOOD)
    other = client.post("/webhook", json=_update(56), headers=GOOD)
    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    assert [u["update_id"] for u in _waiting(redis13)] == [55, 56]
    # one drain asked for: the copy and 56 came while it had not started, so it sees them
    assert recorder.chats == ["42"]
    assert _drain(redis13) == [55, 56]
    assert _drain(redis13) == []
    # once a drain has started, the chat's next update asks for another
    assert client.post("/webhook", json=_update(57), headers=GOOD).status_code == 200
    assert recorder.chats == ["42", "42"] and _drain(redis13) == [57]


def test_concurrent_deliveries_of_one_update_handle_it_once(web, redis13):
    client, _ = web
    codes: list[int] = []

    def deliver():
        codes.append(client.post("/webhook", json=_update(77), headers=GOOD).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 8
    assert _waiting(redis13) == [_update(77)]
    assert _drain(redis13) == [77]


def test_broker_failure_is_503_and_the_update_waits_for_the_retry_or_recover(web, redis13):
    client, recorder = web
    recorder.broken = True
    reply = client.post("/webhook", json=_update(900), headers=GOOD)
    assert reply.status_code == 503
    assert recorder.chats == []
    # kept: ``recover`` hands the chat to a worker even if Telegram never asked again
    assert _waiting(redis13) == [_update(900)]
    assert Inbox(redis13).stalled(grace=0) == ["42"]
    recorder.broken = False
    retry = client.post("/webhook", json=_update(900), headers=GOOD)
    assert retry.status_code == 200
    assert recorder.chats == ["42"]
    assert _drain(redis13) == [900]


def test_health_reports_redis_and_ffmpeg(web):
    client, _ = web
    reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "redis": "ok", "ffmpeg": "ok", "warnings": []}


def test_redis_unreachable_health_is_503_and_webhook_is_503(serve):
    recorder = Recorder()
    app = create_app(_settings(redis_url=f"redis://127.0.0.1:{_free_port()}/0"), enqueue=recorder)
    client = serve(app)
    started = time.perf_counter()
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["redis"] == "down" and health.json()["status"] == "down"
    hook = client.post("/webhook", json=_update(3), headers=GOOD)
    assert hook.status_code == 503
    assert recorder.chats == []
    # the default client gives up at once instead of redis-py's ten retries with backoff
    assert time.perf_counter() - started < 3


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_no_secret_configured_refuses_to_start(secret, monkeypatch):
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET") as caught:
        create_app(_settings(telegram_webhook_secret=secret), redis=object(), enqueue=Recorder())
    assert caught.value.code == "config"


def test_a_secret_telegram_would_refuse_is_refused_at_start():
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        create_app(_settings(telegram_webhook_secret="has space"), redis=object(), enqueue=Recorder())


def test_logs_have_reasons_but_never_the_secret_or_the_update(web):
    client, recorder = web
    private = "my very private words"
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)  # what production writes
    try:
        with structlog.testing.capture_logs() as events:  # what callers pass, before redaction
            client.post("/webhook", json=_update(1, private), headers=GOOD)
            client.post("/webhook", json=_update(1, private), headers=GOOD)
            client.post("/webhook", json=_update(2, private), headers={SECRET_HEADER: SECRET + "x"})
            client.post("/webhook", json=_update(3, private))
            client.post("/webhook", content=b"[" + private.encode() + b"]", headers=GOOD)
        client.post("/webhook", json=_update(4, private), headers={SECRET_HEADER: "wrong-" + SECRET})
        client.post("/webhook", json=_update(5, private), headers=GOOD)
    finally:
        configure_logging()
    assert recorder.chats == ["42"]  # one drain for 1, its copy and 5: it had not started
    refused = [(e["reason"], e["status"]) for e in events if e["event"] == "webhook_refused"]
    assert refused == [("secret_wrong", 403), ("secret_missing", 403), ("body_not_json", 400)]
    assert [e["update_id"] for e in events if e["event"] == "webhook_duplicate"] == [1]
    assert [e["update_id"] for e in events if e["event"] == "webhook_accepted"] == [1]
    raw = repr(events)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["webhook_refused", "webhook_accepted"]
    for text in (raw, stream.getvalue()):
        assert SECRET not in text
        assert private not in text


@contextlib.contextmanager
def _gunicorn(cwd: Path):
    """The deploy command (the factory-call syntax; ``cwd`` has no .env to pick up) on a
    free port: an httpx client for it, and the path of its output."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "REDIS_"))}
    env.update({"REDIS_URL": REDIS_URL, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "PYTHONPATH": str(ROOT), "LOG_FORMAT": "json"})
    log = cwd / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "4",
             "-b", f"127.0.0.1:{port}", "storyreel.web:create_app()"],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.1)
            yield client, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_gunicorn_factory_puts_updates_in_the_inbox_and_asks_for_drains(redis13, tmp_path):
    with _gunicorn(tmp_path) as (client, log):
        codes = [client.post("/webhook", json=_update(i), headers=GOOD).status_code for i in (10, 11, 10)]
        refused = client.post("/webhook", json=_update(12), headers={SECRET_HEADER: "nope"})
    output = log.read_text()
    assert codes == [200, 200, 200], output
    assert refused.status_code == 403
    assert _waiting(redis13) == [_update(10), _update(11)]  # 10 once, 11 once, 12 never
    messages = [json.loads(raw) for raw in redis13.lrange("updates", 0, -1)]
    assert {m["headers"]["task"] for m in messages} == {"storyreel.drain_inbox"}
    bodies = [json.loads(base64.b64decode(m["body"])) for m in messages]
    # one drain asked for: 11 and the copy of 10 came while it waited, so it sees them
    assert [args for args, _kwargs, _embed in bodies] == [["42"]]
    assert "hello" not in repr(messages)  # the queue carries the chat, never the text
    assert SECRET not in output


# ---- fuzzing the webhook: never a 5xx ----------------------------------------------------

_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
_BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"]
_JUNK = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\\", b'"', b"[", b"}"]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=24,
)


def _depth(value) -> int:
    """How deep arrays and objects nest in ``value`` (a bare scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, level)
            stack += [(child, level + 1) for child in (node.values() if isinstance(node, dict) else node)]
    return deepest


@st.composite
def _bodies(draw) -> tuple[bytes, int | None]:
    """A body and the status it must get (None: any, so long as it is not a 5xx)."""
    kind = draw(st.sampled_from(["update", "deep", "number", "size", "bytes", "mangled"]))
    if kind == "update":  # any JSON shape, in any encoding json.loads reads
        fields = draw(st.dictionaries(st.text(max_size=6).filter(lambda k: k != "update_id"), _json_values,
                                      max_size=4))
        update = {"update_id": draw(st.integers(0, 2**53 - 1)), **fields}
        body = json.dumps(update, ensure_ascii=draw(st.booleans())).encode(draw(st.sampled_from(_ENCODINGS)))
        return body, 200 if _depth(update) <= MAX_DEPTH else 400
    if kind == "deep":  # arrays and objects, closed or not, from a few levels to 60,000
        levels = draw(st.integers(0, 60_000))
        pattern = draw(st.lists(st.sampled_from(["[", "{"]), min_size=1, max_size=5))
        kinds = (pattern * (levels // len(pattern) + 1))[:levels]
        opens = "".join("[" if k == "[" else '{"k":' for k in kinds)
        closes = "".join("]" if k == "[" else "}" for k in reversed(kinds)) if draw(st.booleans()) else ""
        body = ('{"update_id": 3, "x": ' + opens + "1" + closes + "}").encode()
        if not levels:
            return body, 200
        return body, 200 if closes and levels + 1 <= MAX_DEPTH else 400
    if kind == "number":  # integers past Python's 4300 digits, floats past a double
        digits, fraction = draw(st.integers(1, 6000)), draw(st.sampled_from(["", ".5", "e999999"]))
        number = draw(st.sampled_from(["-", ""])) + "9" * digits + fraction
        if draw(st.booleans()):
            return ('{"update_id": ' + number + "}").encode(), None
        return ('{"update_id": 4, "n": ' + number + "}").encode(), 200 if digits <= 4300 or fraction else 400
    if kind == "size":  # up to the limit, and a little past it
        filler = draw(st.integers(0, MAX_BODY_BYTES)) if draw(st.booleans()) else \
            draw(st.integers(MAX_BODY_BYTES - 100, MAX_BODY_BYTES + 100))
        body = json.dumps({"update_id": 5, "t": "x" * filler}).encode()
        return body, 413 if len(body) > MAX_BODY_BYTES else 200
    if kind == "bytes":  # anything, behind a byte-order mark or not
        return draw(st.sampled_from(_BOMS)) + draw(st.binary(max_size=300)), None
    # a good update with bytes that break it (invalid UTF-8, a quote, a bracket) put in
    good = bytearray(json.dumps({"update_id": 6, "message": {"text": "привет", "chat": {"id": 1}}}).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(good)))
        good[at:at] = draw(st.sampled_from(_JUNK))
    return bytes(good), None


def _deep(levels: int) -> bytes:
    return b'{"update_id": 1, "x": ' + b"[" * levels + b"]" * levels + b"}"


_PATHOLOGICAL = [
    (_deep(50_000), 400), (b"[" * 1_000_000, 400), (b'{"update_id": ' + b"9" * 5000 + b"}", 400),
    (b'{"update_id": 1, "n": ' + b"9" * 4300 + b"}", 200), (b'{"update_id": 1, "n": 1e999999}', 200),
    (json.dumps({"update_id": 1, "t": "ж"}).encode("utf-16"), 200), (b"\xff\xfe" + b"\xff" * 11, 400),
    (b'{"update_id": 1, "t": "\xc3\x28"}', 400), (b'{"update_id": 1, "t": "\\ud800"}', 200),
    (b'{"update_id": 1, "t": "' + b"[" * 100_000 + b'"}', 200),
]


@pytest.fixture(scope="module")
def test_client():
    """Flask's test client for an app with a recording ``enqueue`` and the real Redis."""
    client = fresh_redis(REDIS_URL)
    app = create_app(_settings(log_level="CRITICAL"), enqueue=Recorder())
    yield app.test_client()
    configure_logging()
    client.flushdb()
    client.close()


def _check(status: int, expected: int | None, body: bytes) -> None:
    assert status < 500, f"{status} for {body[:80]!r}…"
    assert expected is None or status == expected, f"{status}, not {expected}, for {body[:80]!r}…"


@hypothesis_settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(case=_bodies())
def test_fuzzed_bodies_never_get_a_5xx(test_client, case):
    body, expected = case
    _check(test_client.post("/webhook", data=body, headers=GOOD).status_code, expected, body)


def test_pathological_bodies_through_flask(test_client):
    for body, expected in _PATHOLOGICAL:
        _check(test_client.post("/webhook", data=body, headers=GOOD).status_code, expected, body)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    with _gunicorn(tmp_path_factory.mktemp("gunicorn")) as (client, _log):
        yield client
    redis_lib.Redis.from_url(REDIS_URL).flushdb()


def _post(client: httpx.Client, body: bytes) -> int:
    # gunicorn drains at most 64 kB of a body the app did not read before it reuses the
    # connection; past that (a 413) it answers and then closes it, though the answer said
    # keep-alive. Telegram never sends such a body; a client that does must reconnect.
    close = {"Connection": "close"} if len(body) > MAX_BODY_BYTES else {}
    return client.post("/webhook", content=body, headers={**GOOD, **close}).status_code


def test_pathological_and_fuzzed_bodies_through_gunicorn(gunicorn):
    for body, expected in _PATHOLOGICAL:
        _check(_post(gunicorn, body), expected, body)

    @hypothesis_settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
    @given(case=_bodies())
    def fuzz(case):
        body, expected = case
        _check(_post(gunicorn, body), expected, body)

    fuzz()


# ---- the depth scan --------------------------------------------------------------------------

def _reference_depth(text: str) -> tuple[int, bool]:
    """How deep ``text`` nests, character by character (strings skipped as JSON reads
    them), counting brackets left open; and whether its brackets balance. Slow and plain:
    the oracle."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
            if depth < 0:  # the parser stops here
                return deepest, False
    return deepest, depth == 0


@given(text=st.text(alphabet='[]{}"\\ a,:1', max_size=40), limit=st.integers(0, 4))
def test_the_depth_scan_agrees_with_a_character_by_character_count(text, limit):
    depth, balanced = _reference_depth(text)
    if not nested_deeper_than(text, limit):
        assert depth <= limit  # never lets the parser deeper than the limit
    if balanced:
        assert nested_deeper_than(text, limit) == (depth > limit)  # and exact on what balances


@given(value=_json_values)
def test_the_depth_scan_measures_json_as_written(value):
    text = json.dumps(value)
    for limit in (0, 1, 2, 3):
        assert nested_deeper_than(text, limit) == (_depth(value) > limit)
