"""The Runway providers, driven through the real ``runwayml`` SDK against the loopback fake.

Every call crosses real HTTP on 127.0.0.1: the SDK's own retries, headers and parsing
are what is tested, and the fake's counters prove what was (and was not) paid for.
"""

from __future__ import annotations

import base64
import io
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import runwayml
from PIL import Image
from structlog.testing import capture_logs

from storyreel.errors import (
    ConfigError,
    JobCancelled,
    PermanentError,
    ProviderFailed,
    ProviderRejected,
    ProviderUnavailable,
    QuotaExceeded,
    TransientError,
)
from storyreel.media.probe import probe
from storyreel.messages import message_for
from storyreel.models import ScriptSegment, VideoFormat
from storyreel.providers.base import Animator, PictureMaker, PictureStyle, Stop, TaskRef, Usage, metered
from storyreel.providers.cloud_runway import (
    MAX_DATA_URI,
    RunwayAnimator,
    RunwayPictureMaker,
    clip_seconds,
    data_uri,
    make_runway_client,
    map_error,
    pick_ratio,
    style_prompt,
)
from storyreel.settings import Settings
from tests.conftest import ROOT
from tests.fakes.runway_server import API_VERSION, FakeRunway

KEY = "test-runway-key"
FMT = VideoFormat(160, 90)
SEGMENT = ScriptSegment(0, "Once upon a time.", 0.0, 5.0, "a misty valley at dawn", "slow push in")


@pytest.fixture
def fake():
    # tiny latencies, 90-pixel media, and a Retry-After so the SDK's retries take ms
    with FakeRunway(api_key=KEY, picture_latency=0.06, clip_latency=0.1, media_short_side=90,
                    retry_after=0.01) as server:
        yield server


def _settings(fake: FakeRunway, **overrides) -> Settings:
    values = dict(runway_api_key=KEY, runway_base_url=fake.url, poll_interval=0.02, task_timeout=5.0,
                  runway_max_retries=2, runway_timeout=5.0)
    values.update(overrides)
    return Settings(_env_file=None, **values)


def _makers(fake: FakeRunway, **overrides):
    settings = _settings(fake, **overrides)
    client = make_runway_client(settings)
    return (RunwayPictureMaker(client, settings), RunwayAnimator(client, settings))


class _Recorder:
    """A TaskRef's ``on_change`` that keeps every state the pipeline would have persisted."""

    def __init__(self) -> None:
        self.states: list[tuple[str | None, str | None]] = []

    def __call__(self, ref: TaskRef) -> None:
        self.states.append((ref.task_id, ref.output_url))


def _picture(fake: FakeRunway, tmp_path: Path, task: TaskRef | None = None, fmt: VideoFormat = FMT) -> Path:
    pictures, _ = _makers(fake)
    return pictures.make(SEGMENT, tmp_path / "p.png", fmt, seed="job-1", task=task)


def _posts(fake: FakeRunway, path: str) -> list:
    return fake.calls_to("POST", path)


# ---- the happy path -----------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "ratio"), [(FMT, "1280:720"), (VideoFormat(90, 160), "720:1280"),
                                            (VideoFormat(90, 90), "720:720")])
def test_picture_is_a_png_of_the_format_from_one_create(fake, tmp_path, fmt, ratio):
    recorder = _Recorder()
    task = TaskRef(on_change=recorder)
    with metered() as usage:
        path = _picture(fake, tmp_path, task, fmt)
    with Image.open(path) as img:
        assert (img.format, img.size) == ("PNG", (fmt.width, fmt.height))
        assert np.asarray(img).std() > 10  # the fake's gradient, not a blank fill
    assert fake.creates("gen4_image") == 1 and fake.paid() == 1
    body = _posts(fake, "/v1/text_to_image")[0].json()
    assert (body["promptText"], body["ratio"], body["model"]) == ("a misty valley at dawn", ratio, "gen4_image")
    # the id was recorded before any poll; the output URL when the task ended
    assert recorder.states[0] == (task.task_id, None)
    polls = fake.calls_to("GET", "/v1/tasks/")
    assert polls and polls[0].at >= fake.calls_to("POST", "/v1/")[0].at
    assert task.output_url and task.output_url.startswith(fake.url) and task.finished_at is not None
    assert usage == [Usage("gen4_image", 1.0, "image")]
    assert not list(tmp_path.glob(".*part*"))  # written atomically: no temporary left


