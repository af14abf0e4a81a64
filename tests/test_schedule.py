"""The scheduler (``pipeline.schedule.produce``) on the loopback fakes: what starts when.

The providers are the real Runway and OpenAI ones, driven through their SDKs against
``FakeRunway`` and ``FakeOpenAI``; each is wrapped in ``Timed``, which only notes when
each call began and ended (nothing of the SDK is patched). Latencies are a tenth of a
second or so, enough for the order of events to be unambiguous on a busy machine.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from storyreel.media.files import FileManager
from storyreel.media.probe import probe
from storyreel.models import JobStatus
from storyreel.pipeline.runner import Pipeline
from storyreel.pipeline.store import LocalJobStore
from storyreel.providers.factory import build_providers
from storyreel.settings import Settings
from tests.conftest import leftovers
from tests.fakes.openai_server import DEFAULT_KEY as OPENAI_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.runway_server import FakeRunway

RUNWAY_KEY = "test-runway-key"
PICTURE_MODEL, CLIP_MODEL = "gen4_image", "gen4_turbo"
N = 8
PROMPT = "a video about the first railways"


class Timed:
    """A provider wrapper that records ``(kind, segment, started, ended)`` for every call."""

    def __init__(self, inner, kind: str, calls: list, lock: threading.Lock) -> None:
        self.inner, self.kind, self.calls, self.lock = inner, kind, calls, lock
        self.name = inner.name
        self.model = getattr(inner, "model", kind)
        self.max_chars = getattr(inner, "max_chars", 4096)
        if getattr(inner, "concurrency", None):
            self.concurrency = inner.concurrency

    def _timed(self, index: int, fn, *args, **kwargs):
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            with self.lock:
                self.calls.append((self.kind, index, started, time.monotonic()))

    def make(self, segment, out_path, fmt, **kw):
        return self._timed(segment.index, self.inner.make, segment, out_path, fmt, **kw)

    def animate(self, picture, segment, out_path, fmt, **kw):
        return self._timed(segment.index, self.inner.animate, picture, segment, out_path, fmt, **kw)

    def speak(self, text, out_path, *, language, **kw):
        return self._timed(int(Path(out_path).stem.split("_")[0]), self.inner.speak, text, out_path,
                           language=language, **kw)


class Answers:
    """Approvals whose answers the test sets (None: no answer yet). Each request is noted
    with the time and how many pictures and clips had been made by then."""

    def __init__(self, calls: list, **answers: bool | None) -> None:
        self.calls, self.answers, self.requests = calls, dict(answers), []

    def request(self, job, preview) -> None:
        done = {kind: sum(1 for c in list(self.calls) if c[0] == kind) for kind in ("pictures", "clips")}
        self.requests.append({"kind": preview.kind, "at": time.monotonic(), "done": done,
                              "files": [Path(f).exists() for f in preview.files]})

    def state(self, job, kind: str) -> bool | None:
        return self.answers.get(kind)


class Recorder:
    """A ``Progress`` that keeps every call."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, int]] = []
        self.advances: list[tuple[str, int, int]] = []

    def stage(self, job, stage: str, total: int) -> None:
        self.stages.append((stage, total))

    def advance(self, job, stage: str, done: int, total: int) -> None:
        self.advances.append((stage, done, total))


@pytest.fixture
def fakes():
    with FakeOpenAI() as openai_fake, FakeRunway(api_key=RUNWAY_KEY, picture_latency=0.15, clip_latency=0.3,
                                                 media_short_side=90, retry_after=0.01) as runway_fake:
        openai_fake.latency = 0.02
        yield openai_fake, runway_fake


