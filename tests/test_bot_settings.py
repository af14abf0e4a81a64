"""``/settings`` against the fake Bot API and a real Redis (database 9): one menu message
edited in place, choices kept per person and turned into a job's fields, every press
answered once, presses that are out of date, someone else's or garbage change nothing,
a voice sample made once per server, the reference photo; and the client calls the menu
added (``send_photo``, ``send_voice``) against the fake's strict ``sendPhoto``/``sendVoice``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from telegram import Update
from telegram.error import BadRequest

from storyreel.bot.client import TelegramClient
from storyreel.bot.preferences import Preferences, PreferenceStore, job_fields
from storyreel.bot.services import Services
from storyreel.bot.settings_menu import on_button, on_photo, open_menu, parse_callback, play_sample, token
from storyreel.bot.texts import text, ui_language
from storyreel.media.narration import write_wav
from storyreel.models import Aspect
from storyreel.providers.base import report_usage
from storyreel.providers.factory import build_providers
from storyreel.settings import Settings
from tests.conftest import close_redis, fresh_redis
from tests.fakes.telegram_server import FakeTelegram, sample_png, sample_voice

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

REDIS_URL = "redis://127.0.0.1:6379/9"
USER, OTHER = 555_000_901, 555_000_902
OFFLINE = "script=local,pictures=local,motion=local,speech=local,transcription=local"


class SampleNarrator:
    """A narrator with voices that records what it was asked and writes a real WAV."""

    name = "test-speech"
    max_chars = 1000
    voices = ("nova", "onyx", "sage")

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def speak(self, text: str, out_path: Path, *, language: str, voice: str | None = None, style: str = "") -> Path:
        self.calls.append({"text": text, "language": language, "voice": voice, "style": style})
        report_usage("test-tts", len(text), "character")  # paid like any narration
        t = np.arange(int(24000 * 0.6)) / 24000
        return write_wav(0.3 * np.sin(2 * np.pi * 220 * t), out_path)


@pytest.fixture
def fake():
    with FakeTelegram("123456:settings-token") as server:
        server.add_chat(USER, language_code="en")
        server.add_chat(OTHER, language_code="en")
        yield server


@pytest.fixture
def redis_db():
    client = fresh_redis(REDIS_URL, decode_responses=True)
    yield client
    close_redis(client)


@pytest.fixture
def make(fake, redis_db, tmp_path):
    """``make(**settings)``: Services on the fake, Redis db 9 and offline providers (the
    speech provider a ``SampleNarrator``); all closed at the end."""
    built: list[Services] = []

    def build(narrator: SampleNarrator | None = None, **overrides) -> Services:
        values = {"segment_count": 48, "segment_seconds": 5.0, "aspect": "16:9", "providers": OFFLINE,
                  "work_dir": tmp_path / "work", **overrides}
        settings = Settings(_env_file=None, telegram_bot_token=fake.token, telegram_api_url=fake.url,
                            redis_url=REDIS_URL, **values)
        services = Services(settings, dispatcher=None)
        providers = build_providers(settings)
        providers.speech = narrator or SampleNarrator()
        services.__dict__["providers"] = providers
        built.append(services)
        return services

    yield build
    for services in built:
        if "client" in services.__dict__:
            services.client.close()
        services.close()


# ---- driving the bot as a person would --------------------------------------------------------

def send_settings(s: Services, fake: FakeTelegram, user: int = USER, lang: str = "en") -> int:
    """The person sends /settings; the menu's message id."""
    update = Update.de_json(fake.command_update(user, "/settings", language_code=lang), s.client.bot)
    before = len(fake.calls("sendMessage"))
    open_menu(s, update.message, ui_language(update.message.from_user.language_code))
    return fake.calls("sendMessage")[before].result["message_id"]


def press(s: Services, fake: FakeTelegram, data: str, message_id: int, user: int = USER, lang: str = "en"):
    """``user`` presses a button with ``data`` on ``message_id``; the answer it got (the one
    answerCallbackQuery call made for the press)."""
    update = Update.de_json(fake.callback_update(user, data, message_id, language_code=lang), s.client.bot)
    cq = update.callback_query
    on_button(s, cq, ui_language(cq.from_user.language_code))
    answers = [c for c in fake.calls("answerCallbackQuery") if c.params["callback_query_id"] == cq.id]
    assert len(answers) == 1 and answers[0].ok, answers
    return answers[0]