def test_providers_satisfy_the_interfaces(fake):
    pictures, clips = _makers(fake)
    assert isinstance(pictures, PictureMaker) and isinstance(clips, Animator)
    assert (pictures.name, pictures.model, clips.name, clips.model) == ("runway", "gen4_image", "runway", "gen4_turbo")


def test_clip_from_the_pictures_url(fake, tmp_path):
    picture_task = TaskRef()
    picture = _picture(fake, tmp_path, picture_task)
    _, clips = _makers(fake)
    with metered() as usage:
        clip = clips.animate(picture, SEGMENT, tmp_path / "c.mp4", FMT, seconds=5.0, picture_task=picture_task)
    body = _posts(fake, "/v1/image_to_video")[0].json()
    assert body["promptImage"] == picture_task.output_url
    assert (body["duration"], body["ratio"], body["promptText"]) == (5, "1280:720", "slow push in")
    info = probe(clip)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.duration == pytest.approx(5.0, abs=0.05)
    assert fake.creates("gen4_turbo") == 1 and fake.paid("gen4_turbo") == 1
    assert usage == [Usage("gen4_turbo", 5.0, "second")]


def test_clip_from_a_data_uri_when_the_url_is_stale(fake, tmp_path):
    picture_task = TaskRef()
    picture = _picture(fake, tmp_path, picture_task)
    picture_task.finished_at = time.time() - 3601  # older than RUNWAY_URL_TTL (3600 s)
    _, clips = _makers(fake)
    clip = clips.animate(picture, SEGMENT, tmp_path / "c.mp4", FMT, seconds=4.5, picture_task=picture_task)
    posts = _posts(fake, "/v1/image_to_video")
    assert len(posts) == 1  # the stale URL was never tried
    assert posts[0].json()["promptImage"].startswith("data:image/png;base64,")
    assert posts[0].json()["duration"] == 5  # 4.5 s asks for gen4_turbo's smallest duration above
    assert probe(clip).duration == pytest.approx(5.0, abs=0.05)


def test_refused_url_falls_back_to_a_data_uri_and_pays_once(fake, tmp_path):
    picture_task = TaskRef()
    picture = _picture(fake, tmp_path, picture_task)
    fake.expire_outputs()  # Runway's signature ran out sooner than we trusted it
    _, clips = _makers(fake)
    clips.animate(picture, SEGMENT, tmp_path / "c.mp4", FMT, seconds=5.0, picture_task=picture_task)
    first, second = (c.json()["promptImage"] for c in _posts(fake, "/v1/image_to_video"))
    assert first == picture_task.output_url and second.startswith("data:image/")
    assert fake.creates("gen4_turbo") == 1 and fake.paid("gen4_turbo") == 1
    assert next(iter(t for t in fake.tasks.values() if t.kind == "clip")).prompt_image_kind == "data_uri"


# ---- task outcomes -----------------------------------------------------------------------
def test_failed_task_is_transient_and_forgotten_so_the_retry_pays_once(fake, tmp_path):
    fake.fail_next(code="INTERNAL.BAD_OUTPUT.CODE01")
    recorder = _Recorder()
    task = TaskRef(on_change=recorder)
    with metered() as usage, pytest.raises(ProviderUnavailable) as caught:
        _picture(fake, tmp_path, task)
    assert isinstance(caught.value, TransientError) and caught.value.code == "generation_failed"
    assert task.task_id is None and recorder.states[-1] == (None, None) and recorder.states[0][0]
    assert usage == []
    _picture(fake, tmp_path, task)  # what the pipeline's retry does
    assert fake.creates() == 2 and fake.paid() == 1


