"""The pipeline with real offline providers, some wrapped to fail on purpose."""

from __future__ import annotations

import io
import json
import threading

import pytest
import structlog

from storyreel.errors import JobCancelled, ProviderRejected, ProviderUnavailable
from storyreel.log import configure_logging
from storyreel.media.files import FileManager
from storyreel.pipeline.runner import Pipeline
from storyreel.providers.factory import build_providers
from storyreel.settings import Settings


def _settings(tmp_path, **kw) -> Settings:
    base = dict(segment_count=4, segment_seconds=1.0, video_short_side=90, work_dir=tmp_path / "work",
                concurrency=2, retries=2)
    base.update(kw)
    return Settings(**base)


class Flaky:
    """A picture maker that fails the given segments a number of times first."""

    name = "flaky"

    def __init__(self, inner, failures: dict[int, list[Exception]]):
        self.inner, self.failures = inner, failures
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def make(self, segment, out_path, fmt, *, seed, task=None, stop=None, style=None):
        with self.lock:
            self.calls.append(segment.index)
            queue = self.failures.get(segment.index)
            err = queue.pop(0) if queue else None
        if err is not None:
            raise err
        return self.inner.make(segment, out_path, fmt, seed=seed)


def _pipeline(settings, pictures=None, **kw):
    providers = build_providers(settings)
    if pictures is not None:
        pictures.inner = providers.pictures
        providers.pictures = pictures
    return Pipeline(settings, providers, **kw)


def test_transient_failures_are_retried_once_each_and_the_job_finishes(tmp_path):
    settings = _settings(tmp_path)
    flaky = Flaky(None, {1: [ProviderUnavailable("slow", retry_after=0.01)],
                         2: [ProviderUnavailable("busy", retry_after=0.01)] * 2})
    pipeline = _pipeline(settings, flaky)
    job = pipeline.new_job("a video about the moon")
    delivered = []
    outcome = pipeline.run(job, lambda j, o: delivered.append(o.video.stat().st_size))
    assert delivered and delivered[0] == outcome.size
    assert sorted(flaky.calls) == [0, 1, 1, 2, 2, 2, 3]
    assert list((tmp_path / "work").iterdir()) == []


def test_permanent_failure_stops_the_stage_and_cleans_up(tmp_path):
    settings = _settings(tmp_path, concurrency=1, retries=2)
    flaky = Flaky(None, {1: [ProviderRejected("SAFETY.INPUT", code="provider_rejected")]})
    pipeline = _pipeline(settings, flaky)
    job = pipeline.new_job("a video about the moon")
    with pytest.raises(ProviderRejected):
        pipeline.run(job, lambda j, o: pytest.fail("must not deliver"))
    assert flaky.calls == [0, 1], "a permanent error is not retried and later segments never start"
    assert job.status.value == "failed"
    assert list((tmp_path / "work").iterdir()) == []


def test_cancel_mid_stage_stops_further_provider_calls(tmp_path):
    settings = _settings(tmp_path, segment_count=8, concurrency=1)
    cancel = threading.Event()
    flaky = Flaky(None, {})
    original = flaky.make

    def make_then_cancel(segment, out_path, fmt, *, seed, task=None, stop=None, style=None):
        result = original(segment, out_path, fmt, seed=seed)
        if segment.index == 2:
            cancel.set()
        return result

    flaky.make = make_then_cancel
    pipeline = _pipeline(settings, flaky, cancelled=cancel.is_set)
    job = pipeline.new_job("a video about the moon")
    with pytest.raises(JobCancelled):
        pipeline.run(job, lambda j, o: pytest.fail("must not deliver"))
    assert flaky.calls == [0, 1, 2]
    assert list((tmp_path / "work").iterdir()) == []


def test_stages_are_idempotent_and_skip_finished_segments(tmp_path):
    settings = _settings(tmp_path)
    flaky = Flaky(None, {})
    pipeline = _pipeline(settings, flaky)
    job = pipeline.new_job("a video about the moon")
    FileManager(settings.work_dir).create_job_dir(job.job_id)
    pipeline.write_script(job)
    pipeline.make_pictures(job)
    first_script = job.script.to_dict()
    pipeline.write_script(job)
    pipeline.make_pictures(job)
    assert job.script.to_dict() == first_script
    assert sorted(flaky.calls) == [0, 1, 2, 3], "a second run pays for nothing"
    saved = pipeline.recorder.store.load(job.job_id)
    assert [s.picture_path for s in saved.segments] == [s.picture_path for s in job.segments]


def test_logs_are_structured_and_mask_secrets():
    buf = io.StringIO()
    configure_logging("json", "INFO", stream=buf)
    log = structlog.get_logger("t")
    log.info("provider_call", provider="openai", api_key="sk-live-123", bot_token="1:abc", duration_ms=5)
    event = json.loads(buf.getvalue().splitlines()[-1])
    assert event["event"] == "provider_call" and event["duration_ms"] == 5
    assert event["api_key"] == "***" and event["bot_token"] == "***"
    assert "sk-live" not in buf.getvalue()