def keyboard(fake: FakeTelegram, message_id: int, user: int = USER) -> list[tuple[str, str]]:
    """(label, callback data) of every button the message shows now."""
    markup = (fake.message(user, message_id) or {}).get("reply_markup") or {"inline_keyboard": []}
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


def data_of(fake: FakeTelegram, message_id: int, label: str, user: int = USER) -> str:
    """The data of the button whose label contains ``label`` (exactly one)."""
    found = [data for text_, data in keyboard(fake, message_id, user) if label in text_]
    assert len(found) == 1, (label, keyboard(fake, message_id, user))
    return found[0]


def choose(s, fake, message_id: int, page: str, option: str, lang: str = "en"):
    """Open ``page`` of the menu and press ``option`` there."""
    press(s, fake, data_of(fake, message_id, page), message_id, lang=lang)
    return press(s, fake, data_of(fake, message_id, option), message_id, lang=lang)


def shown(fake: FakeTelegram, message_id: int, user: int = USER) -> str:
    return fake.message(user, message_id)["text"]


# ---- the menu -----------------------------------------------------------------------------------

def test_the_menu_edits_one_message_and_the_choices_persist(fake, make):
    s = make()
    menu = send_settings(s, fake)
    assert "Format: 16:9" in shown(fake, menu) and "Length: 4 min (48 segments × 5 s)" in shown(fake, menu)
    choose(s, fake, menu, "Format", "9:16")
    choose(s, fake, menu, "Length", "30 s")
    choose(s, fake, menu, "Voice", "onyx")
    choose(s, fake, menu, "Visual style", "watercolor")
    press(s, fake, data_of(fake, menu, "Subtitles: off"), menu)
    press(s, fake, data_of(fake, menu, "Music: on"), menu)
    text_now = shown(fake, menu)
    for line in ("Format: 9:16", "Length: 30 s (6 segments × 5 s)", "Voice: onyx", "Visual style: watercolor",
                 "Subtitles: on", "Music: off"):
        assert line in text_now
    # one message: sent once, then only edited; every press answered once (checked in press)
    assert len(fake.calls("sendMessage")) == 1
    edits = fake.calls("editMessageText")
    assert edits and {c.params["message_id"] for c in edits} == {menu}
    fake.assert_no_failed_calls()

    prefs = PreferenceStore(s.redis, s.settings).load(USER)  # a store of its own: read back from Redis
    assert (prefs.aspect, prefs.length, prefs.voice, prefs.visual_style, prefs.subtitles, prefs.music) == (
        "9:16", 30, "onyx", "watercolor", True, False)
    fields = job_fields(prefs, s.settings)
    assert fields["aspect"] is Aspect.PORTRAIT and fields["segment_count"] == 6
    assert fields["burn_subtitles"] is True and fields["options"].voice == "onyx"
    assert fields["options"].visual_style == "watercolor" and fields["options"].music is False
    assert set(fields) == {"segment_count", "aspect", "burn_subtitles", "options", "reference_file_id"}

    # a new /settings shows what was chosen; the old menu loses its buttons
    second = send_settings(s, fake)
    assert "Format: 9:16" in shown(fake, second)
    assert keyboard(fake, menu) == []


def test_a_page_marks_the_current_choice_and_back_returns(fake, make):
    s = make()
    menu = send_settings(s, fake)
    main = keyboard(fake, menu)
    press(s, fake, data_of(fake, menu, "Format"), menu)
    labels = [label for label, _ in keyboard(fake, menu)]
    assert "✓ 16:9" in labels and "9:16" in labels and "Choose the format:" in shown(fake, menu)
    press(s, fake, data_of(fake, menu, "Back"), menu)
    assert keyboard(fake, menu) == main


def test_job_fields_follow_the_server_defaults_and_the_reference_rules(fake, make):
    s = make(reference="first", motion_budget=12, music=False, burn_subtitles=True)
    prefs = Preferences.defaults(s.settings)
    fields = job_fields(prefs, s.settings)
    assert fields["segment_count"] == 48 and fields["aspect"] is Aspect.LANDSCAPE
    assert fields["burn_subtitles"] is True and fields["reference_file_id"] is None
    options = fields["options"]
    assert (options.reference, options.motion_budget, options.music, options.voice) == ("first", 12, False, None)
    # "my picture" with no photo yet: the server's way; with one, the worker fetches it by id
    prefs.reference = "user"
    assert job_fields(prefs, s.settings)["options"].reference == "first"
    prefs.reference_file_id = "photo-77"
    fields = job_fields(prefs, s.settings)
    assert fields["options"].reference == "user" and fields["reference_file_id"] == "photo-77"
    assert fields["options"].reference_image is None
    prefs.reference = "off"  # the photo is kept, but not used
    assert job_fields(prefs, s.settings)["reference_file_id"] is None
    # a budget as large as the video animates everything: 0
    prefs.length, prefs.motion_budget = 30, 12
    assert job_fields(prefs, s.settings)["options"].motion_budget == 0
    prefs.length = 59  # rounds to the nearest whole segment count
    assert job_fields(prefs, s.settings)["segment_count"] == 12


