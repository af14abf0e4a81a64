"""The whole bot, end to end: fake Telegram → real webhook (gunicorn) → real Redis →
real Celery worker → offline pipeline → fake Telegram. One scenario per test; each uses
users of its own so the per-user limits of one never touch another.

Every scenario ends with no failed Bot API call but those it provokes and names
(``bot_api.allow``): the ``bot_api`` fixture checks each world a scenario uses (the
module's, or one made with ``new_world``), so no scenario can forget it."""

from __future__ import annotations

import itertools
import json
import subprocess
import time

import pytest

from storyreel.media.ffmpeg import ffmpeg_binary
from tests.botworld import BotWorld, quiet as _quiet
from tests.fakes.telegram_server import sample_voice

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("bot_api")]

_users = itertools.count(7001)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with BotWorld(tmp_path_factory.mktemp("bot"), db=11) as w:
        yield w


@pytest.fixture
def new_world(tmp_path, bot_api):
    """``with new_world(APPROVAL_TIMEOUT="2") as world:`` a world of the test's own (Redis
    db 12), checked like the module's."""
    def make(**settings: str) -> BotWorld:
        return bot_api.watch(BotWorld(tmp_path, db=12, **settings))
    return make


@pytest.fixture
def user() -> int:
    return next(_users)


def _approve_all(world: BotWorld, user: int) -> None:
    for kind in "spc":
        world.press(user, world.wait_buttons(user, kind))


def test_text_prompt_to_video_with_three_approvals(world, user):
    world.say(user, "A video about the history of coffee")
    world.wait_text(user, "Got it")
    script = world.wait_buttons(user, "s")
    assert "Script" in script.params["text"] and "coffee" in script.params["text"].lower()
    world.press(user, script)
    pictures = world.wait_buttons(user, "p")
    album = world.tg.wait_for(lambda c: c.method == "sendMediaGroup" and str(c.params["chat_id"]) == str(user))
    assert [m["type"] for m in album.params["media"]] == ["photo"] * 5
    assert album.at < pictures.at, "the album comes first: albums cannot carry buttons"
    world.press(user, pictures)
    clips = world.wait_buttons(user, "c")
    clip_album = [c for c in world.tg.calls("sendMediaGroup", chat_id=user) if c.params["media"][0]["type"] == "video"]
    assert len(clip_album) == 1 and len(clip_album[0].params["media"]) == 3
    world.press(user, clips)
    video = world.video(user)
    assert video.params["duration"] == 6 and video.params["supports_streaming"] is True
    assert "StoryReel" in video.params["caption"]
    assert video.result["video"]["duration"] == 6
    texts = world.tg.texts(user)
    assert any("Making clips: 6/6" in t for t in texts), texts  # progress edited to the end
    _quiet(world)
    assert world.job_dirs() == [], "every file of the job is deleted after delivery"
    assert world.tg.calls("answerCallbackQuery", chat_id=None), "every press is answered"


def test_russian_user_gets_russian(world, user):
    world.say(user, "Видео о Байкале", lang="ru")
    world.wait_text(user, "Принято")
    script = world.wait_buttons(user, "s")
    assert "Сценарий" in script.params["text"]
    labels = [[b["text"] for b in row] for row in script.params["reply_markup"]["inline_keyboard"]]
    assert labels == [["✅ Одобрить", "❌ Отменить"], ["✏️ Изменить"]]
    world.press(user, script, "no", lang="ru")
    world.wait_text(user, "Отменено")


def test_voice_note_is_heard_then_made(world, user, tmp_path):
    wav = tmp_path / "speech.wav"
    from storyreel.providers.local.speech import EspeakNarrator

    # a sentence PocketSphinx reliably gets right from eSpeak's voice (see test_local_speech)
    EspeakNarrator(rate_wpm=130).speak("Once upon a time there was a little girl.", wav, language="en")
    ogg = tmp_path / "voice.ogg"
    subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "32k", str(ogg)],
                   check=True)
    data = ogg.read_bytes()
    update = world.tg.voice_update(user, "voice-1", duration=3, file_size=len(data), language_code="en", data=data)
    assert world.send(update) == 200
    heard = world.wait_text(user, "I heard")
    assert {"time", "little", "girl"} & set(heard.params["text"].lower().split()), heard.params["text"]
    assert world.tg.calls("getFile")
    _approve_all(world, user)
    world.video(user)