def test_safety_failure_is_permanent(fake, tmp_path):
    fake.safety_next(code="SAFETY.INPUT.TEXT")
    with pytest.raises(ProviderRejected) as caught:
        _picture(fake, tmp_path)
    assert isinstance(caught.value, PermanentError) and caught.value.code == "safety_rejected"
    assert "safety filter" in message_for(caught.value, "en")
    restored = pickle.loads(pickle.dumps(caught.value))
    assert (type(restored), restored.code, restored.context) == (ProviderRejected, "safety_rejected",
                                                                 {"failure_code": "SAFETY.INPUT.TEXT"})


def test_throttled_then_succeeded(fake, tmp_path):
    fake.throttle_for(1.0)  # long enough that the first poll sees it even on a loaded machine
    task = TaskRef()
    _picture(fake, tmp_path, task)
    seen = fake.statuses(task.task_id)
    assert seen[0] == "THROTTLED" and seen[-1] == "SUCCEEDED"
    assert fake.creates() == 1


def test_tasks_beyond_the_models_concurrency_wait_throttled(tmp_path):
    with FakeRunway(api_key=KEY, picture_latency=0.15, media_short_side=90, concurrency=1) as fake:
        pictures, _ = _makers(fake)
        refs = [TaskRef(), TaskRef()]
        threads = [threading.Thread(target=pictures.make, args=(SEGMENT, tmp_path / f"{i}.png", FMT),
                                    kwargs={"seed": "s", "task": ref}) for i, ref in enumerate(refs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert all((tmp_path / f"{i}.png").exists() for i in range(2))
        assert sum("THROTTLED" in fake.statuses(ref.task_id) for ref in refs) == 1
        assert fake.paid() == 2


def test_cancelled_by_someone_else_is_transient(fake, tmp_path):
    client = make_runway_client(_settings(fake))
    task_id = client.text_to_image.create(model="gen4_image", prompt_text="x", ratio="1280:720").id
    fake.cancel_task(task_id)
    task = TaskRef(task_id=task_id)
    with pytest.raises(ProviderUnavailable) as caught:
        _picture(fake, tmp_path, task)
    assert caught.value.code == "generation_failed" and task.task_id is None


def test_unknown_status_fails_loudly_and_keeps_the_task(fake, tmp_path):
    client = make_runway_client(_settings(fake))
    task_id = client.text_to_image.create(model="gen4_image", prompt_text="x", ratio="1280:720").id
    fake.force_status(task_id, "EXPLODED")
    task = TaskRef(task_id=task_id)
    with pytest.raises(ProviderFailed, match="EXPLODED"):
        _picture(fake, tmp_path, task)
    assert task.task_id == task_id


def test_timeout_deletes_the_task(fake, tmp_path):
    fake.never_finish_next()
    pictures, _ = _makers(fake, task_timeout=0.3)
    task = TaskRef()
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="s", task=task)
    assert caught.value.code == "generation_timeout"
    assert 0.3 <= time.monotonic() - started < 3
    (deleted,) = fake.calls_to("DELETE", "/v1/tasks/")
    only = next(iter(fake.tasks.values()))
    assert deleted.path.endswith(only.id) and only.deleted and only.cancelled_while in ("PENDING", "RUNNING")
    assert task.task_id is None


def test_a_cancel_asked_with_the_call_deletes_the_task(fake, tmp_path):
    fake.never_finish_next()
    asked = []

    def cancelled() -> bool:  # the user presses Cancel while the third poll is in flight
        asked.append(1)
        return len(asked) >= 3

    pictures, _ = _makers(fake)
    task = TaskRef()
    with pytest.raises(JobCancelled):
        pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="s", task=task, stop=Stop(cancelled=cancelled))
    assert len(fake.calls_to("GET", "/v1/tasks/")) == 3
    assert len(fake.calls_to("DELETE", "/v1/tasks/")) == 1 and next(iter(fake.tasks.values())).deleted
    assert task.task_id is None


