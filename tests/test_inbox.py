"""The inbox: a chat's updates run one at a time in ``update_id`` order, different chats
side by side, and nothing is lost or handled twice when a process dies.

Real Redis (database 7, flushed; other tests use 4, 5 and 9 to 14). The first tests
drive ``Inbox`` from threads with a recording handler; the rest run real worker processes
(``storyreel worker``, with the bot's handler swapped for the recorder at the bottom of
this file) and beat, fed through the real webhook.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from storyreel import redis_keys as keys
from storyreel.bot.inbox import DONE, NEW, PENDING, Inbox, Put, chat_key
from tests.conftest import close_redis, fresh_redis

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/7"
SECRET = "inbox-secret-0123456789"
STARTED, HANDLED = "test:started", "test:handled"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def r():
    client = fresh_redis(REDIS_URL, decode_responses=True)
    yield client
    close_redis(client)


def _message(update_id: int, chat: int, text: str = "hello") -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": text,
        "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False, "first_name": "T"}}}


class Recorder:
    """A handler that records when each update started and ended; ``sleep`` per update."""

    def __init__(self, sleep: float = 0.0, fail: set[int] = frozenset()) -> None:
        self.sleep, self.fail = sleep, fail
        self.runs: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, update: dict) -> None:
        start = time.monotonic()
        time.sleep(self.sleep)
        with self._lock:
            self.runs.append({"chat": chat_key(update), "id": update["update_id"], "start": start,
                              "end": time.monotonic()})
        if update["update_id"] in self.fail:
            raise RuntimeError("handler bug")

    def ids(self, chat: str | None = None) -> list[int]:
        return [run["id"] for run in self.runs if chat is None or run["chat"] == chat]


def _never_at_once(runs: list[dict]) -> None:
    """The runs of one chat, in update_id order, each after the one before ended."""
    ordered = sorted(runs, key=lambda run: run["start"])
    assert [run["id"] for run in ordered] == sorted(run["id"] for run in runs), ordered
    for before, after in itertools.pairwise(ordered):
        assert after["start"] >= before["end"], f"{before} and {after} ran at once"


def _overlap(a: list[dict], b: list[dict]) -> bool:
    """Some run of ``a`` and some run of ``b`` were under way at the same moment."""
    return any(x["start"] < y["end"] and y["start"] < x["end"] for x in a for y in b)


def _at_once(targets) -> list:
    """Run the callables in threads released together; their results."""
    barrier = threading.Barrier(len(targets))
    results = [None] * len(targets)

    def run(i, target):
        barrier.wait()
        results[i] = target()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


# ---- the inbox itself ----------------------------------------------------------------------

def test_the_key_is_the_chat_else_the_user_else_the_update_itself():
    user = {"id": 77, "is_bot": False, "first_name": "U"}
    group = {"id": -100123, "type": "supergroup"}
    assert chat_key(_message(1, 42)) == "42"
    assert chat_key({"update_id": 2, "edited_message": {"chat": group, "from": user}}) == "-100123"
    # a button under a message: its chat; under an inline message (no message): the user,
    # whose private chat has the same id, so presses and messages share one order
    assert chat_key({"update_id": 3, "callback_query": {"id": "q", "from": user, "message": {"chat": group}}}) \
        == "-100123"
    assert chat_key({"update_id": 4, "callback_query": {"id": "q", "from": user, "inline_message_id": "x"}}) == "77"
    assert chat_key({"update_id": 5, "inline_query": {"id": "q", "from": user, "query": ""}}) == "77"
    assert chat_key({"update_id": 6, "poll_answer": {"poll_id": "p", "user": user, "option_ids": [0]}}) == "77"
    assert chat_key({"update_id": 7, "my_chat_member": {"chat": group, "from": user}}) == "-100123"
    # nobody to order by: a chat of its own; nonsense ids are not ids
    assert chat_key({"update_id": 8, "poll": {"id": "p", "question": "?"}}) == "update:8"
    assert chat_key({"update_id": 9, "message": {"chat": {"id": True}}}) == "update:9"
    assert chat_key({"update_id": 10, "message": {"chat": {"id": 10**30}}}) == "update:10"
    assert chat_key({"update_id": 11, "message": "text", "x": [1]}) == "update:11"


def test_updates_put_in_reverse_order_run_in_order_and_never_at_once(r):
    inbox, recorder = Inbox(r), Recorder(sleep=0.05)
    for update_id in (105, 104, 103, 102, 101):
        assert inbox.put(_message(update_id, 42)).state == NEW
    assert inbox.pending("42") == [101, 102, 103, 104, 105]
    # four drains of the chat released at once, as four worker threads would take them
    results = _at_once([lambda: inbox.drain("42", recorder)] * 4)
    assert results == [True] * 4
    assert recorder.ids() == [101, 102, 103, 104, 105]
    _never_at_once(recorder.runs)
    assert inbox.pending("42") == [] and r.zcard(keys.INBOX_CHATS) == 0 and not r.exists(keys.inbox_lock("42"))


def test_different_chats_run_side_by_side(r):
    inbox, recorder = Inbox(r), Recorder(sleep=0.2)
    chats = ["1", "2", "3"]
    for n in range(3):
        for chat in chats:
            inbox.put(_message(10 * n + int(chat), int(chat)))
    started = time.monotonic()
    _at_once([lambda chat=chat: inbox.drain(chat, recorder) for chat in chats])
    assert time.monotonic() - started < 1.5  # 9 × 0.2 s one after another would be 1.8 s
    runs = {chat: [run for run in recorder.runs if run["chat"] == chat] for chat in chats}
    for chat in chats:
        assert recorder.ids(chat) == [int(chat), 10 + int(chat), 20 + int(chat)]
        _never_at_once(runs[chat])
    assert _overlap(runs["1"], runs["2"]) and _overlap(runs["2"], runs["3"])


def test_the_same_update_twice_is_handled_once(r):
    inbox, recorder = Inbox(r), Recorder()
    assert inbox.put(_message(7, 42)) == Put("42", NEW, ask=True)
    assert inbox.put(_message(7, 42)) == Put("42", PENDING, ask=False)  # Telegram's re-send while it waits
    assert inbox.pending("42") == [7]
    inbox.drain("42", recorder)
    assert inbox.put(_message(7, 42)) == Put("42", DONE, ask=False)  # and after it was handled
    assert inbox.pending("42") == []
    inbox.drain("42", recorder)
    assert recorder.ids() == [7]
    assert inbox.handled(7) and 86400 - 5 < r.ttl(keys.update_done(7)) <= 86400


def test_a_burst_asks_for_one_drain_and_a_put_after_it_started_asks_again(r):
    inbox = Inbox(r)
    asks: list[bool] = []

    def handler(update: dict) -> None:
        if update["update_id"] == 1:  # the drain has started: a new update asks again
            asks.append(inbox.put(_message(3, 42)).ask)

    asks += [inbox.put(_message(1, 42)).ask, inbox.put(_message(2, 42)).ask]
    recorder = Recorder()
    inbox.drain("42", lambda update: (handler(update), recorder(update)))
    assert asks == [True, False, True]
    assert recorder.ids() == [1, 2, 3]  # the drain that was running took 3 as well
    assert inbox.drain("42", recorder) is True and recorder.ids() == [1, 2, 3]  # the one asked for: nothing left


def test_a_drain_asked_for_that_never_came_is_asked_again_by_recover(r):
    inbox, recorder = Inbox(r), Recorder()
    assert inbox.put(_message(1, 42)).ask  # ... and the web process died before asking
    assert not inbox.put(_message(2, 42)).ask  # the chat's next update counts on that drain
    assert inbox.stalled(grace=0) == ["42"]
    inbox.drain("42", recorder)  # the drain recover asked for
    assert recorder.ids() == [1, 2]
    assert inbox.put(_message(3, 42)).ask  # and the mark went with it


def test_an_update_recorded_as_handled_is_skipped_by_a_drainer(r):
    # the record and the inbox are one transaction, but an update put again just before a
    # drainer finished it (a re-send racing the drainer) must still run once
    inbox, recorder = Inbox(r), Recorder()
    inbox.put(_message(8, 42))
    r.set(keys.update_done(8), 1)
    r.zadd(keys.inbox("42"), {"8": 8})
    inbox.drain("42", recorder)
    assert recorder.ids() == [] and inbox.pending("42") == []


def test_an_update_that_arrives_while_the_chat_is_drained_is_taken_by_the_holder(r):
    inbox = Inbox(r)
    seen: list[int] = []
    others: list[bool] = []

    def handler(update: dict) -> None:
        seen.append(update["update_id"])
        if update["update_id"] == 1:
            inbox.put(_message(2, 42))
            others.append(inbox.drain("42", Recorder()))  # the drain asked for it: the chat is taken

    inbox.put(_message(1, 42))
    inbox.drain("42", handler)
    assert others == [True] and seen == [1, 2] and inbox.pending("42") == []


def test_a_failing_handler_costs_its_update_not_the_chat(r):
    inbox, recorder = Inbox(r), Recorder(fail={1})
    inbox.put(_message(1, 42))
    inbox.put(_message(2, 42))
    assert inbox.drain("42", recorder) is True
    assert recorder.ids() == [1, 2] and inbox.pending("42") == [] and inbox.handled(1)


def test_a_stopping_worker_leaves_the_rest_for_another(r):
    inbox, recorder = Inbox(r), Recorder()
    for update_id in (1, 2, 3):
        inbox.put(_message(update_id, 42))
    assert inbox.drain("42", recorder, stop=lambda: bool(recorder.runs)) is False
    assert recorder.ids() == [1] and inbox.pending("42") == [2, 3]
    assert not r.exists(keys.inbox_lock("42"))
    assert inbox.drain("42", recorder) is True and recorder.ids() == [1, 2, 3]


def test_a_drainer_whose_lease_was_taken_stops_after_its_update(r):
    inbox, recorder = Inbox(r), Recorder()

    def stalled_handler(update: dict) -> None:
        # as if this worker froze past its lease and another drainer took the chat
        r.set(keys.inbox_lock("42"), "someone-else", px=5000)
        time.sleep(0.25)  # the lease keeper looks every 0.1 s and finds the lock gone
        recorder(update)

    inbox.put(_message(1, 42))
    inbox.put(_message(2, 42))
    assert inbox.drain("42", stalled_handler, lease=0.3) is True
    assert recorder.ids() == [1] and inbox.pending("42") == [2]
    assert r.get(keys.inbox_lock("42")) == "someone-else"  # not ours to release


def test_a_long_handler_keeps_its_lease(r):
    inbox = Inbox(r)
    inbox.put(_message(1, 42))
    holders = []
    inbox.drain("42", lambda update: (time.sleep(1.0), holders.append(inbox.drain("42", Recorder()))), lease=0.3)
    assert holders == [True]  # after three leases the chat was still taken
    assert inbox.handled(1)


def test_stalled_names_the_chats_nobody_drains(r):
    inbox = Inbox(r)
    inbox.put(_message(1, 42))  # the web process died before asking for its drain
    inbox.put(_message(2, 43))
    r.set(keys.inbox_lock("43"), "a-live-drainer", px=5000)
    assert inbox.stalled(grace=5) == []  # just put: its drain may be on its way
    assert inbox.stalled(grace=0) == ["42"]
    assert inbox.stalled(grace=1) == []  # handed over just now: its drain gets a grace too


# ---- real workers ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """Worker processes (the real ``storyreel worker``, handler recorded) and beat, on
    database 7; each in its own process group, so a kill takes the whole worker."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}
        self.redis = redis_lib.Redis.from_url(REDIS_URL, decode_responses=True)
        self.beat_started: float | None = None
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("OPENAI_", "RUNWAY", "TELEGRAM_", "PROVIDERS", "REDIS_"))}
        self.env.update({"REDIS_URL": REDIS_URL, "TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": SECRET,
                         "WORK_DIR": str(tmp / "work"), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                         "JOB_LOCK_SECONDS": "2", "RECOVER_SECONDS": "0.5", "BROKER_VISIBILITY_SECONDS": "30",
                         "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"})

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, env=self.env, cwd=self.tmp, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append(proc)
        self.logs[proc.pid] = log
        return proc

    def start_worker(self) -> subprocess.Popen:
        return self._spawn("worker", [sys.executable, "-m", "tests.test_inbox", "-c", "4"])

    def start_beat(self) -> None:
        if self.beat_started is None:
            self._spawn("beat", [sys.executable, "-m", "storyreel.cli", "beat"])
            self.beat_started = time.time()

    def ready(self, *procs: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for proc in procs:
            log = self.logs[proc.pid]
            while b" ready." not in (log.read_bytes() if log.exists() else b""):
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "worker did not come up: " + log.read_text()[-3000:]
                time.sleep(0.1)

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def runs(self, key: str = HANDLED) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(key, 0, -1)]

    def wait_handled(self, ids: set[int], timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            if ids <= {run["id"] for run in runs}:
                return runs
            assert time.monotonic() < deadline, f"never handled: {sorted(ids - {run['id'] for run in runs})}"
            time.sleep(0.05)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.redis.flushdb()
        self.redis.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    client = redis_lib.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis_lib.ConnectionError:
        pytest.skip("these tests need Redis on 127.0.0.1:6379")
    client.flushdb()
    # left by a web process killed after the inbox's write, before it asked for the drain
    Inbox(client).put(_message(1, 900))
    world = Cluster(tmp_path_factory.mktemp("inbox"))
    try:
        world.ready(world.start_worker(), world.start_worker())
        yield world
    finally:
        world.close()


@pytest.fixture
def webhook(cluster):
    """The real web app (its Redis, its Celery publish) on a loopback port."""
    from werkzeug.serving import make_server

    from storyreel.settings import Settings
    from storyreel.web import SECRET_HEADER, create_app

    app = create_app(Settings(_env_file=None, telegram_webhook_secret=SECRET, redis_url=REDIS_URL))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=10,
                          headers={SECRET_HEADER: SECRET})
    yield client
    client.close()
    server.shutdown()
    server.server_close()


