"""The Celery app's wiring and the service commands' start-up checks."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from storyreel.worker import JOBS_QUEUE, UPDATES_QUEUE, cleanup, get_app


def test_beat_runs_the_cleanup_hourly_and_tasks_have_their_queues():
    celery_app = get_app()
    entry = celery_app.conf.beat_schedule["cleanup-hourly"]
    assert entry["task"] == "storyreel.cleanup" and entry["schedule"] == 3600.0
    assert celery_app.conf.task_routes["storyreel.handle_update"]["queue"] == UPDATES_QUEUE
    assert celery_app.conf.task_default_queue == JOBS_QUEUE
    assert {"storyreel.handle_update", "storyreel.advance_job", "storyreel.recover",
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