# ---- resume ------------------------------------------------------------------------
def test_resume_polls_the_recorded_task_and_creates_nothing(fake, tmp_path):
    client = make_runway_client(_settings(fake))
    task_id = client.text_to_image.create(model="gen4_image", prompt_text="x", ratio="1280:720").id
    task = TaskRef(task_id=task_id)  # what a worker that died mid-poll left behind
    path = _picture(fake, tmp_path, task)
    assert path.exists() and fake.creates() == 1 and not _posts(fake, "/v1/text_to_image")[1:]
    assert task.task_id == task_id and task.output_url


def test_resume_of_a_vanished_task_forgets_it(fake, tmp_path):
    task = TaskRef(task_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ProviderUnavailable):
        _picture(fake, tmp_path, task)
    assert task.task_id is None and fake.creates() == 0


def test_expired_download_url_is_refreshed_once(fake, tmp_path):
    fake.stale_outputs(1)
    _picture(fake, tmp_path)
    downloads = fake.calls_to("GET", "/outputs/")
    assert len(downloads) == 2 and downloads[0].path != downloads[1].path
    assert fake.creates() == 1


def test_download_failing_twice_is_transient_and_keeps_the_paid_task(fake, tmp_path):
    fake.stale_outputs(2)
    task = TaskRef()
    with pytest.raises(ProviderUnavailable):
        _picture(fake, tmp_path, task)
    assert task.task_id is not None
    _picture(fake, tmp_path, task)  # the retry polls the same task for a fresh URL
    assert fake.creates() == 1 and fake.paid() == 1


# ---- one look: style words, the script's look, reference pictures ------------------------
def _reference(tmp_path: Path, name: str, color: tuple[int, int, int] = (200, 90, 40)) -> Path:
    path = tmp_path / name
    Image.new("RGB", (64, 36), color).save(path)  # PNG or JPEG by the name
    return path


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_references_are_sent_tagged_and_named_in_the_prompt(fake, tmp_path):
    png, jpg = _reference(tmp_path, "first.png"), _reference(tmp_path, "sent.jpg")
    style = PictureStyle(name="cinematic", prompt="cinematic film still, dramatic lighting",
                         look="A red fox with a white-tipped tail", references=(png, jpg))
    pictures, _ = _makers(fake)
    with metered() as usage:
        pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="job-1", style=style)
    body = fake.created[-1]
    assert body["model"] == "gen4_image" and usage == [Usage("gen4_image", 1.0, "image")]
    refs = body["referenceImages"]
    assert [r["tag"] for r in refs] == ["ref1", "ref2"]
    assert refs[0]["uri"].startswith("data:image/png;base64,")
    assert refs[1]["uri"].startswith("data:image/jpeg;base64,")  # labelled with its real type
    prompt = body["promptText"]
    assert prompt.startswith("a misty valley at dawn.")  # the segment's own description first
    assert prompt.index("red fox") < prompt.index("Cinematic film still") < prompt.index("@ref1")
    assert "@ref1" in prompt and "@ref2" in prompt
    assert fake.task(next(iter(fake.tasks))).reference_tags == ("ref1", "ref2")


def test_without_a_style_nothing_is_added(fake, tmp_path):
    _picture(fake, tmp_path)
    assert fake.created[-1] == {"model": "gen4_image", "promptText": "a misty valley at dawn",
                                "ratio": "1280:720", "seed": fake.created[-1]["seed"]}


def test_fast_pictures_with_a_reference_use_the_turbo_model_and_are_billed_as_it(fake, tmp_path):
    style = PictureStyle(references=(_reference(tmp_path, "first.png"),), fast=True)
    pictures, _ = _makers(fake)
    assert pictures.fast_model == "gen4_image_turbo" and pictures.model == "gen4_image"
    task = TaskRef()
    with metered() as usage:
        pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="job-1", task=task, style=style)
    assert fake.creates("gen4_image_turbo") == 1 and fake.creates("gen4_image") == 0
    assert fake.paid("gen4_image_turbo") == 1
    assert usage == [Usage("gen4_image_turbo", 1.0, "image")]
    # a resumed task is polled, not paid again, and billed under the same model
    with metered() as again:
        pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="job-1", task=task, style=style)
    assert fake.creates() == 1 and again == [Usage("gen4_image_turbo", 1.0, "image")]