def test_an_update_whose_drain_was_never_asked_for_is_handled_when_a_worker_starts(cluster):
    runs = [run for run in cluster.wait_handled({1}) if run["id"] == 1]
    assert len(runs) == 1 and runs[0]["chat"] == "900"
    # no beat had run yet: a starting worker's own sweep found it
    assert cluster.beat_started is None or runs[0]["end"] < cluster.beat_started


def test_through_the_webhook_each_chat_keeps_its_order_and_chats_run_side_by_side(cluster, webhook):
    chats = [701, 702, 703, 704]
    codes: list[int] = []

    def user(chat: int) -> None:
        # one user's messages, each sent once the one before was answered, as Telegram does
        for n in range(4):
            codes.append(webhook.post("/webhook", json=_message(1000 + 10 * n + chat % 10, chat, "sleep 0.15"))
                         .status_code)
        codes.append(webhook.post("/webhook", json=_message(1000 + chat % 10, chat, "sleep 0.15")).status_code)

    _at_once([lambda chat=chat: user(chat) for chat in chats])
    assert codes == [200] * 20
    sent = {1000 + 10 * n + chat % 10 for n in range(4) for chat in chats}
    runs = [run for run in cluster.wait_handled(sent) if run["id"] in sent]
    assert sorted(run["id"] for run in runs) == sorted(sent)  # the re-sent one ran once
    by_chat = {chat: [run for run in runs if run["chat"] == str(chat)] for chat in chats}
    for chat in chats:
        _never_at_once(by_chat[chat])
    assert any(_overlap(by_chat[a], by_chat[b]) for a in chats for b in chats if a < b), "chats ran one by one"


