"""A whole bot on this machine for end-to-end tests: the fake Telegram Bot API, the real
web process (gunicorn), real Celery worker processes (one by default) and beat, and the
real Redis (a database of the test's own, flushed before and after).

``workers=N`` runs N workers, each as its own "host": worker ``k`` has its own
``WORK_DIR`` (``work`` for the first, ``work1``, ``work2``… for the others), so a job
whose step moves to another worker finds none of the files the first one made, as on
another machine. They share Redis, as every host of a deployment does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis

from tests.fakes.telegram_server import BotCall, FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
SECRET = "e2e-secret-Zx81"
TOKEN = "123456:TEST-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gate_of(data: str) -> str | None:
    """The gate (s, p, c) of a ✅/❌ button's callback data ``ok:{job_id}:p:0``."""
    parts = data.split(":")
    return parts[2] if len(parts) == 4 and parts[0] in ("ok", "no") else None


class BotWorld:
    """Start with ``with BotWorld(tmp_path, db=11, APPROVAL_TIMEOUT="600") as world:``;
    ``workers=2`` for two worker "hosts" (see the module docstring), each running
    ``threads`` tasks at once; ``beat=False`` for a deployment that runs no beat."""

    def __init__(self, tmp: Path, *, db: int, workers: int = 1, threads: int = 6, beat: bool = True,
                 **settings: str) -> None:
        self.tmp, self.db, self.beat, self.threads = tmp, db, beat, threads
        self.work = tmp / "work"  # the first worker's (and the web's and beat's) WORK_DIR
        self.work_dirs = [self.work] + [tmp / f"work{k}" for k in range(1, workers)]
        for folder in self.work_dirs:
            folder.mkdir(parents=True, exist_ok=True)
        self.redis_url = f"redis://127.0.0.1:6379/{db}"
        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self.tg = FakeTelegram(TOKEN)
        self.port = free_port()
        self.settings = {
            "SEGMENT_COUNT": "6", "SEGMENT_SECONDS": "1", "VIDEO_SHORT_SIDE": "90", "FPS": "24",
            "LOCAL_MOTION_WORKERS": "2", "APPROVAL_TIMEOUT": "600", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
            "RECOVER_SECONDS": "0.5", "BROKER_VISIBILITY_SECONDS": "10", "JOB_LOCK_SECONDS": "3",
            **settings,
        }
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen | None] = [None] * workers  # the live process of each host
        self.pressed: set[tuple[int, int]] = set()  # (chat, message) of button messages already used
        self.logs: list[Path] = []

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENAI_", "RUNWAY", "TELEGRAM_", "PROVIDERS"))}
        env.update({
            "REDIS_URL": self.redis_url, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": self.tg.url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET, "WORK_DIR": str(self.work), "PYTHONUNBUFFERED": "1",
            **self.settings,
        })
        return env

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    @property
    def worker(self) -> subprocess.Popen | None:
        """The first host's worker process."""
        return self.workers[0]

    def __enter__(self) -> "BotWorld":
        self.redis.flushdb()
        self.tg.start()
        self._spawn("web", [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "4",
                            "-b", f"127.0.0.1:{self.port}", "storyreel.web:create_app()"])
        for host in range(len(self.workers)):
            self.start_worker(host)
        if self.beat:
            self._spawn("beat", [sys.executable, "-m", "storyreel.cli", "beat"])
        self._wait_up()
        return self

    def start_worker(self, host: int = 0) -> subprocess.Popen:
        """A new worker process on ``host`` (its WORK_DIR), in its own process group so a
        kill takes its FFmpegs too. Logs: worker.log, worker1.log… (every start of any
        host, in order)."""
        n = sum(1 for p in self.logs if p.name.startswith("worker"))
        self._spawn(f"worker{n or ''}", [sys.executable, "-m", "storyreel.cli", "worker", "-c", str(self.threads)],
                    new_session=True, env={"WORK_DIR": str(self.work_dirs[host])})
        self.workers[host] = self.procs[-1]
        return self.procs[-1]

    def kill_worker(self, host: int = 0) -> None:
        """SIGKILL ``host``'s worker and everything it started: the machine gone."""
        proc = self.workers[host]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def host_of(self, proc: subprocess.Popen) -> int:
        return self.workers.index(proc)

    def log_of(self, proc: subprocess.Popen) -> Path:
        return self.logs[self.procs.index(proc)]

    def worker_ready(self, proc: subprocess.Popen, timeout: float = 60) -> None:
        log = self.logs[self.procs.index(proc)]
        deadline = time.monotonic() + timeout
        while b"ready" not in (log.read_bytes() if log.exists() else b""):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not come up"
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.tg.stop()
        self.redis.flushdb()

    def _spawn(self, name: str, argv: list[str], new_session: bool = False, env: dict | None = None) -> None:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        handle = open(log, "wb")
        self.procs.append(subprocess.Popen(argv, env={**self.env, **(env or {})}, cwd=self.tmp, stdout=handle,
                                           stderr=subprocess.STDOUT, start_new_session=new_session))

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for proc, log in zip(self.procs, self.logs):
                if proc.poll() is not None:
                    raise AssertionError(f"{log.name} exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as resp:
                    web_ok = resp.status == 200
            except OSError:
                web_ok = False
            worker_ok = all(b"ready" in (self.log_of(w).read_bytes() if self.log_of(w).exists() else b"")
                            for w in self.workers)
            if web_ok and worker_ok:
                return
            time.sleep(0.2)
        raise AssertionError("bot did not come up:\n" + "\n".join(p.read_text()[-2000:] for p in self.logs))

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs)

    # ---- talking to the bot -------------------------------------------------------------
    def send(self, update: dict, secret: str | None = SECRET) -> int:
        return self.tg.deliver(self.webhook, update, secret)

    def say(self, user: int, text: str, lang: str = "en") -> dict:
        update = self.tg.text_update(user, text, language_code=lang)
        assert self.send(update) == 200
        return update

    def wait_text(self, user: int, needle: str, timeout: float = 30.0) -> BotCall:
        return self.tg.wait_for(lambda c: c.ok and str(c.params.get("chat_id")) == str(user)
                                and needle in (c.params.get("text") or ""), timeout)

    def wait_buttons(self, user: int, kind: str, timeout: float = 60.0) -> BotCall:
        """The newest unpressed message carrying the ✅/❌ buttons of ``kind`` (s, p, c)."""
        def has(call: BotCall) -> bool:
            result = call.result if isinstance(call.result, dict) else {}
            if (user, result.get("message_id")) in self.pressed:
                return False
            markup = call.params.get("reply_markup") or {}
            rows = markup.get("inline_keyboard") or []
            return call.ok and call.method == "sendMessage" and str(call.params.get("chat_id")) == str(user) \
                and any(_gate_of(b.get("callback_data", "")) == kind for row in rows for b in row)
        return self.tg.wait_for(has, timeout)

    def press(self, user: int, call: BotCall, action: str = "ok", as_user: int | None = None,
              lang: str = "en", number: int | None = None) -> dict:
        """Press ``call``'s button of ``action`` (ok, no, ed; rd with ``number``)."""
        data = next(b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row
                    if b["callback_data"].startswith(action + ":")
                    and (number is None or b["callback_data"].endswith(f":{number}")))
        self.pressed.add((user, call.result["message_id"]))
        update = self.tg.callback_update(as_user or user, data, call.result["message_id"], language_code=lang)
        assert self.send(update) == 200
        return update

    def answers(self, query_update: dict) -> list[str]:
        qid = query_update["callback_query"]["id"]
        return [c.params.get("text") or "" for c in self.tg.calls("answerCallbackQuery")
                if str(c.params.get("callback_query_id")) == qid]

    def wait_answer(self, query_update: dict, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.answers(query_update)
            if got:
                return got[0]
            time.sleep(0.02)
        raise AssertionError(f"callback query never answered; calls: {[c.method for c in self.tg.calls()]}")

    def job_ids(self) -> list[str]:
        return [k.split(":")[-1] for k in self.redis.scan_iter("storyreel:job:*")]

    def job(self, job_id: str) -> dict:
        return json.loads(self.redis.get(f"storyreel:job:{job_id}"))

    def job_of(self, user: int, timeout: float = 0.0) -> str:
        """The id of ``user``'s job, looked for until ``timeout`` (once with none)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [j for j in self.job_ids() if self.job(j).get("user_id") == user]
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(f"no job for user {user}")
            time.sleep(0.05)

    def wait_job(self, job_id: str, status: str, timeout: float = 30) -> dict:
        """The job once its status is ``status`` (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (job := self.job(job_id))["status"] != status:
            assert time.monotonic() < deadline, job["status"]
            time.sleep(0.05)
        return job

    def video(self, user: int, timeout: float = 90) -> BotCall:
        """The video sent to ``user``."""
        return self.tg.wait_for(lambda c: c.method == "sendVideo" and c.ok
                                and str(c.params.get("chat_id")) == str(user), timeout)

    def job_dirs(self, host: int | None = None) -> list[Path]:
        """Job folders on ``host``'s disk, or on every host's."""
        folders = self.work_dirs if host is None else [self.work_dirs[host]]
        return [p for w in folders if w.exists() for p in w.iterdir() if p.is_dir()]


def quiet(world: BotWorld, seconds: float = 1.0) -> int:
    """Wait until no Bot API call arrived for ``seconds``; the number of calls so far."""
    last, since = len(world.tg.calls()), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.1)
        now = len(world.tg.calls())
        if now != last:
            last, since = now, time.monotonic()
    return last


class BotApiCheck:
    """The failed Bot API calls a scenario may leave: none, but those it ``allow``s
    (entries as ``FakeTelegram.assert_no_failed_calls`` takes them)."""

    def __init__(self) -> None:
        self.allowed: list = []
        self.worlds: list[tuple[BotWorld, int]] = []

    def allow(self, *entries) -> None:
        self.allowed.extend(entries)

    def watch(self, world: BotWorld) -> BotWorld:
        self.worlds.append((world, len(world.tg.sent)))
        return world

    def check(self) -> None:
        for world, start in self.worlds:
            quiet(world, 0.5)
            world.tg.assert_no_failed_calls(allow=self.allowed, since=start)
