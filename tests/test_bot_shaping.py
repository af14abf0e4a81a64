"""The person shapes the video, end to end: fake Telegram → real webhook → real Redis →
real Celery worker → pipeline with pictures and clips on the fake Runway → fake Telegram.

The script is edited three ways at its gate, pictures are redone by number (by a reply
or a 🔁 button) and shown again, every redo is a new paid task counted against the job's
limits and caps, the pictures after the first carry it as their reference, and a worker
killed in the middle of a redo pays for nothing twice."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.botworld import BotWorld
from tests.fakes.runway_server import FakeRunway

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("bot_api")]

_users = itertools.count(9101)
#: six 1-second segments; Runway bills 5 s a clip: 6 × $0.05 pictures + 6 × 5 × $0.05 clips
ESTIMATE = 1.80


def _runway_settings(runway: FakeRunway, **extra: str) -> dict[str, str]:
    return {"RUNWAY_API_KEY": runway.api_key, "RUNWAYML_BASE_URL": runway.url,
            "PROVIDERS": "pictures=runway,motion=runway", "POLL_INTERVAL": "0.05", "MIN_FREE_DISK_MB": "0",
            **extra}


@pytest.fixture(scope="module")
def runway():
    with FakeRunway(picture_latency=0.3, clip_latency=0.3, concurrency=3, media_short_side=90) as fake:
        yield fake


@pytest.fixture(scope="module")
def world(tmp_path_factory, runway):
    with BotWorld(tmp_path_factory.mktemp("shaping"), db=15, **_runway_settings(runway)) as w:
        yield w


@pytest.fixture
def new_world(tmp_path, bot_api):
    """A world of the test's own (Redis db 2), checked like the module's."""
    def make(**settings: str) -> BotWorld:
        return bot_api.watch(BotWorld(tmp_path, db=2, **settings))
    return make


@pytest.fixture
def user() -> int:
    return next(_users)


def _buttons(call) -> list[list[str]]:
    return [[b["text"] for b in row] for row in call.params["reply_markup"]["inline_keyboard"]]


def _picture_creates(runway: FakeRunway, since: int) -> list[dict]:
    with runway._state:
        return [b for b in runway.created[since:] if "promptImage" not in b]


def _created(runway: FakeRunway) -> int:
    with runway._state:
        return len(runway.created)


def _finish(world: BotWorld, user: int) -> None:
    world.press(user, world.wait_buttons(user, "c"))
    world.video(user)


def _asked_again(world: BotWorld, user: int, kind: str, before) -> object:
    """The question of ``kind`` asked again after ``before`` (a new message)."""
    world.pressed.add((user, before.result["message_id"]))
    return world.wait_buttons(user, kind)


def _buttons_removed(world: BotWorld, user: int, message_id: int) -> bool:
    return any(c.ok and c.params.get("message_id") == message_id
               for c in world.tg.calls("editMessageReplyMarkup", chat_id=user))


def test_the_script_is_edited_three_ways_before_it_is_approved(world, user):
    world.say(user, "A video about the river Volga")
    first = world.wait_buttons(user, "s")
    assert _buttons(first) == [["✅ Approve", "❌ Cancel"], ["✏️ Edit"]]

    # one segment, by its number
    world.say(user, "2: The river turns to gold at dusk.")
    world.wait_text(user, "Segment 2 changed")
    second = _asked_again(world, user, "s", first)
    assert "2. The river turns to gold at dusk." in second.params["text"] and "revision 1" in second.params["text"]
    assert _buttons_removed(world, user, first.result["message_id"]), "the old question's buttons go"

    # a note for the script writer
    world.say(user, "shorter")
    world.wait_text(user, "Rewriting the script")
    third = _asked_again(world, user, "s", second)
    assert "revision 2" in third.params["text"]
    body = lambda call: call.params["text"].split("\n\n", 1)[1].rsplit("\n\n", 1)[0]  # noqa: E731
    assert len(body(third).split()) < len(body(second).split()), "the note made it shorter"

    # the whole corrected script
    mine = " ".join(f"Sentence number {n} tells of the great river and the towns along its banks."
                    for n in range(1, 7))
    world.say(user, mine)
    world.wait_text(user, "Got your script")
    fourth = _asked_again(world, user, "s", third)
    assert "Sentence number 1 tells" in fourth.params["text"] and "revision 3" in fourth.params["text"]

    stale = world.press(user, first)  # a button of the first script, still on the screen
    assert world.wait_answer(stale) == "This button is no longer active."
    world.press(user, fourth)
    world.press(user, world.wait_buttons(user, "p"))
    _finish(world, user)
    job = world.job(world.job_of(user, timeout=20))
    assert job["revisions"] == 3 and job["rounds"]["script"] == 3
    assert "Sentence number 6" in " ".join(s["text"] for s in job["script"]["segments"])
    assert len(job["script"]["segments"]) == 6, "the segment count is kept"
    assert sum(1 for h in job["history"] if h["event"] == "edit_applied") == 3


def test_pictures_two_and_four_are_redone_by_a_reply(world, runway, user):
    world.say(user, "A video about lighthouses")
    start = _created(runway)
    world.press(user, world.wait_buttons(user, "s"))
    gate = world.wait_buttons(user, "p")
    world.wait_job(world.job_of(user, timeout=20), "awaiting_pictures_approval", timeout=60)
    made = _picture_creates(runway, start)
    assert len(made) == 6
    # picture 1 first, with no reference; every later one carries it as the reference
    assert "referenceImages" not in made[0]
    for body in made[1:]:
        refs = body["referenceImages"]
        assert len(refs) == 1 and refs[0]["uri"].startswith("data:image/") and refs[0]["tag"]
        assert f"@{refs[0]['tag']}" in body["promptText"]

    world.say(user, "redo 2, 4")
    world.wait_text(user, "Redoing picture(s) 2, 4")
    again = _asked_again(world, user, "p", gate)
    assert again.result["message_id"] != gate.result["message_id"]
    assert "Redone: 2, 4" in again.params["text"]
    assert _buttons(again)[1] == ["🔁 2", "🔁 4"]
    albums = world.tg.calls("sendMediaGroup", chat_id=user)
    assert len(albums[-1].params["media"]) == 2, "the redone pictures are shown again"
    assert len(_picture_creates(runway, start)) == 8, "exactly 2 new picture tasks"

    world.press(user, again)
    _finish(world, user)
    job = world.job(world.job_of(user, timeout=20))
    segs = job["segments"]
    assert [s["picture_version"] for s in segs] == [0, 1, 0, 1, 0, 0]
    final_pictures = {s["picture_task_id"] for s in segs}
    with runway._state:
        clip_bodies = [b for b in runway.created[start:] if "promptImage" in b]
        picture_ids = {t.id for t in runway.tasks.values() if t.kind == "picture"}
    replaced = {task_id for task_id in picture_ids if task_id not in final_pictures
                and any(task_id in c.get("task_id", "") for c in job["costs"])}
    assert len(replaced) == 2
    sources = [b["promptImage"] for b in clip_bodies]
    for task_id in final_pictures:
        assert sum(task_id in src for src in sources) == 1, "each clip is made from its segment's newest picture"
    for task_id in replaced:
        assert not any(task_id in src for src in sources), "no clip from a picture that was redone"
    pictures_paid = [c for c in job["costs"] if c["stage"] == "pictures"]
    assert len(pictures_paid) == 8 and len({c["task_id"] for c in pictures_paid}) == 8
    assert job["redos"] == 2


def test_redo_refused_past_the_limit_and_past_the_cost_cap(new_world, runway):
    settings = _runway_settings(runway, MAX_REDOS="3", MAX_COST_PER_JOB=f"{ESTIMATE + 0.06:.2f}")
    with new_world(**settings) as world:
        user = next(_users)
        world.say(user, "A video about bridges")
        world.press(user, world.wait_buttons(user, "s"))
        gate = world.wait_buttons(user, "p")
        job_id = world.job_of(user, timeout=20)
        assert world.job(job_id)["estimate"] == pytest.approx(ESTIMATE)
        world.wait_job(job_id, "awaiting_pictures_approval", timeout=60)

        world.say(user, "2, 3, 4, 5")
        world.wait_text(user, "Only 3 pictures and clips can be redone per video (3 left)")
        world.say(user, "2")
        world.wait_text(user, "Redoing picture(s) 2 (about $0.05)")
        _asked_again(world, user, "p", gate)
        world.say(user, "4")
        world.wait_text(user, f"over its ${ESTIMATE + 0.06:.2f} limit")
        job = world.job(job_id)
        assert job["redos"] == 1 and job["extra_estimate"] == pytest.approx(0.05)


def test_stale_and_foreign_presses_on_the_new_buttons(world, user):
    world.say(user, "A video about owls")
    world.press(user, world.wait_buttons(user, "s"))
    gate = world.wait_buttons(user, "p")
    world.wait_job(world.job_of(user, timeout=20), "awaiting_pictures_approval", timeout=60)
    assert _buttons(gate)[1] == ["🔁 1", "🔁 2", "🔁 3", "🔁 4", "🔁 5"]

    foreign = world.press(user, gate, "rd", number=2, as_user=next(_users))
    assert world.wait_answer(foreign) == "This button belongs to someone else's video."
    job_id = world.job_of(user, timeout=20)
    garbage = world.tg.callback_update(user, f"rd:{job_id}:p:0:x", gate.result["message_id"], language_code="en")
    world.send(garbage)
    assert world.wait_answer(garbage) == "This button is no longer active."
    assert world.job(job_id)["redos"] == 0

    redo = world.press(user, gate, "rd", number=2)
    assert world.wait_answer(redo) == "🔁 2"
    world.wait_text(user, "Redoing picture(s) 2")
    again = _asked_again(world, user, "p", gate)
    old_ok = world.press(user, gate)  # the first round's ✅, pressed after the redo
    assert world.wait_answer(old_ok) == "This button is no longer active."
    assert world.redis.get(f"approval:{job_id}:images") == "pending"
    world.press(user, again, "no")
    world.wait_text(user, "Cancelled")


def test_a_worker_killed_during_a_redo_pays_for_nothing_twice(new_world):
    with FakeRunway(picture_latency=3.0, clip_latency=0.3, concurrency=3, media_short_side=90) as runway, \
            new_world(**_runway_settings(runway)) as world:
        user = next(_users)
        world.say(user, "A video about glaciers")
        world.press(user, world.wait_buttons(user, "s"))
        gate = world.wait_buttons(user, "p")
        job_id = world.job_of(user, timeout=20)
        world.wait_job(job_id, "awaiting_pictures_approval", timeout=90)
        before = _created(runway)
        world.say(user, "3")
        deadline = time.monotonic() + 30
        while _created(runway) == before:  # the redo's task is created and recorded…
            assert time.monotonic() < deadline, "the redo never started"
            time.sleep(0.05)
        time.sleep(0.3)
        world.kill_worker()  # …and the worker dies while Runway makes it
        world.worker_ready(world.start_worker())
        world.pressed.add((user, gate.result["message_id"]))
        again = world.wait_buttons(user, "p", timeout=90)
        assert "Redone: 3" in again.params["text"]
        assert _created(runway) == before + 1, "the redone picture's task is polled again, not paid again"
        job = world.job(job_id)
        pictures_paid = [c for c in job["costs"] if c["stage"] == "pictures"]
        assert len(pictures_paid) == 7 and len({c["task_id"] for c in pictures_paid}) == 7
        world.press(user, again, "no")
        world.wait_text(user, "Cancelled")


def _menu_press(world: BotWorld, user: int, message_id: int, label: str) -> str:
    """Press the button whose label is ``label`` (or starts with it) on the settings menu
    as it is now; the answer the press got."""
    markup = (world.tg.message(user, message_id) or {}).get("reply_markup") or {"inline_keyboard": []}
    found = [b["callback_data"] for row in markup["inline_keyboard"] for b in row
             if b["text"] == label or b["text"].startswith(label)]
    assert len(found) == 1, (label, markup)
    update = world.tg.callback_update(user, found[0], message_id, language_code="en")
    assert world.send(update) == 200
    return world.wait_answer(update)


def test_settings_chosen_in_the_menu_shape_the_video(new_world):
    # the server's videos are 4-minute landscape ones; this person wants 30 s, vertical
    with new_world(SEGMENT_SECONDS="5", VIDEO_SHORT_SIDE="720", SEGMENT_COUNT="48") as world:
        user = next(_users)
        world.say(user, "/settings")
        menu = world.wait_text(user, "Format: 16:9")
        mid = menu.result["message_id"]
        _menu_press(world, user, mid, "📐 Format")
        _menu_press(world, user, mid, "9:16")
        _menu_press(world, user, mid, "⏱ Length")
        _menu_press(world, user, mid, "30 s")
        shown = world.tg.message(user, mid)["text"]
        assert "Format: 9:16" in shown and "Length: 30 s (6 segments × 5 s)" in shown, shown
        garbage = world.tg.callback_update(user, "st:garbage", mid, language_code="en")
        world.send(garbage)
        assert "out of date" in world.wait_answer(garbage)
        assert world.tg.message(user, mid)["text"] == shown, "a stale press changes nothing"
        world.say(user, "A video about tall ships")
        world.wait_text(user, "Got it")
        job_id = world.job_of(user, timeout=20)
        job = world.job(job_id)
        assert (job["segment_count"], job["segment_seconds"], job["aspect"]) == (6, 5.0, "9:16")
        for kind in "spc":
            world.press(user, world.wait_buttons(user, kind, timeout=120))
        video = world.video(user, 180)
        assert (video.params["width"], video.params["height"]) == (720, 1280)
        assert (video.result["video"]["width"], video.result["video"]["height"]) == (720, 1280)
        assert video.result["video"]["duration"] == 30


def test_a_question_asked_again_stays_open_for_another_ttl():
    import redis

    from storyreel.bot.state import ApprovalManager

    db = redis.Redis.from_url("redis://127.0.0.1:6379/2", decode_responses=True)
    db.flushdb()
    try:
        approvals = ApprovalManager(db, ttl=900)
        approvals.request("job", "script")
        db.expire(approvals.key("job", "script"), 5)  # the first question, nearly lapsed
        approvals.request("job", "script")  # the revised script, asked again
        assert db.ttl(approvals.key("job", "script")) > 800
        assert approvals.approve("job", "script")
        approvals.request("job", "script")
        assert approvals.state("job", "script") is True, "an answer is never reopened"
    finally:
        db.flushdb()


def test_the_persons_own_photo_is_every_pictures_reference(world, runway, user):
    from tests.fakes.botapi.media import sample_png

    world.say(user, "/settings")
    mid = world.wait_text(user, "Format:").result["message_id"]
    _menu_press(world, user, mid, "🖼 Reference")
    _menu_press(world, user, mid, "my picture")
    photo = world.tg.photo_update(user, language_code="en")
    for size in photo["message"]["photo"]:
        data = sample_png(size["width"], size["height"], (200, 90, 30))
        world.tg.add_file(size["file_id"], data)
        size["file_size"] = len(data)
    assert world.send(photo) == 200
    world.wait_text(user, "this photo will set the look")

    start = _created(runway)
    world.say(user, "A video about a red fox")
    world.press(user, world.wait_buttons(user, "s"))
    world.wait_buttons(user, "p")
    job_id = world.job_of(user, timeout=20)
    job = world.wait_job(job_id, "awaiting_pictures_approval", timeout=60)
    made = _picture_creates(runway, start)
    assert len(made) == 6 and all(len(b["referenceImages"]) == 1 for b in made), "picture 1 too follows the photo"
    sent = {b["referenceImages"][0]["uri"] for b in made}
    assert len(sent) == 1, "the same photo for every picture"
    assert job["options"]["reference"] == "user" and job["options"]["reference_image"].endswith("reference.jpg")
    world.press(user, world.wait_buttons(user, "p"), "no")
    world.wait_text(user, "Cancelled")
