"""A job resumed on another host buys nothing again.

Worker A (its own WORK_DIR) writes the script and makes every picture, clip and
narration piece on the fake OpenAI and Runway servers, keeping the job in Redis and its
narration pieces in ``RedisResults``. A's folder is then deleted (the host is gone) and
worker B, with another WORK_DIR and the same Redis (database 5), runs the job to its
video: the pictures and clips come back by their recorded Runway task ids, the narration
from Redis; no new Runway task, no new speech call, each paid call once in the ledger,
and nothing kept in Redis once the job has ended.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

from storyreel.bot.results import RedisResults
from storyreel.bot.state import RedisJobStore
from storyreel.media.files import FileManager
from storyreel.media.probe import probe
from storyreel.pipeline.runner import Pipeline
from storyreel.pipeline.stages import Outcome
from storyreel.providers.factory import build_providers
from tests.test_cloud_job import RUNWAY_KEY, cloud_settings  # noqa: F401 (fixtures below)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.runway_server import FakeRunway

URL = "redis://127.0.0.1:6379/5"
N = 4


@pytest.fixture
def redis_pair():
    text = redis.Redis.from_url(URL, decode_responses=True)
    raw = redis.Redis.from_url(URL)
    text.flushdb()
    yield text, raw
    text.flushdb()


def test_results_round_trip_with_the_job_s_ttl(tmp_path: Path, redis_pair):
    text, raw = redis_pair
    results = RedisResults(raw)
    piece = tmp_path / "a" / "003.wav"
    piece.parent.mkdir()
    piece.write_bytes(b"RIFF" + bytes(range(256)) * 1000)
    results.keep("job1", "narration/003", piece)
    assert 86000 < text.ttl("storyreel:results:job1") <= 86400
    back = tmp_path / "b" / "003.wav"
    back.parent.mkdir()
    assert results.fetch("job1", "narration/003", back)
    assert back.read_bytes() == piece.read_bytes()
    assert not results.fetch("job1", "narration/004", tmp_path / "b" / "004.wav")
    assert not (tmp_path / "b" / "004.wav").exists()
    results.forget("job1")
    assert not text.exists("storyreel:results:job1")


def test_a_job_resumed_on_another_host_pays_for_nothing_again(tmp_path: Path, redis_pair):
    text, raw = redis_pair
    store, results = RedisJobStore(text), RedisResults(raw)
    with FakeOpenAI() as openai_fake, \
            FakeRunway(api_key=RUNWAY_KEY, picture_latency=0.03, clip_latency=0.06, media_short_side=90) as runway:
        host_a = cloud_settings(tmp_path, openai_fake, runway, segment_count=N, work_dir=tmp_path / "host-a")
        host_b = host_a.model_copy(update={"work_dir": tmp_path / "host-b"})
        with build_providers(host_a) as providers:
            a = Pipeline(host_a, providers, files=FileManager(host_a.work_dir), store=store, results=results)
            job = a.new_job("A video about the history of coffee", language="en")
            a.files.create_job_dir(job.job_id)
            a.write_script(job)
            a.make_pictures(job)
            a.make_clips(job)
            a.narrate(job)
        spoken = sum(1 for s in job.script.segments if s.text.strip())
        assert spoken and text.hlen(f"storyreel:results:{job.job_id}") == spoken
        paid_speech, pictures, clips = openai_fake.count("realtime"), runway.creates("gen4_image"), \
            runway.creates("gen4_turbo")
        costs = len(store.load(job.job_id).costs)
        shutil.rmtree(host_a.work_dir)  # host A is gone, and its disk with it

        delivered: list[Outcome] = []
        with build_providers(host_b) as providers:
            b = Pipeline(host_b, providers, files=FileManager(host_b.work_dir), store=store, results=results)
            resumed = store.load(job.job_id)
            outcome = b.advance(resumed, lambda _job, out: delivered.append(probe(out.video)), wait=True)

        assert outcome is not None and delivered and delivered[0].duration == pytest.approx(N, abs=0.1)
        assert openai_fake.count("realtime") == paid_speech, "no narration piece spoken again"
        assert (runway.creates("gen4_image"), runway.creates("gen4_turbo")) == (pictures, clips) == (N, N)
        final = store.load(job.job_id)
        assert final.status.value == "done"
        assert len(final.costs) == costs, "the ledger holds each paid call once"
        assert [h["count"] for h in final.history if h["event"] == "results_restored"] == [spoken]
        assert not text.exists(f"storyreel:results:{job.job_id}"), "kept results go when the job ends"
        assert list(host_b.work_dir.iterdir()) == []


def test_a_host_sweeps_the_folders_of_jobs_that_ended_elsewhere(tmp_path: Path, redis_pair):
    from storyreel.models import JobStatus
    from storyreel.pipeline.store import sweep_ended

    text, _ = redis_pair
    store, files = RedisJobStore(text), FileManager(tmp_path / "host-a")
    with FakeOpenAI() as openai_fake, FakeRunway(api_key=RUNWAY_KEY) as runway:
        settings = cloud_settings(tmp_path, openai_fake, runway, work_dir=files.root)
        with build_providers(settings) as providers:
            pipeline = Pipeline(settings, providers, files=files, store=store)
            ended, going = (pipeline.new_job(f"A video about tides {n}", language="en") for n in range(2))
    for job, status in ((ended, JobStatus.DONE), (going, JobStatus.CLIPS)):
        job.status = status
        store.save(job)
        files.save_file(job.job_id, "pictures/000.png", b"png")
    files.create_job_dir("no-record-here")
    assert sweep_ended(files, store) == [ended.job_id]
    assert sorted(p.name for p in files.root.iterdir()) == sorted([going.job_id, "no-record-here"])