class Harness:
    """Settings, timed providers and a pipeline on the fakes."""

    def __init__(self, tmp_path: Path, fakes, approvals: dict | None = None, **overrides) -> None:
        self.openai, self.runway = fakes
        values = dict(segment_count=N, segment_seconds=1.0, video_short_side=90, work_dir=tmp_path / "work",
                      openai_api_key=OPENAI_KEY, openai_base_url=f"{self.openai.url}/v1",
                      runway_api_key=RUNWAY_KEY, runway_base_url=self.runway.url, poll_interval=0.01,
                      task_timeout=10.0, concurrency=3, retries=0, providers="", model_concurrency={},
                      clips_during_review=False, max_cost_per_job=0.0, max_cost_per_user_day=0.0)
        values.update(overrides)
        self.settings = Settings(_env_file=None, **values)
        self.calls: list[tuple[str, int, float, float]] = []
        lock = threading.Lock()
        providers = build_providers(self.settings)
        providers.pictures = Timed(providers.pictures, "pictures", self.calls, lock)
        providers.motion = Timed(providers.motion, "clips", self.calls, lock)
        providers.speech = Timed(providers.speech, "narration", self.calls, lock)
        self.providers = providers
        self.approvals = Answers(self.calls, **(approvals or {"script": True, "pictures": True, "clips": True}))
        self.progress = Recorder()
        self.out = tmp_path / "out.mp4"

    def pipeline(self) -> Pipeline:
        return Pipeline(self.settings, self.providers, approvals=self.approvals, progress=self.progress)

    def deliver(self, job, outcome) -> None:
        shutil.copyfile(outcome.video, self.out)

    def run(self):
        pipeline = self.pipeline()
        job = pipeline.new_job(PROMPT)
        pipeline.run(job, self.deliver)
        return job

    def of(self, kind: str) -> list[tuple[str, int, float, float]]:
        return [c for c in self.calls if c[0] == kind]

    def request(self, kind: str) -> dict:
        (found,) = [r for r in self.approvals.requests if r["kind"] == kind]
        return found


