"""Whole cloud jobs on the loopback fakes: the real ``openai`` and ``runwayml`` SDKs over HTTP.

Each test runs ``Pipeline`` (script → pictures → clips → narration → assembly) against
``FakeOpenAI`` and ``FakeRunway`` on 127.0.0.1 and judges the result by what a user and
an operator would see: a playable video of the right length, the job's cost ledger, the
fakes' own counts of what was created and paid for, and the job folder left behind.
Latencies are tens of milliseconds and media 160×90, so the file stays well under 60 s.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storyreel.errors import ConfigError, CostCapExceeded, ProviderRejected, ProviderUnavailable, QuotaExceeded
from storyreel.media.files import FileManager
from storyreel.media.probe import probe
from storyreel.messages import message_for
from storyreel.pipeline.ledger import MemorySpending, estimate
from storyreel.pipeline.runner import Pipeline
from storyreel.pipeline.store import LocalJobStore
from storyreel.providers.factory import build_providers, choose
from storyreel.settings import Settings
from tests.conftest import ROOT, leftovers, run_cli
from tests.fakes.openai_server import DEFAULT_KEY as OPENAI_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.runway_server import FakeRunway

RUNWAY_KEY = "test-runway-key"
PICTURE_MODEL, CLIP_MODEL = "gen4_image", "gen4_turbo"
PROMPT = "a video about the history of lighthouses"
N = 4  # segments of 1 s


@pytest.fixture
def openai_fake():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def runway_fake():
    # Retry-After 10 ms: the SDK's own retries of 429/5xx take milliseconds, not seconds
    with FakeRunway(api_key=RUNWAY_KEY, picture_latency=0.03, clip_latency=0.06, media_short_side=90,
                    retry_after=0.01) as fake:
        yield fake


def cloud_settings(tmp_path: Path, openai_fake: FakeOpenAI, runway_fake: FakeRunway, **overrides) -> Settings:
    values = dict(
        segment_count=N, segment_seconds=1.0, video_short_side=90, work_dir=tmp_path / "work",
        openai_api_key=OPENAI_KEY, openai_base_url=f"{openai_fake.url}/v1", openai_max_retries=2,
        openai_timeout=10.0, runway_api_key=RUNWAY_KEY, runway_base_url=runway_fake.url,
        runway_max_retries=2, runway_timeout=10.0, poll_interval=0.02, task_timeout=10.0,
        concurrency=3, retries=2, providers="", max_cost_per_job=0.0, max_cost_per_user_day=0.0,
        # every picture independent of the others (the reference picture has tests of its own)
        reference="off",
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_pipeline(settings: Settings, **kw) -> Pipeline:
    return Pipeline(settings, build_providers(settings), **kw)


def run_job(pipeline: Pipeline, tmp_path: Path, prompt: str = PROMPT):
    """Run a job to the end; the delivered video is copied out before cleanup deletes it."""
    job = pipeline.new_job(prompt)
    out = tmp_path / f"{job.job_id}.mp4"
    outcome = pipeline.run(job, lambda j, o: shutil.copyfile(o.video, out))
    return job, outcome, out


def records(job, stage: str) -> list[dict]:
    return [c for c in job.costs if c["stage"] == stage]


def priced(settings: Settings, record: dict) -> float:
    """A ledger record's price, recomputed from its units and the settings' price table."""
    return sum(units * settings.prices[f"{record['model']}/{unit}"] for unit, units in record["units"].items())


def assert_video(path: Path, seconds: float) -> None:
    info = probe(path)
    assert info.has_video and info.has_audio, info
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert abs(info.duration - seconds) < 0.15, info.duration


def assert_clean(settings: Settings) -> None:
    assert leftovers(settings.work_dir) == [], "the job's folder must be deleted"


# ---- the whole job ---------------------------------------------------------------------
def test_full_cloud_job_makes_a_video_and_records_every_paid_call(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    pipeline = make_pipeline(settings)
    job, outcome, out = run_job(pipeline, tmp_path)

    assert_video(out, N * 1.0)
    assert outcome.duration == pytest.approx(N * 1.0, abs=0.15)
    assert job.status.value == "done"
    assert runway_fake.creates(PICTURE_MODEL) == N and runway_fake.creates(CLIP_MODEL) == N
    assert runway_fake.paid(PICTURE_MODEL) == N and runway_fake.paid(CLIP_MODEL) == N
    # narration over the Realtime API: one response a segment, on no more connections than
    # the concurrency allows, and nothing through the shut-down speech endpoint
    assert openai_fake.count("responses") == 1 and openai_fake.count("realtime") == N
    assert openai_fake.count("speech") == 0 and 1 <= openai_fake.realtime_connections <= 3
    # every clip was asked for with the picture's Runway URL (no upload needed while fresh)
    assert {t.prompt_image_kind for t in runway_fake.tasks.values() if t.kind == "clip"} == {"url"}

    # one ledger record per paid call, each with its model, units and the price table's cost
    assert [c["model"] for c in records(job, "script")] == ["gpt-6-luna"]
    assert sorted(c["segment"] for c in records(job, "pictures")) == list(range(N))
    assert sorted(c["segment"] for c in records(job, "clips")) == list(range(N))
    assert sorted(c["segment"] for c in records(job, "narration")) == list(range(N))
    assert len(job.costs) == 1 + 3 * N
    for record in job.costs:
        assert record["cost"] == pytest.approx(priced(settings, record), abs=1e-6), record
    assert all(c["units"] == {"image": 1.0} and c["model"] == PICTURE_MODEL for c in records(job, "pictures"))
    # a 1 s segment still pays for gen4_turbo's shortest clip, 5 s
    assert all(c["units"] == {"second": 5.0} and c["model"] == CLIP_MODEL for c in records(job, "clips"))
    # each narration piece is priced by what response.done reported: audio at 20 tokens a
    # second of speech (the fake speaks 15 characters a second), plus its text tokens
    speech_seconds = sum(len(s.text) / 15 for s in job.script.segments if s.text.strip())
    audio_tokens = sum(c["units"]["audio_output_token"] for c in records(job, "narration"))
    assert audio_tokens == pytest.approx(speech_seconds * 20, abs=N)
    assert all(c["model"] == "gpt-realtime-2.1-mini" and c["units"]["input_token"] > 0
               for c in records(job, "narration"))
    expected = (N * 0.05 + N * 5 * 0.05
                + sum(priced(settings, c) for c in records(job, "script") + records(job, "narration")))
    assert job.cost == pytest.approx(expected, abs=1e-5)
    assert_clean(settings)


def test_estimate_prices_clips_as_runway_bills_them(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    pipeline = make_pipeline(settings)
    job, _, _ = run_job(pipeline, tmp_path)
    guess = estimate(settings, pipeline.providers, segment_count=N, segment_seconds=1.0)
    assert guess.pictures == pytest.approx(sum(c["cost"] for c in records(job, "pictures")))
    assert guess.clips == pytest.approx(sum(c["cost"] for c in records(job, "clips")))


# ---- faults, each ending as the spec says ----------------------------------------------
def test_a_failed_runway_task_is_retried_and_each_segment_paid_once(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    runway_fake.fail_next(1, model=PICTURE_MODEL)
    job, _, out = run_job(make_pipeline(settings), tmp_path)

    assert_video(out, N * 1.0)
    assert runway_fake.creates(PICTURE_MODEL) == N + 1, "the FAILED task is replaced by one new task"
    assert runway_fake.paid(PICTURE_MODEL) == N
    failed = [t for t in runway_fake.tasks.values() if t.failure_code]
    assert len(failed) == 1 and failed[0].model == PICTURE_MODEL
    pictures = records(job, "pictures")
    assert sorted(c["segment"] for c in pictures) == list(range(N)), "a failed attempt costs nothing"
    assert max(c["attempt"] for c in pictures) == 2
    assert_clean(settings)


def test_safety_refusal_fails_the_job_and_starts_nothing_more(tmp_path, openai_fake, runway_fake):
    # one picture at a time, so "nothing later started" is exact; speech is slow enough
    # that narration is still running when the refusal arrives
    settings = cloud_settings(tmp_path, openai_fake, runway_fake, concurrency=1, segment_count=6)
    openai_fake.latency = openai_fake.realtime_latency = 0.1
    runway_fake.safety_next(1)
    pipeline = make_pipeline(settings)
    job = pipeline.new_job(PROMPT)
    with pytest.raises(ProviderRejected) as caught:
        pipeline.run(job, lambda j, o: pytest.fail("a refused job must not be delivered"))

    assert caught.value.code == "safety_rejected"
    assert "safety filter" in message_for(caught.value, "en")
    assert job.status.value == "failed" and job.error == "safety_rejected"
    assert runway_fake.creates(PICTURE_MODEL) == 1, "a permanent refusal is not retried, later segments wait"
    assert runway_fake.creates(CLIP_MODEL) == 0
    assert openai_fake.count("realtime") < 6, "the narration stops too"
    assert records(job, "pictures") == []
    assert_clean(settings)


def test_throttled_tasks_wait_and_the_job_finishes(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    runway_fake.throttle_for(0.6)  # longer than the script takes, so pictures queue
    _, _, out = run_job(make_pipeline(settings), tmp_path)

    assert_video(out, N * 1.0)
    assert any(status == "THROTTLED" for _, status in runway_fake.served)
    assert runway_fake.creates(PICTURE_MODEL) == N and runway_fake.creates(CLIP_MODEL) == N
    assert_clean(settings)


def test_quota_429_on_create_fails_fast_without_a_hot_loop(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake, concurrency=1, runway_max_retries=2)
    runway_fake.quota_exceeded()
    pipeline = make_pipeline(settings)
    job = pipeline.new_job(PROMPT)
    started = time.monotonic()
    with pytest.raises(QuotaExceeded) as caught:
        pipeline.run(job, lambda j, o: pytest.fail("must not deliver"))

    assert caught.value.code == "provider_quota"
    # the SDK's 3 attempts for the first picture, then nothing: the pipeline does not retry it
    assert len(runway_fake.calls_to("POST", "/v1/text_to_image")) == 3
    assert runway_fake.calls_to("POST", "/v1/image_to_video") == []
    assert runway_fake.creates() == 0
    assert time.monotonic() - started < 5
    assert_clean(settings)


def test_a_500_on_create_is_retried_by_the_sdk_and_the_job_finishes(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    runway_fake.server_errors(1, path="/v1/image_to_video")
    job, _, out = run_job(make_pipeline(settings), tmp_path)

    assert_video(out, N * 1.0)
    assert len(runway_fake.calls_to("POST", "/v1/image_to_video")) == N + 1
    assert runway_fake.creates(CLIP_MODEL) == N
    assert all(c["attempt"] == 1 for c in records(job, "clips")), "the SDK retried, not the pipeline"


def test_expired_picture_url_makes_the_clip_from_a_data_uri(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    pipeline = make_pipeline(settings)
    job = pipeline.new_job(PROMPT)
    pipeline.files.create_job_dir(job.job_id)
    pipeline.write_script(job)
    pipeline.make_pictures(job)
    runway_fake.expire_outputs()  # the pictures' signed URLs die before the clips are asked for
    out = tmp_path / "out.mp4"
    pipeline.run(job, lambda j, o: shutil.copyfile(o.video, out))

    assert_video(out, N * 1.0)
    clips = [t for t in runway_fake.tasks.values() if t.kind == "clip"]
    assert len(clips) == N and {t.prompt_image_kind for t in clips} == {"data_uri"}
    # each clip: one refused URL (400 creates no task, costs nothing), one data URI
    assert len(runway_fake.calls_to("POST", "/v1/image_to_video")) == 2 * N
    assert runway_fake.creates(PICTURE_MODEL) == N


def test_a_task_that_never_finishes_times_out_and_is_deleted(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake, task_timeout=0.4, retries=0, concurrency=1)
    runway_fake.never_finish_next(1)
    pipeline = make_pipeline(settings)
    job = pipeline.new_job(PROMPT)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        pipeline.run(job, lambda j, o: pytest.fail("must not deliver"))
    took = time.monotonic() - started

    assert caught.value.code == "generation_timeout"
    assert 0.4 <= took < 5
    (stuck,) = [t for t in runway_fake.tasks.values() if t.never_finish]
    assert stuck.deleted, "a task we gave up on is deleted so it stops costing"
    assert runway_fake.calls_to("DELETE", f"/v1/tasks/{stuck.id}")
    assert runway_fake.creates() == 1
    assert_clean(settings)


def test_a_script_with_the_wrong_segment_count_is_repaired(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    openai_fake.fault("wrong_count", endpoint="responses")
    job, _, out = run_job(make_pipeline(settings), tmp_path)

    assert_video(out, N * 1.0)
    assert openai_fake.count("responses") == 2
    assert len(job.script.segments) == N
    (script,) = records(job, "script")  # one step, two requests: both requests' tokens are in it
    assert script["cost"] == pytest.approx(priced(settings, script), abs=1e-6)
    assert runway_fake.creates(PICTURE_MODEL) == N


def test_a_script_malformed_twice_is_script_invalid(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    openai_fake.fault("malformed_json", times=2, endpoint="responses")
    pipeline = make_pipeline(settings)
    job = pipeline.new_job(PROMPT)
    with pytest.raises(ProviderRejected) as caught:
        pipeline.run(job, lambda j, o: pytest.fail("must not deliver"))

    assert caught.value.code == "script_invalid"
    assert openai_fake.count("responses") == 2, "one repair, not a retry loop"
    assert runway_fake.calls == [] and openai_fake.count("realtime") == 0
    assert_clean(settings)


# ---- never paid twice ------------------------------------------------------------
def _reload(settings: Settings, job_id: str):
    """What a fresh worker sees: a new pipeline, the job as its job.json recorded it."""
    pipeline = make_pipeline(settings)
    job = LocalJobStore(FileManager(settings.work_dir)).load(job_id)
    assert job is not None
    return pipeline, job


def test_a_job_resumed_after_its_pictures_pays_for_each_picture_once(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    first = make_pipeline(settings)
    job = first.new_job(PROMPT)
    first.files.create_job_dir(job.job_id)
    first.write_script(job)
    first.make_pictures(job)
    job_id = job.job_id
    del first, job  # the worker dies here

    pipeline, job = _reload(settings, job_id)
    assert all(s.picture_task_id and Path(s.picture_path).exists() for s in job.segments)
    lost = job.segments[2]  # its file is gone (another disk), its task is still on record
    Path(lost.picture_path).unlink()
    out = tmp_path / "out.mp4"
    pipeline.run(job, lambda j, o: shutil.copyfile(o.video, out))

    assert_video(out, N * 1.0)
    assert runway_fake.creates(PICTURE_MODEL) == N, "no picture was created twice"
    assert runway_fake.creates(CLIP_MODEL) == N
    assert openai_fake.count("responses") == 1, "the script was not written again"
    assert sorted(c["segment"] for c in records(job, "pictures")) == list(range(N)), \
        "the re-downloaded picture is not charged again"
    assert_clean(settings)


_CRASHING_WORKER = """
import json, sys
from storyreel.log import configure_logging
from storyreel.settings import Settings
from storyreel.pipeline.runner import Pipeline
from storyreel.providers.factory import build_providers
settings = Settings(_env_file=None, **json.loads(sys.argv[1]))
configure_logging("console", "CRITICAL")  # stdout carries the job id alone
pipeline = Pipeline(settings, build_providers(settings))
job = pipeline.new_job(sys.argv[2])
pipeline.files.create_job_dir(job.job_id)
pipeline.write_script(job)
print(job.job_id, flush=True)
pipeline.make_pictures(job)
"""


def test_a_worker_killed_mid_poll_is_resumed_by_polling_not_by_creating(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    runway_fake.throttle_for(60)  # tasks are created and recorded, none can finish
    plain = settings.model_dump(mode="json", include={
        "segment_count", "segment_seconds", "video_short_side", "work_dir", "openai_base_url",
        "runway_base_url", "poll_interval", "task_timeout", "concurrency", "reference"})
    plain.update(openai_api_key=OPENAI_KEY, runway_api_key=RUNWAY_KEY)
    worker = subprocess.Popen([sys.executable, "-c", _CRASHING_WORKER, json.dumps(plain), PROMPT], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        job_id = worker.stdout.readline().strip()
        state = settings.work_dir / job_id / "job.json"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            recorded = [s["picture_task_id"] for s in json.loads(state.read_text())["segments"]] \
                if state.exists() else []
            if sum(1 for t in recorded if t) == 3:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the worker never recorded its picture tasks")
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait(10)
        worker.stdout.close()
    in_flight = {t for t in recorded if t}
    assert runway_fake.creates(PICTURE_MODEL) == 3
    runway_fake.clear_faults()

    pipeline, job = _reload(settings, job_id)
    out = tmp_path / "out.mp4"
    pipeline.run(job, lambda j, o: shutil.copyfile(o.video, out))

    assert_video(out, N * 1.0)
    assert runway_fake.creates(PICTURE_MODEL) == N, "the 3 recorded tasks were polled, not created again"
    assert all("SUCCEEDED" in runway_fake.statuses(t) for t in in_flight)
    assert runway_fake.paid(PICTURE_MODEL) == N
    assert sorted(c["segment"] for c in records(job, "pictures")) == list(range(N))
    assert openai_fake.count("responses") == 1


# ---- provider choice --------------------------------------------------------------
def test_only_an_openai_key_means_local_pictures_and_motion(tmp_path, openai_fake, runway_fake, monkeypatch):
    for name in ("RUNWAY_API_KEY", "RUNWAYML_API_SECRET", "PROVIDERS"):
        monkeypatch.delenv(name, raising=False)
    settings = cloud_settings(tmp_path, openai_fake, runway_fake, runway_api_key=None)
    assert choose(settings) == {"script": "openai", "pictures": "local", "motion": "local", "speech": "openai",
                                "transcription": "openai"}
    providers = build_providers(settings)
    assert (providers.pictures.name, providers.motion.name) == ("local", "local")
    assert (providers.script.name, providers.speech.name) == ("openai", "openai")


def test_runway_pictures_with_local_motion_costs_no_clips(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake, providers="pictures=runway,motion=local")
    job, _, out = run_job(make_pipeline(settings), tmp_path)

    assert_video(out, N * 1.0)
    assert runway_fake.creates(PICTURE_MODEL) == N
    assert runway_fake.creates(CLIP_MODEL) == 0 and runway_fake.calls_to("POST", "/v1/image_to_video") == []
    assert {c["stage"] for c in job.costs} == {"script", "pictures", "narration"}
    assert job.cost == pytest.approx(sum(priced(settings, c) for c in job.costs), abs=1e-5)  # each entry is rounded
    assert job.cost < N * 0.05 + 0.01  # pictures and a few cents of words


def test_naming_runway_without_its_key_is_a_config_error_naming_the_variable(tmp_path, openai_fake, runway_fake,
                                                                              monkeypatch):
    for name in ("RUNWAY_API_KEY", "RUNWAYML_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = cloud_settings(tmp_path, openai_fake, runway_fake, runway_api_key=None,
                              providers="pictures=runway,motion=local")
    with pytest.raises(ConfigError) as caught:
        build_providers(settings)
    assert "RUNWAY_API_KEY" in message_for(caught.value, "en")
    assert runway_fake.calls == []


def _cli_env(openai_fake: FakeOpenAI, runway_fake: FakeRunway) -> dict[str, str]:
    return {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": f"{openai_fake.url}/v1",
            "RUNWAY_API_KEY": RUNWAY_KEY, "RUNWAYML_BASE_URL": runway_fake.url, "POLL_INTERVAL": "0.02",
            "PROVIDERS": "", "MAX_COST_PER_JOB": "0", "MAX_COST_PER_USER_DAY": "0"}


def test_cli_makes_a_video_with_runway_pictures_and_local_motion(tmp_path, work_dir, openai_fake, runway_fake):
    out = tmp_path / "cli.mp4"
    result = run_cli(["make", PROMPT, "--providers", "pictures=runway,motion=local", "--yes", "--segments", "3",
                      "--seconds", "1", "--resolution", "90", "--out", str(out)],
                     work_dir=work_dir, env=_cli_env(openai_fake, runway_fake), timeout=120)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(out.resolve())
    assert_video(out, 3.0)
    assert runway_fake.creates(PICTURE_MODEL) == 3 and runway_fake.creates(CLIP_MODEL) == 0
    assert openai_fake.count("responses") == 1 and openai_fake.count("realtime") == 3
    assert leftovers(work_dir) == []


def test_cli_refuses_a_bad_providers_value_in_one_line(tmp_path, work_dir, openai_fake, runway_fake):
    result = run_cli(["make", PROMPT, "--providers", "pictures=dalle", "--yes", "--segments", "3"],
                     work_dir=work_dir, env=_cli_env(openai_fake, runway_fake), timeout=60)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storyreel: ") and "dalle" in lines[0], result.stderr
    assert openai_fake.calls == [] and runway_fake.calls == []
    assert leftovers(work_dir) == []


# ---- cost caps --------------------------------------------------------------------
def test_a_job_over_the_job_cap_is_refused_before_any_call(tmp_path, openai_fake, runway_fake):
    settings = cloud_settings(tmp_path, openai_fake, runway_fake, max_cost_per_job=0.10)
    pipeline = make_pipeline(settings)
    with pytest.raises(CostCapExceeded) as caught:
        pipeline.new_job(PROMPT)

    assert caught.value.code == "cost_cap_job"
    assert "$0.10" in message_for(caught.value, "en")
    assert openai_fake.calls == [] and runway_fake.calls == []
    assert leftovers(settings.work_dir) == []


def test_the_daily_cap_counts_what_the_user_already_spent(tmp_path, openai_fake, runway_fake):
    spending = MemorySpending()
    settings = cloud_settings(tmp_path, openai_fake, runway_fake)
    first = make_pipeline(settings, spending=spending)
    job = first.new_job(PROMPT, user_id=7)
    first.run(job, lambda j, o: None)
    assert spending.today(7) == pytest.approx(job.cost, abs=1e-6), "the ledger feeds the user's daily total"
    assert spending.today(8) == 0

    capped = cloud_settings(tmp_path, openai_fake, runway_fake, max_cost_per_user_day=job.cost + 0.05)
    calls = len(openai_fake.calls) + len(runway_fake.calls)
    with pytest.raises(CostCapExceeded) as caught:
        make_pipeline(capped, spending=spending).new_job(PROMPT, user_id=7)
    assert caught.value.code == "cost_cap_day"
    assert len(openai_fake.calls) + len(runway_fake.calls) == calls, "nothing was spent on the refused job"
    # another user with nothing spent today is not affected
    assert make_pipeline(capped, spending=spending).new_job(PROMPT, user_id=8).estimate > 0