def test_the_estimate_follows_the_choices(fake, make):
    s = make(prices={"local-pictures/image": 0.10, "local-motion/second": 0.02})
    menu = send_settings(s, fake)
    long_video = shown(fake, menu)
    assert "costs about $9.60" in long_video  # 48 × ($0.10 + 5 s × $0.02)
    choose(s, fake, menu, "Animation", "12 most visual")  # 12 clips by the motion model, not 48
    assert "costs about $6.00" in shown(fake, menu)
    choose(s, fake, menu, "Animation", "all")
    choose(s, fake, menu, "Length", "30 s")
    short_video = shown(fake, menu)
    assert "costs about $1.20" in short_video
    eta = [line for line in long_video.splitlines() if "takes about" in line]
    assert eta and eta != [line for line in short_video.splitlines() if "takes about" in line]


def test_the_motion_budgets_offered_stop_at_the_segment_count(fake, make):
    s = make()
    menu = send_settings(s, fake)
    press(s, fake, data_of(fake, menu, "Animation"), menu)
    assert [label for label, _ in keyboard(fake, menu)][:4] == ["✓ all", "6 most visual", "12 most visual",
                                                                 "24 most visual"]
    stale_24 = data_of(fake, menu, "24 most visual")
    press(s, fake, data_of(fake, menu, "12 most visual"), menu)
    assert "Animated segments: 12 most visual" in shown(fake, menu)
    choose(s, fake, menu, "Length", "1 min")  # 12 segments: only 6 is fewer
    assert "Animated segments: all" in shown(fake, menu)
    press(s, fake, data_of(fake, menu, "Animation"), menu)
    assert [label for label, _ in keyboard(fake, menu)][:2] == ["✓ all", "6 most visual"]
    answer = press(s, fake, stale_24, menu)  # no longer offered
    assert answer.params["text"] == text("st_stale", "en")


def test_russian_menu(fake, make):
    s = make()
    menu = send_settings(s, fake, lang="ru")
    assert shown(fake, menu).startswith("⚙️ Настройки следующих видео")
    assert any(label == "📐 Формат" for label, _ in keyboard(fake, menu))
    answer = press(s, fake, "st:garbage", menu, lang="ru")
    assert answer.params["text"] == "Это меню устарело, отправьте /settings"


# ---- presses that change nothing ---------------------------------------------------------------

def test_garbage_stale_and_foreign_presses_change_nothing_and_are_answered(fake, make):
    s = make()
    first = send_settings(s, fake)
    old_format = data_of(fake, first, "Format")
    press(s, fake, old_format, first)
    old_square = data_of(fake, first, "1:1")
    menu = send_settings(s, fake)
    saved = s.redis.hgetall(f"storyreel:prefs:{USER}")
    edits = len(fake.calls("editMessageText"))
    stale, not_yours = text("st_stale", "en"), text("st_not_yours", "en")
    cases = [
        ("st:", menu, USER, stale),
        ("st:zzz:sf:1", menu, USER, stale),
        (f"st:{USER}", menu, USER, stale),
        (f"st:{USER}:sq:1", menu, USER, stale),  # no such field
        (f"st:{USER}:sv:robot", menu, USER, stale),  # no such voice
        (f"st:{USER}:sl:31", menu, USER, stale),  # no such length
        (f"st:{USER}:of:extra", menu, USER, stale),
        (f"st:{USER}:x", menu, USER, stale),
        (old_square, first, USER, stale),  # a menu that is not the latest
        (data_of(fake, menu, "Format"), menu, OTHER, not_yours),  # someone else's menu
        (f"st:{OTHER}:sf:1", menu, USER, not_yours),
    ]
    for data, message_id, user, expected in cases:
        assert press(s, fake, data, message_id, user=user).params["text"] == expected, data
    assert s.redis.hgetall(f"storyreel:prefs:{USER}") == saved
    assert len(fake.calls("editMessageText")) == edits
    fake.assert_no_failed_calls()


