"""OpenAI shutdown dates: the guard in front of every process and every job.

The fake OpenAI serves ``GET /v1/models/{id}`` with each model's ``shutdown_date``
(``fake.models``); everything goes through the real ``openai`` SDK. Dates are set
relative to the real today, because the subprocesses (``storyreel make``, ``web``,
``jobs``, ``doctor``) use the clock; the in-process tests move ``today`` instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from storyreel.errors import ConfigError
from storyreel.messages import message
from storyreel.providers.model_guard import FileLookupCache, ModelGuard, RedisLookupCache, Status
from storyreel.settings import Settings
from tests.conftest import leftovers, run_cli
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.conftest import close_redis, fresh_redis

REDIS_URL = "redis://127.0.0.1:6379/14"
SMALL = ["--segments", "2", "--seconds", "1", "--resolution", "90", "--yes"]
TODAY = datetime.now(timezone.utc).date()
YESTERDAY, IN_TEN_DAYS = (TODAY - timedelta(days=1)).isoformat(), (TODAY + timedelta(days=10)).isoformat()


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def redis14():
    client = fresh_redis(REDIS_URL)
    yield client
    close_redis(client)


def _env(tmp_path: Path, fake: FakeOpenAI | None, **extra: str) -> dict[str, str]:
    """A clean environment: this test's cache folder and Redis, the fake OpenAI if given."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "RUNWAY", "TELEGRAM_", "PROVIDERS", "XDG_CACHE_HOME"))}
    env.update({"XDG_CACHE_HOME": str(tmp_path / "cache"), "REDIS_URL": REDIS_URL, "PYTHONUNBUFFERED": "1"})
    if fake is not None:
        env.update({"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": f"{fake.url}/v1"})
    env.update(extra)
    return env


def _settings(fake: FakeOpenAI, **overrides) -> Settings:
    values = {"openai_api_key": DEFAULT_KEY, "openai_base_url": f"{fake.url}/v1", "redis_url": REDIS_URL,
              "providers": ""}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def _nothing_paid(fake: FakeOpenAI) -> None:
    """Only model lookups reached the fake: no script, speech or transcription call."""
    paths = [c.path for c in fake.calls]
    assert paths and all(p.startswith("/v1/models/") for p in paths), paths


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# ---- storyreel make -------------------------------------------------------------------
def test_a_model_past_its_date_refuses_make_before_anything_is_paid(tmp_path, work_dir, fake):
    fake.models["gpt-4.1-mini"] = YESTERDAY
    result = run_cli(["make", "a video about owls", *SMALL, "--out", str(tmp_path / "x.mp4")], work_dir=work_dir,
                     env=_env(tmp_path, fake, OPENAI_MODEL="gpt-4.1-mini"), timeout=60)

    assert result.returncode == 2
    assert _one_line(result) == f"storyreel: OPENAI_MODEL=gpt-4.1-mini was shut down by OpenAI on {YESTERDAY}; " \
                                "use gpt-6-luna"
    _nothing_paid(fake)
    assert leftovers(work_dir) == [] and not (tmp_path / "x.mp4").exists()


def test_an_unknown_model_is_one_clear_line_before_a_voice_note_is_transcribed(tmp_path, work_dir, fake):
    note = tmp_path / "note.ogg"
    note.write_bytes(b"OggS" + bytes(200))
    result = run_cli(["make", "--voice", str(note), *SMALL], work_dir=work_dir,
                     env=_env(tmp_path, fake, OPENAI_TRANSCRIBE_MODEL="gpt-9-transcribe"), timeout=60)

    assert result.returncode == 2
    host = fake.url.split("//", 1)[1]
    assert _one_line(result) == f"storyreel: OPENAI_TRANSCRIBE_MODEL=gpt-9-transcribe is not a model the server " \
                                f"at {host} knows; set OPENAI_TRANSCRIBE_MODEL to a current model"
    _nothing_paid(fake)
    assert fake.count("transcriptions") == 0 and leftovers(work_dir) == []


