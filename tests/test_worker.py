"""The Celery app's wiring and the service commands' start-up checks."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from storyreel.worker import JOBS_QUEUE, UPDATES_QUEUE, cleanup, get_app
from tests.conftest import fresh_redis


def test_beat_runs_the_cleanup_hourly_and_tasks_have_their_queues():
    celery_app = get_app()
    entry = celery_app.conf.beat_schedule["cleanup-hourly"]
    assert entry["task"] == "storyreel.cleanup" and entry["schedule"] == 3600.0
    # a chat's drain, and an update queued by a web process of an earlier release
    assert celery_app.conf.task_routes["storyreel.drain_inbox"]["queue"] == UPDATES_QUEUE
    assert celery_app.conf.task_routes["storyreel.handle_update"]["queue"] == UPDATES_QUEUE
    assert celery_app.conf.task_default_queue == JOBS_QUEUE
    assert {"storyreel.drain_inbox", "storyreel.handle_update", "storyreel.advance_job", "storyreel.recover",
            "storyreel.cleanup"} <= set(celery_app.tasks)
    assert celery_app.conf.beat_schedule["recover-jobs"]["task"] == "storyreel.recover"
    assert celery_app.conf.task_acks_late and celery_app.conf.task_reject_on_worker_lost


def test_cleanup_task_deletes_only_old_job_folders(tmp_path, monkeypatch):
    work = tmp_path / "work"
    old, fresh = work / ("a" * 32), work / ("b" * 32)
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(b"x")
    stale = time.time() - 25 * 3600
    os.utime(old, (stale, stale))
    os.utime(old / "x.png", (stale, stale))
    from storyreel import settings as settings_module

    monkeypatch.setenv("WORK_DIR", str(work))
    settings_module.get_settings.cache_clear()
    try:
        assert cleanup.run() == 1
    finally:
        settings_module.get_settings.cache_clear()
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("command, variable", [
    (["worker"], "TELEGRAM_BOT_TOKEN"),
    (["web"], "TELEGRAM_WEBHOOK_SECRET"),
    (["set-webhook"], "TELEGRAM_BOT_TOKEN"),
    (["bot", "--polling"], "TELEGRAM_BOT_TOKEN"),
])
def test_a_service_without_its_required_setting_stops_with_one_line(tmp_path, command, variable):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "OPENAI_", "RUNWAY"))}
    done = subprocess.run([sys.executable, "-m", "storyreel.cli", *command], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], done.stderr


@pytest.mark.parametrize("command", [["worker"], ["web"], ["beat"]])
def test_a_service_that_cannot_reach_redis_stops_with_one_line(tmp_path, command):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "RUNWAY"))}
    env.update({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": "s", "REDIS_URL":
                f"redis://:hunter2@127.0.0.1:{port}/0"})
    done = subprocess.run([sys.executable, "-m", "storyreel.cli", *command], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "REDIS_URL" in lines[0] and "hunter2" not in lines[0], done.stderr


def test_new_jobs_are_refused_when_the_disk_is_nearly_full(tmp_path):
    from storyreel.errors import InputError
    from storyreel.pipeline.runner import Pipeline
    from storyreel.providers.factory import build_providers
    from storyreel.settings import Settings

    settings = Settings(_env_file=None, work_dir=tmp_path / "work", min_free_disk_mb=10**12, segment_count=2)
    with pytest.raises(InputError) as err:
        Pipeline(settings, build_providers(settings)).new_job("a video about space")
    assert err.value.code == "disk_full"
    env = {**os.environ, "MIN_FREE_DISK_MB": str(10**12), "WORK_DIR": str(tmp_path / "work")}
    done = subprocess.run([sys.executable, "-m", "storyreel.cli", "make", "a video about space", "--yes"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == "storyreel: The server is out of room for new videos " \
        "right now. Please try again later."
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


@pytest.mark.parametrize("command", [["worker"], ["web"], ["beat"]])
def test_a_malformed_setting_stops_a_service_with_one_line_naming_it(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "RUNWAY"))}
    env.update({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": "s", "JOBS_PER_MINUTE": "lots"})
    done = subprocess.run([sys.executable, "-m", "storyreel.cli", *command], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "JOBS_PER_MINUTE" in lines[0], done.stderr


def test_the_poller_and_old_queued_updates_go_through_the_inbox(monkeypatch):
    """``bot --polling`` hands each update over with ``enqueue_update``: into its chat's
    inbox and a drain of the chat, like the webhook; an update a web process of an earlier
    release queued whole (``storyreel.handle_update``) is put there and drained too."""
    import base64
    import json


    from storyreel import settings as settings_module
    from storyreel import worker
    from storyreel.bot import handlers
    from storyreel.bot.inbox import Inbox

    url = "redis://127.0.0.1:6379/8"  # a database of this test's own (others use 4, 5, 7, 9-14)
    r = fresh_redis(url, decode_responses=True)
    monkeypatch.setenv("REDIS_URL", url)
    for name in ("_app", "_services", "_box"):
        monkeypatch.setattr(worker, name, None)
    settings_module.get_settings.cache_clear()
    handled: list[int] = []
    monkeypatch.setattr(handlers, "handle_update", lambda services, update: handled.append(update["update_id"]))

    def update(update_id: int) -> dict:
        return {"update_id": update_id, "message": {"message_id": update_id, "date": 0, "text": "hi",
                                                    "chat": {"id": 42, "type": "private"}}}

    try:
        worker.enqueue_update(update(5))
        worker.enqueue_update(update(5))  # getUpdates gives it again until its offset is confirmed
        assert Inbox(r).pending("42") == [5]
        messages = [json.loads(raw) for raw in r.lrange(UPDATES_QUEUE, 0, -1)]
        assert [m["headers"]["task"] for m in messages] == ["storyreel.drain_inbox"]  # the copy counts on it
        assert [json.loads(base64.b64decode(m["body"]))[0] for m in messages] == [["42"]]
        worker.drain_inbox.run("42")
        worker.enqueue_update(update(5))  # handled: nothing more to ask for
        assert r.llen(UPDATES_QUEUE) == 1 and handled == [5]
        worker.handle_update.run(update(6))
        worker.handle_update.run(update(6))
        assert handled == [5, 6] and Inbox(r).pending("42") == []
    finally:
        worker.close_services()
        settings_module.get_settings.cache_clear()
        r.flushdb()
        r.close()