def test_fast_pictures_without_a_reference_fall_back_and_say_so(fake, tmp_path):
    pictures, _ = _makers(fake)
    with metered() as usage, capture_logs() as logs:
        pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="job-1", style=PictureStyle(fast=True))
    assert fake.creates("gen4_image") == 1 and fake.creates("gen4_image_turbo") == 0
    assert "referenceImages" not in fake.created[-1]
    assert usage == [Usage("gen4_image", 1.0, "image")]
    assert [e["event"] for e in logs].count("fast_pictures_need_reference") == 1


def test_more_than_three_references_send_the_first_three(fake, tmp_path):
    refs = tuple(_reference(tmp_path, f"r{i}.png", (40 * i, 80, 120)) for i in range(4))
    pictures, _ = _makers(fake)
    pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="job-1", style=PictureStyle(references=refs))
    assert [r["tag"] for r in fake.created[-1]["referenceImages"]] == ["ref1", "ref2", "ref3"]
    assert "@ref4" not in fake.created[-1]["promptText"]


def test_a_long_look_is_cut_to_runways_limit_after_the_description(fake, tmp_path):
    description = "a misty valley at dawn, " * 20  # ~480 units
    segment = ScriptSegment(0, "Once.", 0.0, 5.0, description, "")
    style = PictureStyle(prompt="watercolor painting, soft washes", look="Ёжик в тумане 🦔, " * 200,
                         references=(_reference(tmp_path, "first.png"),))
    pictures, _ = _makers(fake)
    pictures.make(segment, tmp_path / "p.png", FMT, seed="job-1", style=style)
    prompt = fake.created[-1]["promptText"]  # the fake refuses more than 1000 units
    assert _units(prompt) <= 1000
    assert prompt.startswith(description.strip().rstrip(","))
    assert "Watercolor painting, soft washes." in prompt and prompt.endswith("@ref1.")
    assert "Ёжик в тумане" in prompt and "…" in prompt


@pytest.mark.parametrize("look", ["", "a fox", "x" * 5000, "слово " * 400, "🦔" * 900])
def test_style_prompt_never_passes_the_limit(look):
    for description in ("a fox", "d " * 700):
        for tags in ([], ["ref1"], ["ref1", "ref2", "ref3"]):
            prompt = style_prompt(description, look=look, words="anime style, cel shading", tags=tags)
            assert _units(prompt) <= 1000
            assert prompt.startswith(description.strip()[:100])
            assert all(f"@{tag}" in prompt for tag in tags)
            prompt.encode("utf-8")  # no half surrogate pair left behind


def _create(fake: FakeRunway, **body) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": API_VERSION}
    return httpx.post(f"{fake.url}/v1/text_to_image", headers=headers,
                      json={"promptText": "a fox", "ratio": "1280:720", **body})


def test_the_fake_refuses_turbo_without_references(fake):
    client = make_runway_client(_settings(fake))
    with pytest.raises(runwayml.BadRequestError) as caught:
        client.text_to_image.create(model="gen4_image_turbo", prompt_text="a fox", ratio="1280:720")
    error = map_error(caught.value, creating=True)
    assert isinstance(error, ProviderRejected) and "referenceImages" in error.detail
    reply = _create(fake, model="gen4_image_turbo", referenceImages=[])
    assert reply.status_code == 400 and reply.json()["issues"][0]["path"] == ["referenceImages"]
    assert fake.creates() == 0 and fake.created == []