def test_an_unreachable_openai_does_not_stop_a_job_from_starting(tmp_path, work_dir):
    dead = FakeOpenAI()  # bound, never started: connections are refused
    url = dead.url
    dead.httpd.server_close()
    out = tmp_path / "offline.mp4"
    # transcription is the only OpenAI stage, and nothing in this job transcribes
    env = _env(tmp_path, None, OPENAI_API_KEY=DEFAULT_KEY, OPENAI_BASE_URL=f"{url}/v1",
               PROVIDERS="script=local,speech=local,transcription=openai")
    result = run_cli(["make", "a video about owls", *SMALL, "--out", str(out), "-v"], work_dir=work_dir, env=env,
                     timeout=120)

    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_size > 0 and "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if "model_check_failed" in line]
    assert len(failed) == 1 and "cannot reach" in failed[0] and "gpt-transcribe" in failed[0], result.stderr


# ---- the bot --------------------------------------------------------------------------
class _Dispatcher:
    def __init__(self) -> None:
        self.started: list[str] = []

    def start_step(self, job_id: str) -> None:
        self.started.append(job_id)


def _bot_services(tmp_path: Path, fake: FakeOpenAI, tg, **overrides):
    from storyreel.bot.services import Services

    settings = _settings(fake, telegram_bot_token=tg.token, telegram_api_url=tg.url, work_dir=tmp_path / "work",
                         segment_count=2, segment_seconds=1.0, video_short_side=90, **overrides)
    return Services(settings, _Dispatcher())


def test_a_retired_model_refuses_bot_prompts_before_anything_is_paid(tmp_path, fake, redis14):
    from storyreel.bot.handlers import handle_update
    from tests.fakes.telegram_server import FakeTelegram, sample_voice

    fake.models["gpt-4o-mini-transcribe"] = YESTERDAY
    with FakeTelegram("123456:guard-token") as tg:
        services = _bot_services(tmp_path, fake, tg, openai_transcribe_model="gpt-4o-mini-transcribe")
        try:
            with capture_logs() as logs:
                handle_update(services, tg.text_update(501, "Видео про историю кофе", language_code="ru"))
                voice = sample_voice(1.0)
                handle_update(services, tg.voice_update(502, "voice-1", 1, len(voice), language_code="en",
                                                        data=voice))
        finally:
            services.client.close()

        assert tg.texts(501) == [message("model_retired", "ru")]
        assert tg.texts(502) == [message("model_retired", "en")]
        assert tg.calls("getFile") == []  # the voice note was not even downloaded
    line = f"OPENAI_TRANSCRIBE_MODEL=gpt-4o-mini-transcribe was shut down by OpenAI on {YESTERDAY}; " \
           "use gpt-transcribe"
    assert [e["reason"] for e in logs if e["event"] == "prompt_refused"] == [line, line]
    assert services.dispatcher.started == [] and list(redis14.scan_iter("storyreel:job:*")) == []
    _nothing_paid(fake)
    assert fake.count("models") == 3  # the second prompt used the cached dates


def test_a_model_near_its_date_lets_the_bot_accept_the_job(tmp_path, fake, redis14):
    from storyreel.bot.handlers import handle_update
    from tests.fakes.telegram_server import FakeTelegram

    fake.models["gpt-4.1-mini"] = IN_TEN_DAYS
    with FakeTelegram("123456:guard-token") as tg:
        services = _bot_services(tmp_path, fake, tg, openai_model="gpt-4.1-mini", providers="speech=local")
        try:
            handle_update(services, tg.text_update(503, "A video about the history of coffee", language_code="en"))
        finally:
            services.client.close()
        assert message("model_retired", "en") not in tg.texts(503)
    assert len(services.dispatcher.started) == 1