def test_drains_released_at_once_on_two_workers_keep_the_order(cluster):
    from storyreel.settings import Settings
    from storyreel.worker import create_celery, enqueuer

    inbox = Inbox(cluster.redis)
    for update_id in (2005, 2004, 2003, 2002, 2001):  # reverse order
        inbox.put(_message(update_id, 800, "sleep 0.1"))
    drain = enqueuer(create_celery(Settings(_env_file=None, redis_url=REDIS_URL)))
    for _ in range(6):  # more drains than one worker has threads: both workers take some
        drain("800")
    runs = [run for run in cluster.wait_handled({2001, 2002, 2003, 2004, 2005}) if run["chat"] == "800"]
    assert [run["id"] for run in runs] == [2001, 2002, 2003, 2004, 2005]
    _never_at_once(runs)


def test_a_drainer_killed_mid_chat_is_taken_over_and_nothing_runs_twice(cluster):
    from storyreel.settings import Settings
    from storyreel.worker import create_celery, enqueuer

    cluster.start_beat()
    inbox = Inbox(cluster.redis)
    texts = {3001: "sleep 0.1", 3002: "sleep 0.1", 3003: "hang", 3004: "sleep 0.1", 3005: "sleep 0.1"}
    for update_id, text in texts.items():
        inbox.put(_message(update_id, 810, text))
    enqueuer(create_celery(Settings(_env_file=None, redis_url=REDIS_URL)))("810")
    deadline = time.monotonic() + 20
    while not [run for run in cluster.runs(STARTED) if run["id"] == 3003]:
        assert time.monotonic() < deadline, "3003 never started"
        time.sleep(0.05)
    victim_pid = next(run["pid"] for run in cluster.runs(STARTED) if run["id"] == 3003)
    victim = next(proc for proc in cluster.procs if proc.pid == victim_pid)
    killed_at = time.time()
    cluster.kill(victim)  # mid-chat: 3001 and 3002 done, 3003 under way, 3004 and 3005 waiting
    runs = [run for run in cluster.wait_handled(set(texts), timeout=30) if run["chat"] == "810"]
    assert [run["id"] for run in runs] == sorted(texts), "each handled once, in order"
    _never_at_once(runs)
    after = [run for run in runs if run["id"] >= 3003]
    assert all(run["pid"] != victim_pid and run["start"] >= killed_at for run in after)
    # only the update the dead worker was inside is started again (it never finished)
    starts = [run["id"] for run in cluster.runs(STARTED) if run["chat"] == "810"]
    assert starts == [3001, 3002, 3003, 3003, 3004, 3005]


# ---- the worker processes above run this ----------------------------------------------------

def _recording_handler(services, update: dict) -> None:
    """Stands in for ``storyreel.bot.handlers.handle_update`` in the worker processes:
    records start and end in Redis; "sleep S" sleeps, "hang" hangs the first time."""
    r = services.redis
    text = (update.get("message") or {}).get("text") or ""
    run = {"chat": chat_key(update), "id": update["update_id"], "pid": os.getpid(), "start": time.time()}
    r.rpush(STARTED, json.dumps(run))
    if text == "hang" and r.incr(f"test:hang:{update['update_id']}") == 1:
        time.sleep(300)
    if text.startswith("sleep "):
        time.sleep(float(text.split()[1]))
    run["end"] = time.time()
    r.rpush(HANDLED, json.dumps(run))


if __name__ == "__main__":
    from storyreel.bot import handlers
    from storyreel.cli import main

    handlers.handle_update = _recording_handler
    main(["worker", *sys.argv[1:]])