def max_overlap(calls) -> int:
    """The most calls running at one instant."""
    events = sorted([(start, 1) for _, _, start, _ in calls] + [(end, -1) for _, _, _, end in calls],
                    key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_pictures_preview_is_asked_while_later_pictures_are_still_coming(tmp_path, fakes):
    h = Harness(tmp_path, fakes)
    h.run()

    asked = h.request("pictures")
    assert asked["files"] == [True] * 5, "the first 5 pictures exist when they are shown"
    assert asked["done"]["pictures"] < N, "the preview does not wait for every picture"
    assert asked["at"] < max(end for *_, end in h.of("pictures"))
    assert probe(h.out).duration == pytest.approx(N * 1.0, abs=0.15)


def test_a_clip_starts_before_the_last_picture_is_finished(tmp_path, fakes):
    h = Harness(tmp_path, fakes)
    h.run()

    first_clip = min(start for _, _, start, _ in h.of("clips"))
    assert first_clip < max(end for *_, end in h.of("pictures"))
    assert first_clip >= h.request("pictures")["at"], "no clip before the pictures are approved"
    for _, index, start, _ in h.of("clips"):  # and never before its own picture
        (picture,) = [c for c in h.of("pictures") if c[1] == index]
        assert start >= picture[3]


def test_only_the_first_3_clips_are_made_before_the_clips_are_approved(tmp_path, fakes):
    h = Harness(tmp_path, fakes, approvals={"script": True, "pictures": True, "clips": None})
    pipeline = h.pipeline()
    job = pipeline.new_job(PROMPT)
    assert pipeline.advance(job, h.deliver) is None

    assert job.status == JobStatus.AWAITING_CLIPS_APPROVAL
    assert h.runway.creates(CLIP_MODEL) == 3
    assert sorted(i for _, i, *_ in h.of("clips")) == [0, 1, 2]
    assert h.request("clips")["files"] == [True] * 3
    assert h.runway.creates(PICTURE_MODEL) == N, "pictures need no clip approval"

    h.approvals.answers["clips"] = True
    assert pipeline.advance(job, h.deliver) is not None
    assert h.runway.creates(CLIP_MODEL) == N
    assert leftovers(h.settings.work_dir) == []


def test_clips_during_review_makes_every_clip_while_the_person_looks(tmp_path, fakes):
    h = Harness(tmp_path, fakes, approvals={"script": True, "pictures": True, "clips": None},
                clips_during_review=True)
    pipeline = h.pipeline()
    job = pipeline.new_job(PROMPT)
    assert pipeline.advance(job, h.deliver) is None

    assert h.runway.creates(CLIP_MODEL) == N
    assert h.request("clips")["done"]["clips"] < N, "the preview still went out with the first 3"
    h.approvals.answers["clips"] = True
    assert pipeline.advance(job, h.deliver) is not None
    assert h.runway.creates(CLIP_MODEL) == N, "nothing was made twice"


def test_calls_per_model_never_exceed_its_limit_and_model_concurrency_wins(tmp_path, fakes):
    h = Harness(tmp_path, fakes, concurrency=3, model_concurrency={PICTURE_MODEL: 2})
    h.run()

    assert max_overlap(h.of("pictures")) == 2, "MODEL_CONCURRENCY for gen4_image overrides CONCURRENCY"
    assert max_overlap(h.of("clips")) == 3, "CONCURRENCY for the other models"
    assert len(h.of("pictures")) == N and len(h.of("clips")) == N


def test_narration_runs_alongside_the_pictures(tmp_path, fakes):
    h = Harness(tmp_path, fakes)
    h.run()

    narration = h.of("narration")
    assert len(narration) == N
    assert min(start for _, _, start, _ in narration) < max(end for *_, end in h.of("pictures"))
    assert max(end for *_, end in narration) < max(end for *_, end in h.of("clips"))


def test_a_job_waiting_for_a_person_frees_the_worker_and_resumes_without_redoing(tmp_path, fakes):
    h = Harness(tmp_path, fakes, approvals={"script": None, "pictures": None, "clips": None})
    store = LocalJobStore(FileManager(h.settings.work_dir))
    job = h.pipeline().new_job(PROMPT)
    job_id = job.job_id

    def step():  # what the bot does on each button press: a fresh pipeline, the stored job
        nonlocal job
        started = time.monotonic()
        result = h.pipeline().advance(job, h.deliver, wait=False)
        took = time.monotonic() - started
        job = store.load(job_id) or job
        return result, took

    result, took = step()
    assert result is None and job.status == JobStatus.AWAITING_SCRIPT_APPROVAL
    assert h.runway.calls == [] and h.openai.count("realtime") == 0, "nothing is made before the script is approved"

    h.approvals.answers["script"] = True
    result, took = step()
    assert result is None and job.status == JobStatus.AWAITING_PICTURES_APPROVAL
    assert h.runway.creates(PICTURE_MODEL) == N and h.runway.creates(CLIP_MODEL) == 0
    assert h.openai.count("realtime") == N, "the narration is done while the person looks"
    assert took < 5, "returns as soon as only the person is left to wait for"

    h.approvals.answers["pictures"] = True
    result, _ = step()
    assert result is None and job.status == JobStatus.AWAITING_CLIPS_APPROVAL
    assert h.runway.creates(CLIP_MODEL) == 3

    h.approvals.answers["clips"] = True
    result, _ = step()
    assert result is not None and probe(h.out).duration == pytest.approx(N * 1.0, abs=0.15)
    assert h.openai.count("responses") == 1 and h.openai.count("realtime") == N
    assert h.runway.creates(PICTURE_MODEL) == N and h.runway.creates(CLIP_MODEL) == N
    assert [r["kind"] for r in h.approvals.requests] == ["script", "pictures", "clips"], "each asked once"
    assert leftovers(h.settings.work_dir) == []


def test_progress_is_reported_for_every_segment(tmp_path, fakes):
    h = Harness(tmp_path, fakes)
    h.run()

    for stage in ("pictures", "clips"):
        assert (stage, N) in h.progress.stages
        done = [d for s, d, total in h.progress.advances if s == stage]
        assert len(done) == N, f"one {stage} update per finished segment"
        assert done == sorted(done) and done[-1] == N
        assert all(total == N for s, _, total in h.progress.advances if s == stage)
    narration = [d for s, d, _ in h.progress.advances if s == "narration"]
    assert len(narration) >= N and narration[-1] == N