# ---- the cache, and a process that runs across the date ---------------------------------
@pytest.mark.parametrize("kind", ["file", "redis"])
def test_a_second_check_within_the_day_asks_nothing_and_a_crossed_date_refuses(tmp_path, fake, redis14, kind):
    def cache():  # a new object each time: as another process would have
        return FileLookupCache(tmp_path / "dates.json") if kind == "file" else RedisLookupCache(redis14)

    fake.models["gpt-4.1-mini"] = IN_TEN_DAYS
    settings = _settings(fake, openai_model="gpt-4.1-mini")
    first = ModelGuard(settings, cache=cache()).admit()
    assert [s.status for s in first] == [Status.WARN, Status.OK, Status.OK]
    assert first[0].days_left == 10 and first[0].replacement == "gpt-6-luna"
    assert fake.count("models") == 3

    again = ModelGuard(settings, cache=cache())
    assert again.check() == first
    # ten days on, the same process refuses the job from the cached date, asking nothing
    later = TODAY + timedelta(days=10)
    with pytest.raises(ConfigError) as refused:
        again.admit(today=later)
    assert refused.value.code == "model_retired"
    assert str(refused.value) == f"OPENAI_MODEL=gpt-4.1-mini was shut down by OpenAI on {IN_TEN_DAYS}; use gpt-6-luna"
    assert fake.count("models") == 3

    stale = ModelGuard(settings.model_copy(update={"model_check_hours": 0.0001}), cache=cache())
    time.sleep(0.5)  # older than MODEL_CHECK_HOURS: asked again
    stale.check()
    assert fake.count("models") == 6


def test_a_failed_lookup_is_not_repeated_on_every_job(tmp_path, fake):
    fake.fault("server_error", times=None, endpoint="models")
    guard = ModelGuard(_settings(fake), cache=FileLookupCache(tmp_path / "dates.json"))
    statuses = guard.admit()  # a server that cannot answer refuses nothing
    assert {s.status for s in statuses} == {Status.UNCHECKED}
    assert "answered HTTP 500" in statuses[0].line
    guard.admit()
    assert fake.count("models") == 3