def test_voice_over_twenty_megabytes_is_refused_before_download(world, user):
    before = len(world.tg.calls("getFile"))
    update = world.tg.voice_update(user, "huge-voice", duration=1200, file_size=21 * 1024 * 1024,
                                   language_code="en", data=sample_voice(0.5))
    world.send(update)
    world.wait_text(user, "too large")
    assert len(world.tg.calls("getFile")) == before


@pytest.mark.parametrize("gate", ["s", "p", "c"])
def test_cancel_at_each_gate_deletes_everything(world, user, gate):
    world.say(user, "A video about volcanoes")
    for kind in "spc":
        call = world.wait_buttons(user, kind)
        if kind == gate:
            press = world.press(user, call, "no")
            break
        world.press(user, call)
    assert "Cancelling" in world.wait_answer(press)
    world.wait_text(user, "Cancelled")
    calls = _quiet(world)
    assert not world.tg.calls("sendVideo", chat_id=user)
    assert world.job_dirs() == []
    time.sleep(1.0)
    assert len(world.tg.calls()) == calls, "nothing more happens after a cancel"


def test_cancel_command_mid_stage(world, user):
    world.say(user, "A video about glaciers")
    world.press(user, world.wait_buttons(user, "s"))
    world.send(world.tg.command_update(user, "/cancel", language_code="en"))
    world.wait_text(user, "Cancelled")
    _quiet(world)
    assert not world.tg.calls("sendVideo", chat_id=user)
    assert not [c for c in world.tg.calls("sendMediaGroup", chat_id=user) if c.params["media"][0]["type"] == "video"]
    assert world.job_dirs() == []
    world.send(world.tg.command_update(user, "/cancel", language_code="en"))
    world.wait_text(user, "no video in progress")


def test_someone_elses_button_changes_nothing(world, user):
    world.say(user, "A video about owls")
    script = world.wait_buttons(user, "s")
    stranger = next(_users)
    world.tg.add_chat(stranger, language_code="en")
    press = world.press(user, script, "ok", as_user=stranger)
    assert "someone else" in world.wait_answer(press)
    time.sleep(0.5)
    assert not world.tg.calls("sendMediaGroup", chat_id=user), "a foreign press must not approve"
    world.press(user, script, "no")
    world.wait_text(user, "Cancelled")


def test_double_press_counts_once(world, user):
    world.say(user, "A video about bees")
    script = world.wait_buttons(user, "s")
    first = world.press(user, script)
    second = world.press(user, script)
    answers = sorted([world.wait_answer(first), world.wait_answer(second)])
    assert answers == ["Already answered.", "Approved ✅"]
    pictures = world.wait_buttons(user, "p")
    _quiet(world)
    assert len(world.tg.calls("sendMediaGroup", chat_id=user)) == 1
    world.press(user, pictures, "no")
    world.wait_text(user, "Cancelled")
    stale = world.press(user, script)
    assert world.wait_answer(stale) == "This button is no longer active."


def test_second_prompt_while_a_job_waits_for_an_answer(world, user):
    world.say(user, "A video about rivers")
    world.press(user, world.wait_buttons(user, "s"))
    world.wait_buttons(user, "p")
    world.say(user, "A video about mountains")  # not a redo: the person is told what the gate needs
    world.wait_text(user, "Your video above is waiting for your answer")
    assert sum("Got it" in t for t in world.tg.texts(user)) == 1
    world.send(world.tg.command_update(user, "/cancel", language_code="en"))
    world.wait_text(user, "Cancelled")


def test_sixth_prompt_in_a_minute_is_refused(world, user):
    for n in range(5):
        world.say(user, f"A video about the number {n}")
        world.press(user, world.wait_buttons(user, "s"), "no")
        deadline = time.monotonic() + 30
        while sum("Cancelled" in t for t in world.tg.texts(user)) < n + 1:
            assert time.monotonic() < deadline, world.tg.texts(user)
            time.sleep(0.05)
    world.say(user, "A video about the number 6")
    refused = world.wait_text(user, "Too many")
    assert "try again in" in refused.params["text"]
    assert sum("Got it" in t for t in world.tg.texts(user)) == 5