def test_a_choice_the_operator_took_away_is_out_of_date(fake, make):
    s = make(visual_styles={"anime": "anime style", "photo": "a photograph"},
             narration_styles={"calm": "Calm.", "lively": "Lively."})
    menu = send_settings(s, fake)
    press(s, fake, data_of(fake, menu, "Visual style"), menu)
    anime = data_of(fake, menu, "anime")
    press(s, fake, data_of(fake, menu, "Back"), menu)
    choose(s, fake, menu, "Narration", "lively")
    # the operator removes "anime" and "lively"; the menu on screen still offers them
    s2 = make(visual_styles={"photo": "a photograph"}, narration_styles={"calm": "Calm."})
    assert s2.preferences.load(USER).narration_style == ""  # read back as the default
    assert press(s2, fake, anime, menu).params["text"] == text("st_stale", "en")
    assert s2.preferences.load(USER).visual_style == ""
    # a voice the speech provider dropped reads back as its default too
    s.preferences.save(USER, Preferences(voice="retired"))
    assert s.preferences.load(USER).voice is None


def test_callback_data_fits_64_bytes_with_long_operator_names(fake, make):
    long_name = "Очень длинное название стиля: с двоеточием и пробелами " * 2
    s = make(visual_styles={long_name: "words", "plain": "words"})
    menu = send_settings(s, fake)
    press(s, fake, data_of(fake, menu, "Visual style"), menu)
    for _label, data in keyboard(fake, menu):
        assert len(data.encode()) <= 64 and parse_callback(data) is not None
    press(s, fake, data_of(fake, menu, "Очень длинное"), menu)
    assert s.preferences.load(USER).visual_style == long_name
    assert token(long_name).startswith("~") and token("") == "~" and token(True) == "1"


def test_done_closes_the_menu(fake, make):
    s = make()
    menu = send_settings(s, fake)
    format_data = data_of(fake, menu, "Format")
    assert press(s, fake, data_of(fake, menu, "Done"), menu).params["text"] == text("st_saved", "en")
    assert keyboard(fake, menu) == [] and text("st_closed", "en") in shown(fake, menu)
    assert press(s, fake, format_data, menu).params["text"] == text("st_stale", "en")


# ---- the voice sample -----------------------------------------------------------------------------

def test_a_sample_is_made_once_and_sent_again_by_file_id(fake, make, tmp_path):
    narrator = SampleNarrator()
    s = make(narrator, narration_styles={"calm": "Calm and warm.", "lively": "Lively."},
             prices={"test-tts/character": 0.001})
    menu = send_settings(s, fake)
    choose(s, fake, menu, "Voice", "sage")
    choose(s, fake, menu, "Narration", "calm")
    answer = press(s, fake, data_of(fake, menu, "Sample"), menu)
    assert answer.params["text"] == text("st_sample_wait", "en")
    assert narrator.calls == [{"text": text("st_sample_text", "en"), "language": "en", "voice": "sage",
                               "style": "Calm and warm."}]
    first = fake.calls("sendVoice")[0]
    assert first.ok and "voice" in first.result and first.files["voice"][:4] == b"OggS"
    assert first.result["voice"]["mime_type"] == "audio/ogg"
    assert not list((tmp_path / "work").glob("sample-*"))  # the temporary folder is gone

    paid = s.spending.today(USER)
    assert paid == pytest.approx(len(text("st_sample_text", "en")) * 0.001), "the sample is in the day's spending"
    press(s, fake, data_of(fake, menu, "Sample"), menu)
    assert s.spending.today(USER) == paid, "a sample sent again by file_id costs nothing"
    again = fake.calls("sendVoice")[1]
    assert again.ok and again.files == {} and again.params["voice"] == first.result["voice"]["file_id"]
    assert len(narrator.calls) == 1
    # another worker process (same Redis) reuses it too; another voice is made once
    other = SampleNarrator()
    s2 = make(other, narration_styles={"calm": "Calm and warm.", "lively": "Lively."})
    play_sample(s2, USER, s2.preferences.load(USER), "en")
    assert other.calls == [] and len(fake.calls("sendVoice")) == 3
    choose(s, fake, menu, "Voice", "nova")
    press(s, fake, data_of(fake, menu, "Sample"), menu)
    assert [c["voice"] for c in narrator.calls] == ["sage", "nova"]
    assert len(fake.calls("sendMessage")) == 1  # the menu was never sent again
    fake.assert_no_failed_calls()