# ---- the web process: start, /health, storyreel jobs ------------------------------------
def test_a_near_date_warns_at_web_start_and_shows_in_health_and_jobs(tmp_path, fake, redis14):
    from tests.botworld import free_port

    fake.models["gpt-4o-mini-tts"] = IN_TEN_DAYS
    port = free_port()
    env = _env(tmp_path, fake, OPENAI_TTS_MODEL="gpt-4o-mini-tts", TELEGRAM_BOT_TOKEN="1:x",
               TELEGRAM_WEBHOOK_SECRET="guard-secret", LOG_FORMAT="json", WORK_DIR=str(tmp_path / "work"))
    errors = tmp_path / "web.log"
    with open(errors, "wb") as log_file:
        web = subprocess.Popen([sys.executable, "-m", "storyreel.cli", "web", "--host", "127.0.0.1", "--port",
                                str(port), "--workers", "1"], env=env, cwd=tmp_path, stdout=log_file,
                               stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: b"model_shutdown_near" in errors.read_bytes(), web, errors)
        looked_up = fake.count("models")
        # the start check has filled the cache: `storyreel jobs` runs while gunicorn boots
        jobs = subprocess.Popen([sys.executable, "-m", "storyreel.cli", "jobs"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        health = _wait_for(lambda: _get_health(port), web, errors)
        jobs_out, jobs_err = jobs.communicate(timeout=60)
        health_again = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        web.terminate()
        web.wait(timeout=30)

    line = f"OPENAI_TTS_MODEL=gpt-4o-mini-tts will be shut down by OpenAI on {IN_TEN_DAYS} (in 10 days); " \
           "use gpt-realtime-2.1-mini"
    events = [json.loads(raw) for raw in errors.read_text().splitlines() if raw.startswith("{")]
    near = [e for e in events if e.get("event") == "model_shutdown_near"]
    assert len(near) == 1 and near[0]["level"] == "warning", events
    assert {k: near[0][k] for k in ("setting", "model", "date", "days_left", "replacement")} == {
        "setting": "OPENAI_TTS_MODEL", "model": "gpt-4o-mini-tts", "date": IN_TEN_DAYS, "days_left": 10,
        "replacement": "gpt-realtime-2.1-mini"}
    assert health.status_code == 200 and health.json()["warnings"] == [line]
    assert health_again.status_code == 200 and health_again.json()["warnings"] == [line]
    assert jobs.returncode == 0, jobs_err
    assert jobs_out.splitlines() == [f"warning: {line}", "no jobs in progress"]
    assert fake.count("models") == looked_up == 3  # /health and jobs read the cache the start filled
    assert DEFAULT_KEY not in errors.read_text() + jobs_out + jobs_err


def _get_health(port: int) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.HTTPError:
        return None


def _wait_for(probe, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the web process did not come up:\n" + log.read_text()[-3000:])


def test_health_never_waits_on_openai_and_reports_a_retired_model_with_200(fake, redis14):
    from storyreel.web import create_app

    fake.models["gpt-4.1-mini"] = YESTERDAY
    fake.latency = 1.0  # a slow OpenAI must not make /health slow
    app = create_app(_settings(fake, openai_model="gpt-4.1-mini", telegram_webhook_secret="guard-secret"),
                     enqueue=lambda update: None)
    client = app.test_client()
    started = time.perf_counter()
    first = client.get("/health")
    assert time.perf_counter() - started < 0.8
    assert first.status_code == 200 and first.json["warnings"] == []  # nothing cached yet: looked up behind

    deadline = time.monotonic() + 10
    while not (reply := client.get("/health")).json["warnings"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reply.status_code == 200 and reply.json["status"] == "ok"
    retired = f"OPENAI_MODEL=gpt-4.1-mini was shut down by OpenAI on {YESTERDAY}; use gpt-6-luna"
    assert reply.json["warnings"] == [retired]
    while len(list(redis14.scan_iter("storyreel:model:*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # let the background lookups end before the fake does
    assert fake.count("models") == 3  # one refresh at a time, however many /health calls came


# ---- storyreel doctor -----------------------------------------------------------------
def test_doctor_with_no_keys_passes_and_names_the_offline_stages(tmp_path):
    done = subprocess.run([sys.executable, "-m", "storyreel.cli", "doctor"], env=_env(tmp_path, None),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for stage in ("script", "pictures", "motion", "speech", "transcription"):
        assert f"ok    {stage}: local (offline)" in lines, lines
    assert "ok    OPENAI_API_KEY: not set" in lines and "ok    OpenAI models: none in use" in lines
    assert any(line.startswith("ok    ffmpeg: ") for line in lines)
    assert any(line.startswith("ok    redis: reachable at ") for line in lines)
    assert not any(line.startswith("FAIL") for line in lines) and done.stderr == ""


def test_doctor_fails_on_a_retired_model_and_never_shows_a_key(tmp_path, fake):
    fake.models["gpt-4.1-mini"] = YESTERDAY
    env = _env(tmp_path, fake, OPENAI_MODEL="gpt-4.1-mini", REDIS_URL="redis://:hunter2@127.0.0.1:6379/14")
    done = subprocess.run([sys.executable, "-m", "storyreel.cli", "doctor"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    fails = [line for line in lines if line.startswith("FAIL")]
    assert fails == [f"FAIL  OPENAI_MODEL=gpt-4.1-mini was shut down by OpenAI on {YESTERDAY}; use gpt-6-luna"]
    assert "ok    script: openai" in lines and "ok    OPENAI_API_KEY: set" in lines
    assert "ok    OPENAI_TRANSCRIBE_MODEL=gpt-transcribe: no shutdown date announced" in lines
    assert DEFAULT_KEY not in done.stdout + done.stderr and "hunter2" not in done.stdout + done.stderr