def test_same_update_twice_makes_one_job(world, user):
    update = world.tg.text_update(user, "A video about lighthouses", language_code="en")
    assert world.send(update) == 200
    assert world.send(update) == 200
    script = world.wait_buttons(user, "s")
    _quiet(world)
    assert sum("Got it" in t for t in world.tg.texts(user)) == 1
    world.press(user, script, "no")
    world.wait_text(user, "Cancelled")


def test_forged_secret_and_malformed_body(world, user):
    update = world.tg.text_update(user, "A video about forgeries", language_code="en")
    assert world.send(update, secret="wrong") == 403
    assert world.send(update, secret=None) == 403
    import urllib.error
    import urllib.request

    req = urllib.request.Request(world.webhook, b"{not json", {"X-Telegram-Bot-Api-Secret-Token": "e2e-secret-Zx81",
                                                              "Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400
    time.sleep(0.5)
    assert not world.tg.calls(chat_id=user), "a refused update reaches nobody"


@pytest.mark.parametrize("kind", ["sticker", "photo", "edited"])
def test_other_updates_get_a_short_reply(world, user, kind):
    if kind == "sticker":
        update = world.tg.sticker_update(user, language_code="en")
    elif kind == "photo":
        update = world.tg.photo_update(user, language_code="en")
    else:
        update = world.tg.edited_message_update(user, "changed my mind", language_code="en")
    world.send(update)
    # a photo may be the person's reference picture: they are told where to choose that
    world.wait_text(user, "send me a text or a voice note" if kind == "photo" else "text and voice messages only")
    assert not world.job_ids() or all(world.job(j)["user_id"] != user for j in world.job_ids())


def test_channel_post_is_ignored(world):
    before = len(world.tg.calls())
    world.send(world.tg.channel_post_update())
    time.sleep(1.0)
    assert [c.method for c in world.tg.calls()[before:]] == []


def test_start_and_help(world, user):
    world.send(world.tg.command_update(user, "/start", language_code="en"))
    greeting = world.wait_text(user, "Send me a sentence or a voice note")
    assert "minute" in greeting.params["text"]
    world.send(world.tg.command_update(user, "/help", language_code="en"))
    world.wait_text(user, "this text")


def test_telegram_429_on_a_send_is_waited_out(world, user, bot_api):
    bot_api.allow(("sendMessage", "Too Many Requests"))
    world.tg.add_chat(user, language_code="en")
    _quiet(world)  # the fault must meet this test's send, not a late one of another test
    world.tg.fail_next("sendMessage", count=1, retry_after=1)
    world.send(world.tg.command_update(user, "/help", language_code="en"))
    got = world.wait_text(user, "this text", timeout=30)
    refused = [c for c in world.tg.calls("sendMessage", chat_id=user) if c.status == 429]
    assert refused and got.at - refused[-1].at >= 0.9, "the resend waited retry_after"


def test_logs_are_json_events_without_secrets(world):
    text = world.log_text()
    assert "e2e-secret-Zx81" not in text and "TEST-token" not in text
    assert '"event": "job_accepted"' in text or '"event":"job_accepted"' in text


def test_approval_timeout_cancels_the_job(new_world):
    with new_world(APPROVAL_TIMEOUT="2") as world:
        user = next(_users)
        world.say(user, "A video about patience")
        script = world.wait_buttons(user, "s")
        note = world.wait_text(user, "No answer", timeout=30)
        assert "cancelled" in note.params["text"]
        _quiet(world)
        assert world.job_dirs() == []
        stale = world.press(user, script)
        assert world.wait_answer(stale) == "This button is no longer active."
        world.say(user, "A video about a second chance")
        world.wait_text(user, "Got it")


def test_unreadable_voice_is_a_clear_message_and_leaves_nothing(world, user):
    junk = b"OggS" + bytes(range(256)) * 40  # an Ogg signature and nothing decodable after it
    update = world.tg.voice_update(user, "junk-voice", duration=2, file_size=len(junk), language_code="en", data=junk)
    world.send(update)
    reply = world.wait_text(user, "voice message cannot be read")
    assert "Traceback" not in reply.params["text"]
    _quiet(world)
    assert list(world.work.rglob("*")) == [], "the downloaded voice note is deleted"
    assert not any(world.job(j)["user_id"] == user for j in world.job_ids())


def test_polling_mode_feeds_the_same_workers(world, user):
    import subprocess
    import sys

    poller = subprocess.Popen([sys.executable, "-m", "storyreel.cli", "bot", "--polling"], env=world.env,
                              cwd=world.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        world.tg.wait_for("deleteWebhook", timeout=30)
        world.tg.push_update(world.tg.command_update(user, "/help", language_code="en"))
        world.wait_text(user, "this text", timeout=30)
        assert world.tg.calls("getUpdates")
    finally:
        poller.terminate()
        poller.wait(timeout=15)


def test_set_webhook_registers_url_and_secret(world):
    import subprocess
    import sys

    env = {**world.env, "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/webhook"}
    done = subprocess.run([sys.executable, "-m", "storyreel.cli", "set-webhook"], env=env, cwd=world.tmp,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    call = world.tg.wait_for("setWebhook")
    assert call.params["url"] == "https://bot.example.com/webhook"
    assert call.params["secret_token"] == "e2e-secret-Zx81"
    assert "e2e-secret-Zx81" not in done.stdout + done.stderr
    world.tg.webhook = {"url": ""}  # as the other tests expect: no webhook, so getUpdates works


def test_operator_reads_a_jobs_history_and_the_active_jobs(world, user):
    import subprocess
    import sys

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "storyreel.cli", *args], env=world.env, cwd=world.tmp,
                              capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout + done.stderr

    world.say(user, "A video about operators")
    world.wait_buttons(user, "s")
    job_id = next(j for j in world.job_ids() if world.job(j)["user_id"] == user)
    code, out = cli("jobs")
    assert code == 0 and job_id in out and "awaiting_script_approval" in out
    world.press(user, world.wait_buttons(user, "s"))
    world.press(user, world.wait_buttons(user, "p"))
    world.press(user, world.wait_buttons(user, "c"))
    world.video(user)
    _quiet(world)
    code, out = cli("job", job_id)
    assert code == 0, out
    assert f"job {job_id}  status done" in out
    for event in ("job_started", "approval_requested", "approval_given", "stage_started", "stage_finished",
                  "job_done"):
        assert event in out, (event, out)
    assert job_id not in cli("jobs")[1]
    code, out = cli("job", "no-such-job")
    assert code == 2 and out.strip().splitlines() == ["storyreel: That job does not exist."]


def test_approval_timeout_survives_the_death_of_the_worker_that_asked(new_world):
    with new_world(APPROVAL_TIMEOUT="2", JOB_LOCK_SECONDS="2") as world:
        user = next(_users)
        world.say(user, "A video about resilience")
        script = world.wait_buttons(user, "s")
        deadline = time.monotonic() + 10  # the step has ended: the worker now only holds the countdown
        while world.redis.smembers("storyreel:running") or not world.job_ids():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        world.kill_worker()
        time.sleep(2.5)  # the deadline passes with no worker at all
        world.worker_ready(world.start_worker())  # recover finds the deadline passed
        note = world.wait_text(user, "No answer", timeout=30)
        assert "cancelled" in note.params["text"]
        stale = world.press(user, script)
        assert world.wait_answer(stale) == "This button is no longer active."
        _quiet(world)
        assert world.job_dirs() == []


# ---- a cancel takes effect at once; Telegram's errors by kind ---------------------------------
def _active(world: BotWorld, user: int) -> list[str]:
    return world.redis.zrange(f"storyreel:active:{user}", 0, -1)


def _logged_once(world: BotWorld, event: str, user: int, timeout: float = 5.0) -> bool:
    """True when the worker's log holds ``event`` for ``user`` exactly once (the log is
    read until it shows, for a few seconds: the worker may still be writing it)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in world.log_text().splitlines()
                 if f'"{event}"' in line and f'"chat_id": {user}' in line]
        if lines or time.monotonic() > deadline:
            return len(lines) == 1
        time.sleep(0.2)


def _events(world: BotWorld, event: str) -> list[dict]:
    found = []
    for line in world.log_text().splitlines():
        if f'"{event}"' in line and line.lstrip().startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == event:
                found.append(entry)
    return found


def test_cancel_then_a_new_prompt_at_once(world, user):
    world.say(user, "A video about kites")
    script = world.wait_buttons(user, "s")
    pressed_at = world.tg.now()
    press = world.press(user, script, "no")
    time.sleep(0.5)
    world.say(user, "A video about paper planes")
    assert "Cancelling" in world.wait_answer(press)
    cancelled = world.wait_text(user, "Cancelled")
    texts = world.tg.texts(user)
    assert not any("already being made" in t for t in texts), texts
    second = world.tg.wait_for(lambda c: c.ok and str(c.params.get("chat_id")) == str(user)
                               and "Got it" in (c.params.get("text") or "") and c.at > pressed_at, 30)
    assert cancelled.at < second.at, "the cancel is confirmed before the next job starts"
    assert cancelled.at - pressed_at < 2.0, f"'Cancelled' {cancelled.at - pressed_at:.2f} s after ❌"
    print(f"\n❌ → 'Cancelled': {cancelled.at - pressed_at:.3f} s")
    _approve_all(world, user)
    world.video(user)
    _quiet(world)
    assert sum("Cancelled" in t for t in world.tg.texts(user)) == 1, "one 'Cancelled', from the handler"
    assert world.job_dirs() == []


def test_cancel_command_frees_the_slot_at_once(world, user):
    world.say(user, "A video about canals")
    world.press(user, world.wait_buttons(user, "s"))
    world.wait_text(user, "Making pictures")
    asked_at = world.tg.now()
    world.send(world.tg.command_update(user, "/cancel", language_code="en"))
    cancelled = world.wait_text(user, "Cancelled")
    assert _active(world, user) == [], "the slot is free when the user reads 'Cancelled'"
    print(f"\n/cancel → 'Cancelled': {cancelled.at - asked_at:.3f} s")
    world.say(user, "A video about locks")
    world.wait_text(user, "Got it")
    world.press(user, world.wait_buttons(user, "s"), "no")
    _quiet(world)
    assert sum("Cancelled" in t for t in world.tg.texts(user)) == 2
    assert world.job_dirs() == []


def test_a_user_who_blocks_the_bot_mid_job(world, user, bot_api):
    bot_api.allow(("sendMediaGroup", "blocked by the user"))
    world.say(user, "A video about walls")
    script = world.wait_buttons(user, "s")
    job_id = world.job_of(user)
    world.tg.block_user(user, on="sendMediaGroup")  # the first pictures are on their way
    world.press(user, script)
    refused = world.tg.wait_for(lambda c: c.status == 403 and c.params.get("chat_id") == user, 30)
    job = world.wait_job(job_id, "cancelled")
    _quiet(world)
    calls = world.tg.calls()
    after = [c.method for c in calls[calls.index(refused) + 1:] if str(c.params.get("chat_id")) == str(user)]
    assert after == [], f"calls to a user who blocked the bot: {after}"
    assert world.tg.failed_calls(chat_id=user) == [("sendMediaGroup", 403, "Forbidden: bot was blocked by the user")]
    assert world.redis.get(f"storyreel:cancel:{job_id}") == "blocked" and job["notes"]["cancel_reason"] == "blocked"
    assert _active(world, user) == [] and world.job_dirs() == []
    assert _logged_once(world, "user_blocked", user)
    crashed = [e for e in _events(world, "job_step_crashed") if e.get("job_id") == job_id]
    assert not crashed and "raised unexpected" not in world.log_text()


def test_a_reply_to_a_user_who_blocked_the_bot_ends_their_job(world, user, bot_api):
    bot_api.allow(("sendMessage", "blocked by the user"))
    world.say(user, "A video about doors")
    world.wait_buttons(user, "s")
    job_id = world.job_of(user)
    world.tg.block_user(user)
    world.send(world.tg.sticker_update(user, language_code="en"))  # sent before they blocked it
    refused = world.tg.wait_for(lambda c: c.status == 403 and c.params.get("chat_id") == user, 30)
    world.wait_job(job_id, "cancelled")
    _quiet(world)
    calls = world.tg.calls()
    assert [c for c in calls[calls.index(refused) + 1:] if str(c.params.get("chat_id")) == str(user)] == []
    assert len(world.tg.failed_calls(chat_id=user)) == 1, "a 403 is never tried again"
    assert world.redis.get(f"storyreel:cancel:{job_id}") == "blocked"
    assert _active(world, user) == [] and world.job_dirs() == []
    world.tg.unblock_user(user)


def test_an_expired_button_press_is_answered_once_and_still_counts(world, user, bot_api):
    bot_api.allow(("answerCallbackQuery", "query is too old"))
    world.say(user, "A video about clocks")
    script = world.wait_buttons(user, "s")
    data = next(b["callback_data"] for row in script.params["reply_markup"]["inline_keyboard"] for b in row
                if b["callback_data"].startswith("ok:"))
    world.pressed.add((user, script.result["message_id"]))
    update = world.tg.callback_update(user, data, script.result["message_id"], language_code="en")
    world.tg.advance_clock(901)  # the press waited in a queue past Telegram's 15 minutes
    assert world.send(update) == 200
    pictures = world.wait_buttons(user, "p")  # the approval went through
    qid = update["callback_query"]["id"]
    answers = [c for c in world.tg.calls("answerCallbackQuery") if str(c.params["callback_query_id"]) == qid]
    assert [c.status for c in answers] == [400], "answered once, never tried again"
    world.press(user, pictures, "no")
    world.wait_text(user, "Cancelled")


def test_a_400_is_never_tried_again(world, user, bot_api):
    bot_api.allow(("sendMessage", "chat not found"))
    world.tg.add_chat(user, language_code="en")
    _quiet(world)  # the fault must meet this test's send
    world.tg.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    world.send(world.tg.command_update(user, "/help", language_code="en"))
    world.tg.wait_for(lambda c: c.status == 400 and c.params.get("chat_id") == user, 30)
    time.sleep(3.5)  # longer than the network backoff (1 s, then 2 s)
    assert [c.status for c in world.tg.calls("sendMessage", chat_id=user)] == [400]


def test_a_user_who_blocks_the_bot_stops_the_paid_work(new_world, bot_api):
    from tests.fakes.runway_server import FakeRunway

    bot_api.allow(("editMessageText", "blocked by the user"))
    # Runway runs 3 clips at a time: when the first are done the others are being made
    with FakeRunway(clip_latency=2.0, concurrency=3, media_short_side=90) as runway, \
            new_world(RUNWAY_API_KEY=runway.api_key, RUNWAYML_BASE_URL=runway.url,
                      PROVIDERS="pictures=local,motion=runway", CONCURRENCY="6", PROGRESS_EVERY="1",
                      CLIPS_DURING_REVIEW="true", POLL_INTERVAL="0.05", MIN_FREE_DISK_MB="0") as world:
        user = next(_users)
        world.say(user, "A video about dams")
        world.press(user, world.wait_buttons(user, "s"))
        pictures = world.wait_buttons(user, "p")
        job_id = world.job_of(user)
        world.press(user, pictures)
        world.wait_text(user, "Making clips")
        world.tg.block_user(user, on="editMessageText")  # "Making clips: 1/6", as the first clip is in
        refused = world.tg.wait_for(lambda c: c.status == 403 and c.params.get("chat_id") == user, 60)
        world.wait_job(job_id, "cancelled")
        _quiet(world)
        calls = world.tg.calls()
        assert [c for c in calls[calls.index(refused) + 1:] if str(c.params.get("chat_id")) == str(user)] == []
        assert world.redis.get(f"storyreel:cancel:{job_id}") == "blocked"
        assert _active(world, user) == [] and world.job_dirs() == []
        with runway._state:
            tasks = list(runway.tasks.values())
        assert len(tasks) == 6 and any(t.deleted for t in tasks), "the clips still being made were deleted"
        for task in tasks:
            assert task.deleted or runway.statuses(task.id)[-1] == "SUCCEEDED", "no Runway task left running"
