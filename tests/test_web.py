"""The webhook process on a real port, against the real Redis (database 13).

Most tests serve ``create_app`` with werkzeug in a thread and replace ``enqueue`` with a
recorder; one runs the real thing under gunicorn in a subprocess (the deploy command's
factory-call syntax, the real ``enqueue_update``) and reads the Celery message out of the
``updates`` list in Redis.
"""

from __future__ import annotations

import base64
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
from werkzeug.serving import make_server

from storyreel.errors import ConfigError
from storyreel.log import configure_logging
from storyreel.settings import Settings
from storyreel.web import DEDUPE_TTL_SECONDS, SECRET_HEADER, create_app, dedupe_key

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
    client = redis_lib.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis_lib.ConnectionError:
        pytest.skip("these tests need Redis on 127.0.0.1:6379")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


class Recorder:
    """Stands in for ``enqueue_update``: records updates, or fails like a dead broker."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.broken = False

    def __call__(self, update: dict) -> None:
        if self.broken:
            raise ConnectionRefusedError(111, "broker down")
        self.updates.append(update)


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


def test_right_secret_is_accepted_and_enqueued_once(web, redis13):
    client, recorder = web
    reply = client.post("/webhook", json=_update(1001), headers=GOOD)
    assert reply.status_code == 200
    assert reply.json() == {"ok": True}
    assert recorder.updates == [_update(1001)]
    # the dedupe key is namespaced and expires in a day
    assert redis13.get(dedupe_key(1001)) == b"1"
    assert dedupe_key(1001) == "storyreel:update:1001"
    assert DEDUPE_TTL_SECONDS - 5 < redis13.ttl(dedupe_key(1001)) <= DEDUPE_TTL_SECONDS


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
    assert recorder.updates == []
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
], ids=["broken", "binary", "empty", "list", "string", "no-id", "id-str", "id-float", "id-bool", "id-negative"])
def test_malformed_body_is_400(web, redis13, body):
    client, recorder = web
    reply = client.post("/webhook", content=body, headers={**GOOD, "Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["ok"] is False
    assert recorder.updates == []
    assert redis13.keys() == []


def test_oversized_body_is_413(web, redis13):
    client, recorder = web
    update = _update(5, text="x" * (1024 * 1024 + 10))
    reply = client.post("/webhook", json=update, headers=GOOD)
    assert reply.status_code == 413
    assert recorder.updates == [] and redis13.keys() == []


def test_same_update_twice_is_enqueued_once(web):
    client, recorder = web
    first = client.post("/webhook", json=_update(55), headers=GOOD)
    again = client.post("/webhook", json=_update(55), headers=GOOD)
    other = client.post("/webhook", json=_update(56), headers=GOOD)
    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    assert [u["update_id"] for u in recorder.updates] == [55, 56]


def test_concurrent_deliveries_of_one_update_enqueue_it_once(web):
    client, recorder = web
    codes: list[int] = []

    def deliver():
        codes.append(client.post("/webhook", json=_update(77), headers=GOOD).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 8
    assert recorder.updates == [_update(77)]


def test_broker_failure_is_503_and_the_retry_is_accepted(web, redis13):
    client, recorder = web
    recorder.broken = True
    reply = client.post("/webhook", json=_update(900), headers=GOOD)
    assert reply.status_code == 503
    assert recorder.updates == []
    assert redis13.exists(dedupe_key(900)) == 0  # released, so Telegram's retry gets in
    recorder.broken = False
    retry = client.post("/webhook", json=_update(900), headers=GOOD)
    assert retry.status_code == 200
    assert recorder.updates == [_update(900)]


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
    assert recorder.updates == []
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
    assert len(recorder.updates) == 2
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


def test_gunicorn_factory_and_real_enqueue_land_in_the_updates_queue(redis13, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "REDIS_"))}
    env.update({"REDIS_URL": REDIS_URL, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "PYTHONPATH": str(ROOT), "LOG_FORMAT": "json"})
    # the deploy command, with the factory-call syntax; cwd has no .env to pick up
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "4",
         "-b", f"127.0.0.1:{port}", "storyreel.web:create_app()"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.1)
            codes = [client.post("/webhook", json=_update(i), headers=GOOD).status_code for i in (10, 11, 10)]
            refused = client.post("/webhook", json=_update(12), headers={SECRET_HEADER: "nope"})
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert codes == [200, 200, 200], output
    assert refused.status_code == 403
    assert redis13.llen("updates") == 2  # 10 once, 11 once, 12 never
    messages = [json.loads(raw) for raw in redis13.lrange("updates", 0, -1)]
    assert {m["headers"]["task"] for m in messages} == {"storyreel.handle_update"}
    bodies = [json.loads(base64.b64decode(m["body"])) for m in messages]
    assert sorted(args[0]["update_id"] for args, _kwargs, _embed in bodies) == [10, 11]
    assert _update(11) in [args[0] for args, _kwargs, _embed in bodies]
    assert SECRET not in output