def test_a_lost_sample_is_made_again(fake, make, redis_db):
    narrator = SampleNarrator()
    s = make(narrator)
    redis_db.hset("storyreel:voice-samples", "test-speech|nova||en", "voice-gone")
    play_sample(s, USER, Preferences.defaults(s.settings), "en")
    assert len(narrator.calls) == 1
    assert [c.ok for c in fake.calls("sendVoice")] == [False, True]
    assert redis_db.hget("storyreel:voice-samples", "test-speech|nova||en") != "voice-gone"


def test_no_sample_for_someone_who_refuses_voice_messages(fake, make):
    s = make()
    fake.forbid_voice_messages(USER)
    menu = send_settings(s, fake)
    press(s, fake, data_of(fake, menu, "Sample"), menu)
    assert fake.texts(USER)[-1] == text("st_no_voice", "en")
    assert [f.description for f in fake.failed_calls()] == ["Bad Request: VOICE_MESSAGES_FORBIDDEN"]


# ---- the reference photo ----------------------------------------------------------------------------

def test_a_photo_is_the_reference_only_after_choosing_my_picture(fake, make):
    s = make()
    menu = send_settings(s, fake)
    photo = Update.de_json(fake.photo_update(USER, language_code="en"), s.client.bot).message
    assert on_photo(s, photo, "en") is False
    assert fake.texts(USER)[-1] == text("st_photo_hint", "en")

    answer = choose(s, fake, menu, "Reference", "my picture")
    assert answer.params["text"] == text("st_send_photo", "en")
    assert "Reference: my picture (send me a photo)" in shown(fake, menu)
    photo = Update.de_json(fake.photo_update(USER, language_code="en"), s.client.bot).message
    assert on_photo(s, photo, "en") is True
    largest = max(photo.photo, key=lambda p: p.width)
    prefs = s.preferences.load(USER)
    assert prefs.reference_file_id == largest.file_id
    assert fake.texts(USER)[-2] == text("st_photo_taken", "en")
    assert "Reference: my picture\n" in shown(fake, menu)  # the open menu shows it
    fields = job_fields(prefs, s.settings)
    assert fields["options"].reference == "user" and fields["reference_file_id"] == largest.file_id


# ---- the client calls the menu added, against the strict fake -----------------------------------------

def test_send_photo_and_send_voice(fake, tmp_path):
    client = TelegramClient(Settings(_env_file=None, telegram_bot_token=fake.token, telegram_api_url=fake.url))
    try:
        picture = tmp_path / "sheet.png"
        picture.write_bytes(sample_png(320, 180))
        message_id = client.send_photo(USER, picture, caption="Pictures 1–6")
        sent = fake.message(USER, message_id)
        assert sent["caption"] == "Pictures 1–6" and sent["photo"][-1]["width"] == 320
        assert fake.calls("sendPhoto")[0].files["photo"] == picture.read_bytes()

        note = tmp_path / "note.ogg"
        note.write_bytes(sample_voice(1.0))
        file_id = client.send_voice(USER, note, caption="🔊")
        assert file_id and fake.file_data(file_id) == note.read_bytes()
        assert fake.calls("sendVoice")[0].result["voice"]["duration"] == 1
        assert client.send_voice(USER, file_id) == file_id  # again, by its file_id

        wav = write_wav(np.zeros(2400), tmp_path / "note.wav")
        assert client.send_voice(USER, wav) is None  # not a voice note: Telegram keeps a document
        assert fake.calls("sendVoice")[-1].result["document"]["mime_type"] == "audio/x-wav"

        photo_id = fake.calls("sendPhoto")[0].result["photo"][-1]["file_id"]
        with pytest.raises(BadRequest, match="(?i)type of file mismatch"):
            client.send_voice(USER, photo_id)
        with pytest.raises(BadRequest, match="(?i)IMAGE_PROCESS_FAILED"):
            client.send_photo(USER, wav)
    finally:
        client.close()


def test_a_sample_from_the_offline_narrator(fake, make):
    s = make()
    s.providers.speech = build_providers(s.settings).speech  # eSpeak NG, as a server without keys has
    voices = s.preferences.voices()
    assert len(voices) > 1
    menu = send_settings(s, fake, lang="ru")
    choose(s, fake, menu, "Голос", voices[1], lang="ru")
    press(s, fake, data_of(fake, menu, "Послушать"), menu, lang="ru")
    sent = fake.calls("sendVoice")
    assert len(sent) == 1 and sent[0].ok and sent[0].result["voice"]["duration"] >= 1
    assert sent[0].result["caption"].startswith(f"🔊 {voices[1]}")