def test_the_fake_checks_reference_images(fake, tmp_path):
    uri = data_uri(_reference(tmp_path, "r.png"))
    good = _create(fake, model="gen4_image_turbo", referenceImages=[{"uri": uri, "tag": "hero_1"}, {"uri": uri}])
    assert good.status_code == 200 and fake.created[-1]["referenceImages"][0]["tag"] == "hero_1"
    bad = {
        "tag": [{"uri": uri, "tag": "1st"}],
        "short tag": [{"uri": uri, "tag": "ab"}],
        "hyphen": [{"uri": uri, "tag": "my-ref"}],
        "long tag": [{"uri": uri, "tag": "a" * 17}],
        "same tag": [{"uri": uri, "tag": "ref1"}, {"uri": uri, "tag": "ref1"}],
        "four": [{"uri": uri}] * 4,
        "no uri": [{"tag": "ref1"}],
        "http": [{"uri": "http://example.com/a.png"}],
        "unknown key": [{"uri": uri, "weight": 1}],
        "not an array": {"uri": uri},
    }
    for name, refs in bad.items():
        reply = _create(fake, model="gen4_image", referenceImages=refs)
        assert reply.status_code == 400, name
        assert reply.json()["issues"][0]["path"][0] == "referenceImages", name
        assert reply.json()["error"].startswith("Validation of body failed"), name
    # the images themselves: a mislabelled or broken data URI, a URL that cannot be fetched
    jpeg = data_uri(_reference(tmp_path, "r.jpg")).split(",", 1)[1]
    for ref in ("data:image/png;base64," + jpeg, "data:image/png;base64,AAAA", "https://example.com/a.png"):
        reply = _create(fake, model="gen4_image", referenceImages=[{"uri": ref, "tag": "ref1"}])
        assert reply.status_code == 400 and "Invalid" in reply.json()["error"]
    unknown = _create(fake, model="gen4_image", referenceImage=[{"uri": uri}])
    assert unknown.status_code == 400 and "referenceImage" in unknown.json()["error"]
    assert fake.creates() == 1


def test_four_references_reach_our_client_as_provider_rejected(fake, tmp_path):
    client = make_runway_client(_settings(fake))
    uri = data_uri(_reference(tmp_path, "r.png"))
    with pytest.raises(runwayml.BadRequestError) as caught:
        client.text_to_image.create(model="gen4_image", prompt_text="a fox", ratio="1280:720",
                                    reference_images=[{"uri": uri, "tag": f"ref{i}"} for i in range(1, 5)])
    assert isinstance(map_error(caught.value, creating=True), ProviderRejected)
    assert len(_posts(fake, "/v1/text_to_image")) == 1  # a 400 is not retried


# ---- HTTP errors after the SDK's retries -------------------------------------------------
def test_daily_quota_429_is_quota_exceeded_after_the_sdks_retries(fake, tmp_path):
    fake.quota_exceeded()
    started = time.monotonic()
    with pytest.raises(QuotaExceeded) as caught:
        _picture(fake, tmp_path)
    assert len(_posts(fake, "/v1/text_to_image")) == 2 + 1  # RUNWAY_MAX_RETRIES + 1, not a loop
    assert time.monotonic() - started < 3
    assert fake.creates() == 0 and caught.value.code == "provider_quota"
    assert "daily generation limit" in caught.value.detail


def test_a_500_is_retried_by_the_sdk(fake, tmp_path):
    fake.server_errors(1, path="/v1/text_to_image")
    _picture(fake, tmp_path)
    assert len(_posts(fake, "/v1/text_to_image")) == 2
    assert fake.creates() == 1


def test_500s_beyond_the_sdks_retries_are_permanent(fake, tmp_path):
    fake.server_errors(10, status=503, path="/v1/text_to_image")
    with pytest.raises(ProviderFailed) as caught:
        _picture(fake, tmp_path)
    assert isinstance(caught.value, PermanentError) and "503" in caught.value.detail
    assert len(_posts(fake, "/v1/text_to_image")) == 3


def test_a_wrong_key_is_provider_auth_and_never_logged(fake, tmp_path, capsys):
    settings = _settings(fake, runway_api_key="sk-wrong-secret")
    pictures = RunwayPictureMaker(make_runway_client(settings), settings)
    with pytest.raises(ProviderFailed) as caught:
        pictures.make(SEGMENT, tmp_path / "p.png", FMT, seed="s")
    assert caught.value.code == "provider_auth"
    assert len(_posts(fake, "/v1/text_to_image")) == 1  # 401 is not retried
    out = capsys.readouterr()
    assert "sk-wrong-secret" not in out.out + out.err + str(caught.value)


