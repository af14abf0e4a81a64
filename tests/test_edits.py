"""Reading a person's edits at the gates, their limits and prices, and what the per-video
choices mean for the estimate and for which segments are animated by the paid model."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from storyreel.errors import CostCapExceeded, InputError
from storyreel.models import Job, JobOptions, Script, ScriptSegment, VideoSegment
from storyreel.pipeline.choices import motion_segments, waits_for_first
from storyreel.pipeline.edits import Edit, accept, edit_cost, read_reply
from storyreel.pipeline.ledger import MemorySpending, estimate, saving
from storyreel.settings import Settings


def _providers():
    """Providers as the estimate sees them: models and billing, no calls."""
    return SimpleNamespace(
        script=SimpleNamespace(model="gpt-6-luna"),
        pictures=SimpleNamespace(model="gen4_image", fast_model="gen4_image_turbo"),
        motion=SimpleNamespace(model="gen4_turbo", billed_seconds=lambda s: 5),
        speech=SimpleNamespace(model="local"),
    )


def _job(count: int = 6, made: int = 6, **options) -> Job:
    segs = [ScriptSegment(i, f"Words of segment {i + 1} about the sea.", i * 5.0, i * 5.0 + 5, f"sea {i}", "")
            for i in range(count)]
    job = Job("j1", "the sea", "en", count, 5.0, script=Script("en", "Sea", segs, highlights=[4, 2, 0]),
              segments=[VideoSegment(i, picture_path=f"/p/{i}.png" if i < made else None,
                                     clip_path=f"/c/{i}.mp4" if i < 3 else None) for i in range(count)],
              options=JobOptions(**options), estimate=1.80)
    return job


@pytest.mark.parametrize("reply, items", [
    ("3, 5", {2: "", 4: ""}),
    ("redo 2 4", {1: "", 3: ""}),
    ("переделай 2 и 4", {1: "", 3: ""}),
    ("Redo: 6", {5: ""}),
    ("3: a lighthouse at night, stormy sea", {2: "a lighthouse at night, stormy sea"}),
    ("переделай 1: маяк ночью", {0: "маяк ночью"}),
])
def test_redo_replies_name_pictures_by_their_numbers(reply, items):
    edit = read_reply(_job(), "pictures", reply)
    assert (edit.kind, edit.action, edit.items) == ("pictures", "redo", items)


@pytest.mark.parametrize("reply, code", [
    ("9", "edit_bad_number"),
    ("0", "edit_bad_number"),
    ("make it nicer", "edit_not_understood"),
    ("   ", "edit_empty"),
])
def test_redo_replies_that_cannot_be_done_say_why(reply, code):
    with pytest.raises(InputError) as err:
        read_reply(_job(), "pictures", reply)
    assert err.value.code == code


def test_only_pictures_and_clips_already_made_can_be_redone():
    with pytest.raises(InputError) as err:
        read_reply(_job(made=3), "pictures", "5")
    assert err.value.code == "redo_not_ready_pictures" and err.value.context["number"] == 5
    with pytest.raises(InputError) as err:
        read_reply(_job(), "clips", "4")
    assert err.value.code == "redo_not_ready_clips"
    assert read_reply(_job(), "clips", "2: slow zoom in").items == {1: "slow zoom in"}


def test_script_replies_are_a_segment_a_note_or_the_whole_script():
    job = _job()
    segment = read_reply(job, "script", "2: The sea at dawn.")
    assert (segment.action, segment.items) == ("segment", {1: "The sea at dawn."})
    assert read_reply(job, "script", "funnier, please").action == "note"
    assert read_reply(job, "script", "больше о XVIII веке").action == "note"
    whole = " ".join(f"Line {n} of my own script about the sea and its ships." for n in range(6))
    assert read_reply(job, "script", whole).action == "replace"
    with pytest.raises(InputError) as err:
        read_reply(job, "script", "9: out of range")
    assert err.value.code == "edit_bad_number"


def test_edits_are_limited_per_job_counting_those_queued():
    settings = Settings(_env_file=None, max_redos=3, max_script_revisions=1)
    job, spending = _job(), MemorySpending()
    three = Edit("pictures", "redo", items={0: "", 1: "", 2: ""})
    assert accept(settings, _providers(), spending, job, three) == pytest.approx(0.15)
    with pytest.raises(InputError) as err:
        accept(settings, _providers(), spending, job, Edit("clips", "redo", items={0: ""}), queued=[three])
    assert (err.value.code, err.value.context["left"]) == ("redo_limit", 0)
    note = Edit("script", "note", text="shorter")
    job.revisions = 1
    with pytest.raises(InputError) as err:
        accept(settings, _providers(), spending, job, note)
    assert err.value.code == "revision_limit"


def test_an_edit_over_a_cost_cap_is_refused_before_anything_is_paid():
    job, spending = _job(), MemorySpending()
    settings = Settings(_env_file=None, max_cost_per_job=1.86)
    one = Edit("pictures", "redo", items={1: ""})
    assert accept(settings, _providers(), spending, job, one) == pytest.approx(0.05)
    job.extra_estimate = 0.05
    with pytest.raises(CostCapExceeded) as err:
        accept(settings, _providers(), spending, job, one)
    assert err.value.code == "edit_cost_cap"
    daily = Settings(_env_file=None, max_cost_per_user_day=1.0)
    spending.add(job.user_id, 0.99)
    with pytest.raises(CostCapExceeded) as err:
        accept(daily, _providers(), spending, job, one)
    assert err.value.code == "edit_cost_cap_day"


def test_redoing_a_clip_outside_the_motion_budget_costs_nothing():
    job = _job(motion_budget=2)  # segments 5 and 3 are the most visual
    assert edit_cost(Settings(_env_file=None), _providers(), job, Edit("clips", "redo", items={4: ""})) \
        == pytest.approx(0.25)
    assert edit_cost(Settings(_env_file=None), _providers(), job, Edit("clips", "redo", items={1: ""})) == 0


def test_the_motion_budget_takes_the_most_visual_segments_then_spreads_evenly():
    assert motion_segments(48, 0, []) == set(range(48))
    assert motion_segments(48, 12, list(range(47, 0, -1))) == set(range(36, 48))
    spread = motion_segments(48, 12, [5])
    assert len(spread) == 12 and 5 in spread and max(spread) - min(spread) > 36
    assert motion_segments(6, 10, []) == set(range(6))


def test_estimate_and_saving_follow_the_choices():
    settings, providers = Settings(_env_file=None), _providers()
    size = {"segment_count": 48, "segment_seconds": 5.0}
    full = estimate(settings, providers, options=JobOptions(), **size)
    assert (full.pictures, full.clips) == (pytest.approx(2.40), pytest.approx(12.0))
    fast = estimate(settings, providers, options=JobOptions(fast_pictures=True), **size)
    assert fast.pictures == pytest.approx(0.05 + 47 * 0.02)  # picture 1 is the reference
    budget = estimate(settings, providers, options=JobOptions(motion_budget=12), **size)
    assert budget.clips == pytest.approx(3.0)
    assert saving(settings, providers, JobOptions(fast_pictures=True, motion_budget=12), **size) \
        == pytest.approx(full.total - 0.99 - 3.0 - full.script - full.narration, abs=1e-3)
    assert saving(settings, providers, JobOptions(), **size) == 0


def test_pictures_follow_the_first_only_when_they_need_a_reference():
    assert waits_for_first(JobOptions(reference="first"))
    assert waits_for_first(JobOptions(reference="off", fast_pictures=True))
    assert not waits_for_first(JobOptions(reference="user", reference_image="/r.jpg", fast_pictures=True))
    assert not waits_for_first(JobOptions(reference="off"))


class _Asked:
    """Approvals that queue one note at the script gate, then approve what comes next."""

    def __init__(self, edit: Edit) -> None:
        self.queued, self.previews = [edit], []

    def request(self, job, preview) -> None:
        self.previews.append(preview)

    def state(self, job, kind: str):
        return None if kind == "script" and len(self.previews) < 2 else True

    def edits(self, job):
        return list(self.queued) if self.previews else []  # asked once the script was shown


def test_a_revision_the_writer_cannot_make_keeps_the_script_and_says_so(tmp_path):
    from storyreel.errors import ProviderRejected
    from storyreel.pipeline.runner import Pipeline
    from storyreel.providers.factory import build_providers

    settings = Settings(_env_file=None, segment_count=2, segment_seconds=1.0, video_short_side=90,
                        work_dir=tmp_path / "work", providers="script=local,pictures=local,motion=local,speech=local",
                        min_free_disk_mb=0)
    providers = build_providers(settings)

    def refuse(*args, **kwargs):
        raise ProviderRejected("the model refused the note", code="safety_rejected")

    providers.script.revise = refuse
    asked = _Asked(Edit("script", "note", text="make it about something else entirely"))
    pipeline = Pipeline(settings, providers, approvals=asked)
    job = pipeline.new_job("a video about the moon")

    def deliver(j, outcome):
        assert outcome.video.exists()

    pipeline.run(job, deliver)
    first, second = [p for p in asked.previews if p.kind == "script"]
    before = first.script.to_dict()
    assert second.notice == "revision_failed" and second.script.to_dict() == before, "the script is kept"
    assert job.revisions == 0 and job.edits_done == 1 and job.status.value == "done"
    assert any(h["event"] == "edit_failed" and h["code"] == "safety_rejected" for h in job.history)


class _RedoThenApprove:
    """Approvals that approve everything at once and, once the clip of picture 2 is being
    made, ask for picture 2 again (a redo that arrives after the ✅)."""

    def __init__(self, animator) -> None:
        self.previews, self.animator = [], animator

    def request(self, job, preview) -> None:
        self.previews.append(preview)

    def state(self, job, kind: str):
        return True

    def edits(self, job):
        return [Edit("pictures", "redo", items={1: ""})] if 1 in self.animator.started else []


class _SlowAnimator:
    """The offline animator, a little slower, noting which picture each clip was made from."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.concurrency = getattr(inner, "concurrency", 2)
        self.started: list[int] = []
        self.pictures: dict[int, list[str]] = {}

    def animate(self, picture, segment, out_path, fmt, **kw):
        self.started.append(segment.index)
        self.pictures.setdefault(segment.index, []).append(Path(picture).name)
        time.sleep(0.3)  # the redo arrives while this clip is being made
        return self.inner.animate(picture, segment, out_path, fmt, **kw)


def test_a_redo_asked_while_its_clip_is_made_waits_and_the_clip_follows_the_new_picture(tmp_path):
    from storyreel.pipeline.runner import Pipeline
    from storyreel.providers.factory import build_providers

    settings = Settings(_env_file=None, segment_count=6, segment_seconds=1.0, video_short_side=90,
                        work_dir=tmp_path / "work", providers="script=local,pictures=local,motion=local,speech=local",
                        min_free_disk_mb=0)
    providers = build_providers(settings)
    providers.motion = animator = _SlowAnimator(providers.motion)
    asked = _RedoThenApprove(animator)
    pipeline = Pipeline(settings, providers, approvals=asked)
    job = pipeline.new_job("a video about the moon")
    pipeline.run(job, lambda j, o: None)
    assert [p.kind for p in asked.previews] == ["script", "pictures", "clips"], "approved: not asked again"
    assert [s.picture_version for s in job.segments] == [0, 1, 0, 0, 0, 0]
    assert animator.pictures[1] == ["001.png", "001_v1.png"], "the clip is made again, from the new picture"
    assert job.segments[1].clip_version == 1 and job.segments[1].clip_path.endswith("001_v1.mp4")
    assert job.redos == 1 and job.status.value == "done"