# ---- the client and the wire -------------------------------------------------------------
def test_missing_key_is_a_config_error_naming_the_variable(monkeypatch):
    for name in ("RUNWAY_API_KEY", "RUNWAYML_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as caught:
        make_runway_client(Settings(_env_file=None))
    assert caught.value.code == "config" and "RUNWAY_API_KEY" in message_for(caught.value, "en")


def test_runwayml_base_url_is_honoured(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNWAYML_BASE_URL", fake.url)
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    monkeypatch.delenv("RUNWAY_API_KEY", raising=False)
    from_env = Settings(_env_file=None, poll_interval=0.02)
    assert from_env.runway_base_url == fake.url
    # unset in the settings: the SDK reads the variable itself
    settings = Settings(_env_file=None, poll_interval=0.02, runway_base_url=None)
    client = make_runway_client(settings)
    assert str(client.base_url).rstrip("/") == fake.url
    RunwayPictureMaker(client, settings).make(SEGMENT, tmp_path / "p.png", FMT, seed="s")
    assert fake.creates() == 1


def test_the_fake_checks_auth_and_the_version_header(fake):
    body = {"model": "gen4_image", "promptText": "x", "ratio": "1280:720"}
    auth = {"Authorization": f"Bearer {KEY}"}
    missing = httpx.post(f"{fake.url}/v1/text_to_image", json=body, headers=auth)
    wrong = httpx.post(f"{fake.url}/v1/text_to_image", json=body, headers={**auth, "X-Runway-Version": "2020-01-01"})
    assert (missing.status_code, wrong.status_code) == (400, 400)
    assert "X-Runway-Version" in missing.json()["error"]
    unauthorized = httpx.post(f"{fake.url}/v1/text_to_image", json=body, headers={"X-Runway-Version": API_VERSION})
    assert unauthorized.status_code == 401
    ok = httpx.post(f"{fake.url}/v1/text_to_image", json=body, headers={**auth, "X-Runway-Version": API_VERSION})
    assert ok.status_code == 200 and fake.creates() == 1
    # the SDK sends the header on every call
    client = make_runway_client(_settings(fake))
    client.tasks.retrieve(ok.json()["id"])
    assert fake.calls[-1].headers["x-runway-version"] == API_VERSION


def test_the_fake_refuses_a_duration_gen4_turbo_does_not_render(fake):
    headers = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": API_VERSION}
    reply = httpx.post(f"{fake.url}/v1/image_to_video", headers=headers, json={
        "model": "gen4_turbo", "promptImage": "data:image/png;base64,AAAA", "ratio": "1280:720", "duration": 3})
    assert reply.status_code == 400 and reply.json()["issues"][0]["path"] == ["duration"]
    assert fake.creates() == 0


def test_the_fake_runs_from_the_command_line():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.runway_server", "--port", "0", "--api-key", KEY],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        reply = httpx.get(f"{url}/v1/tasks/nope", headers={"Authorization": f"Bearer {KEY}",
                                                           "X-Runway-Version": API_VERSION})
        assert reply.status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)


# ---- small pure pieces -------------------------------------------------------------------
def test_clip_seconds_asks_for_the_smallest_allowed_duration():
    assert [clip_seconds("gen4_turbo", s) for s in (2, 4.5, 5, 6, 10)] == [5, 5, 5, 10, 10]
    assert clip_seconds("gen4.5", 3) == 3
    with pytest.raises(ConfigError):
        clip_seconds("gen4_turbo", 12)


def test_pick_ratio_follows_the_formats_shape():
    ratios = ("1280:720", "720:1280", "960:960")
    assert [pick_ratio(VideoFormat(w, h), ratios) for w, h in ((1280, 720), (720, 1280), (720, 720))] == list(ratios)


def test_data_uri_stays_under_the_limit(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(noise, "RGB").save(path)
    assert data_uri(path).startswith("data:image/png;base64,")  # small enough as it is
    limit = path.stat().st_size // 2
    uri = data_uri(path, limit=limit)
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) <= limit
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as img:
        assert img.format == "JPEG"
    assert MAX_DATA_URI == 5 * 1024 * 1024
