"""The fake Telegram server, driven by the real python-telegram-bot ``Bot`` over loopback HTTP.

These tests pin down that what PTB sends is understood (forms, multipart, ``attach://``,
JSON-encoded parameters) and that what the fake answers parses into PTB's objects and
errors exactly as api.telegram.org's answers would.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import subprocess
import sys
import time
import urllib.request

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter

from tests.conftest import ROOT, probe
from tests.fakes.server import FakeServer, Reply
from tests.fakes.telegram_server import (
    QUERY_AGE_LIMIT,
    BotCall,
    FailedCall,
    FakeTelegram,
    sample_mp4,
    sample_png,
    sample_voice,
)

USER = 555_000_111
# PTB 22 warns that durations will become timedeltas; ``seconds`` below reads either
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        server.add_chat(USER, first_name="Аня")
        yield server


def drive(fake: FakeTelegram, body, token: str | None = None):
    """Run ``body(bot)`` with a real ``telegram.Bot`` pointed at the fake."""
    async def main():
        bot = telegram.Bot(token or fake.token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")
        async with bot:
            return await body(bot)
    return asyncio.run(main())


def seconds(value) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else value


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(f"b{i}", callback_data=d) for i, d in enumerate(data)]])


def test_get_me_is_the_bot(fake):
    me = drive(fake, lambda bot: bot.get_me())
    assert me.is_bot and me.id == 123 and me.username == "storyreel_test_bot"
    assert fake.calls("getme")[0].method == "getMe"  # recorded under the canonical name


def test_send_message_keeps_the_keyboard_and_counts_message_ids(fake):
    async def body(bot):
        first = await bot.send_message(USER, "Привет", reply_markup=keyboard("approve:42", "cancel:42"))
        second = await bot.send_message(USER, "ещё")
        return first, second

    first, second = drive(fake, body)
    assert (first.text, first.chat.id, first.chat.type, first.from_user.is_bot) == ("Привет", USER, "private", True)
    assert second.message_id == first.message_id + 1
    assert abs(first.date.timestamp() - fake.sent[-1].at) < 5
    assert [b.callback_data for b in first.reply_markup.inline_keyboard[0]] == ["approve:42", "cancel:42"]
    call = fake.calls("sendMessage", chat_id=USER)[0]
    assert call.params["chat_id"] == USER  # decoded from the form's string
    assert call.params["reply_markup"]["inline_keyboard"][0][1] == {"text": "b1", "callback_data": "cancel:42"}
    assert fake.texts(USER) == ["Привет", "ещё"]


@pytest.mark.parametrize("text, parse_mode, expected", [
    ("", None, "message text is empty"),
    ("x" * 4097, None, "message is too long"),
    ("Готово!", "MarkdownV2", "Character '!' is reserved"),
    ("<b>жирный", "HTML", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<blink>x</blink>", "HTML", 'Unsupported start tag "blink"'),
])
def test_send_message_refuses_what_telegram_refuses(fake, text, parse_mode, expected):
    with pytest.raises(BadRequest, match=f"(?i){expected}"):
        drive(fake, lambda bot: bot.send_message(USER, text, parse_mode=parse_mode))
    assert fake.sent[-1].status == 400 and fake.texts(USER) == []


def test_markup_is_parsed_into_plain_text(fake):
    async def body(bot):
        md = await bot.send_message(USER, r"*Готово*\! [ссылка](https://t.me/x) 5\.0", parse_mode="MarkdownV2")
        ht = await bot.send_message(USER, "<b>a</b> &lt;b&gt;", parse_mode="HTML")
        return md.text, ht.text
    assert drive(fake, body) == ("Готово! ссылка 5.0", "a <b>")


def test_unknown_or_blocked_chat(fake):
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        drive(fake, lambda bot: bot.send_message(999, "hi"))
    fake.block_user(USER)
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        drive(fake, lambda bot: bot.send_message(USER, "hi"))


def test_callback_data_over_64_bytes_is_refused(fake):
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        drive(fake, lambda bot: bot.send_message(USER, "x", reply_markup=keyboard("a" * 65)))
    # 64 bytes counted in UTF-8: 32 Cyrillic letters fit, 33 do not
    drive(fake, lambda bot: bot.send_message(USER, "x", reply_markup=keyboard("я" * 32)))
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        drive(fake, lambda bot: bot.send_message(USER, "x", reply_markup=keyboard("я" * 33)))


def test_edit_message_text_and_markup(fake):
    async def body(bot):
        sent = await bot.send_message(USER, "Картинки: 0/48", reply_markup=keyboard("cancel:1"))
        edited = await bot.edit_message_text("Картинки: 10/48", chat_id=USER, message_id=sent.message_id,
                                             reply_markup=keyboard("cancel:1"))
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text("Картинки: 10/48", chat_id=USER, message_id=sent.message_id,
                                        reply_markup=keyboard("cancel:1"))
        bare = await bot.edit_message_reply_markup(chat_id=USER, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("x", chat_id=USER, message_id=9999)
        assert await bot.delete_message(USER, sent.message_id) is True
        with pytest.raises(BadRequest, match="(?i)message to delete not found"):
            await bot.delete_message(USER, sent.message_id)
        return sent, edited, bare

    sent, edited, bare = drive(fake, body)
    assert edited.message_id == sent.message_id and edited.text == "Картинки: 10/48"
    assert edited.edit_date is not None and edited.reply_markup == keyboard("cancel:1")
    assert bare.reply_markup is None  # editing without a keyboard takes it away
    assert fake.texts(USER) == ["Картинки: 0/48", "Картинки: 10/48"]


def test_answer_callback_query_once_per_press(fake):
    message = drive(fake, lambda bot: bot.send_message(USER, "Скрипт", reply_markup=keyboard("ok:7")))
    update = fake.callback_update(USER, "ok:7", message.message_id)

    async def body(bot):
        query = Update.de_json(update, bot).callback_query
        assert query.message.reply_markup == keyboard("ok:7")  # the pressed message, buttons included
        assert await query.answer("Принято") is True
        with pytest.raises(BadRequest, match="(?i)query is too old"):
            await query.answer()
        with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
            await bot.answer_callback_query("12345")
        return query

    query = drive(fake, body)
    assert (query.data, query.from_user.id, query.message.chat.id) == ("ok:7", USER, USER)
    assert fake.calls("answerCallbackQuery")[0].params == {"callback_query_id": query.id, "text": "Принято"}


def test_send_media_group_of_three_pictures(fake):
    pictures = [sample_png(160, 90, (i * 60, 100, 150)) for i in range(3)]

    async def body(bot):
        return await bot.send_media_group(USER, [InputMediaPhoto(p, caption=f"#{i + 1}")
                                                 for i, p in enumerate(pictures)])

    messages = drive(fake, body)
    assert len(messages) == 3 and all(isinstance(m, telegram.Message) for m in messages)
    assert len({m.media_group_id for m in messages}) == 1 and messages[0].media_group_id
    assert [m.caption for m in messages] == ["#1", "#2", "#3"]
    assert (messages[0].photo[-1].width, messages[0].photo[-1].height) == (160, 90)
    call = fake.calls("sendMediaGroup")[0]
    assert sorted(call.files.values()) == sorted(pictures)  # uploaded as attach:// parts
    assert all(item["media"].startswith("attach://") for item in call.params["media"])
    assert fake.file_data(messages[2].photo[-1].file_id) == pictures[2]


@pytest.mark.parametrize("count, expected", [(1, "2-10 items"), (11, "too many messages to send as an album")])
def test_send_media_group_wants_two_to_ten_items(fake, count, expected):
    media = [InputMediaPhoto(sample_png()) for _ in range(count)]
    with pytest.raises(BadRequest, match=f"(?i){expected}"):
        drive(fake, lambda bot: bot.send_media_group(USER, media))


def test_send_video_with_duration_and_caption(fake):
    clip = sample_mp4(1.0)

    async def body(bot):
        return await bot.send_video(USER, clip, duration=1, width=160, height=90, caption="Ваше видео",
                                    supports_streaming=True)

    message = drive(fake, body)
    video = message.video
    assert (seconds(video.duration), video.width, video.height) == (1, 160, 90)
    assert video.file_size == len(clip) and message.caption == "Ваше видео"
    call = fake.calls("sendVideo")[0]
    assert call.files["video"] == clip
    assert call.params["supports_streaming"] is True and call.params["duration"] == 1


def test_send_video_reads_what_the_bot_leaves_out(fake, tmp_path):
    clip = sample_mp4(2.0, 320, 180)
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    assert round(probe(path).duration) == 2  # the sample really is two seconds long
    video = drive(fake, lambda bot: bot.send_video(USER, clip)).video
    assert (seconds(video.duration), video.width, video.height) == (2, 320, 180)


def test_get_file_and_download(fake, tmp_path):
    voice = sample_voice(1.0)
    fake.add_file("voice-1", voice)

    async def body(bot):
        file = await bot.get_file("voice-1")
        data = await file.download_as_bytearray()
        saved = await file.download_to_drive(tmp_path / "voice.oga")
        return file, bytes(data), saved

    file, data, saved = drive(fake, body)
    assert file.file_size == len(voice) and file.file_path.endswith(".oga")
    assert data == voice and saved.read_bytes() == voice
    assert voice[:4] == b"OggS"


def test_uploads_over_the_limit_and_non_images_are_refused(fake):
    fake.max_upload = 10_000
    with pytest.raises(telegram.error.NetworkError, match="Request Entity Too Large"):
        drive(fake, lambda bot: bot.send_video(USER, sample_mp4(1.0) + b"\0" * 10_000))
    assert fake.sent[-1].status == 413 and not fake.files
    with pytest.raises(BadRequest, match="(?i)IMAGE_PROCESS_FAILED"):
        drive(fake, lambda bot: bot.send_photo(USER, b"not a picture"))


def test_file_over_20_mb_is_too_big(fake):
    fake.add_file("big", b"\0" * 100, file_size=21 * 1024 * 1024)
    with pytest.raises(BadRequest, match="(?i)file is too big"):
        drive(fake, lambda bot: bot.get_file("big"))
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        drive(fake, lambda bot: bot.get_file("nope"))


def test_fail_next_answers_429_with_retry_after(fake):
    fake.fail_next("sendMessage", count=2, retry_after=7)

    async def body(bot):
        errors = []
        for _ in range(2):
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(USER, "x")
            errors.append(info.value)
        return errors, await bot.send_message(USER, "третий раз")

    errors, message = drive(fake, body)
    assert [seconds(e.retry_after) for e in errors] == [7, 7]
    assert message.text == "третий раз"
    assert [c.status for c in fake.calls("sendMessage")] == [429, 429, 200]
    raw = fake.calls("sendMessage")[0].result
    assert raw == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                   "parameters": {"retry_after": 7}}


def test_flood_limit_per_chat(fake):
    fake.flood_limit = (2, 60.0)

    async def body(bot):
        await bot.send_message(USER, "1")
        await bot.send_message(USER, "2")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER, "3")
        return info.value
    assert 50 <= seconds(drive(fake, body).retry_after) <= 60


def test_get_updates_long_polls_pushed_updates(fake):
    message = drive(fake, lambda bot: bot.send_message(USER, "Скрипт", reply_markup=keyboard("ok:1")))
    fake.push_update(fake.voice_update(USER, "voice-9", duration=3, file_size=4000, data=sample_voice(1.0)))
    fake.push_update(fake.callback_update(USER, "ok:1", message.message_id))
    fake.push_update(fake.edited_message_update(USER, "исправлено"))
    fake.push_update(fake.command_update(USER, "/start", language_code="en"))

    async def body(bot):
        first = await bot.get_updates(timeout=0)
        confirmed = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        asyncio.get_running_loop().call_later(0.2, fake.push_update, fake.text_update(USER, "видео о кофе"))
        waited = await bot.get_updates(offset=first[-1].update_id + 1, timeout=5)
        return first, confirmed, waited

    first, confirmed, waited = drive(fake, body)
    voice, press, edited, start = first
    assert voice.message.voice.file_id == "voice-9" and seconds(voice.message.voice.duration) == 3
    assert voice.message.voice.mime_type == "audio/ogg" and voice.message.from_user.language_code == "ru"
    assert press.callback_query.data == "ok:1" and press.callback_query.message.message_id == message.message_id
    assert edited.edited_message.text == "исправлено" and edited.message is None
    assert start.message.text == "/start" and start.message.entities[0].type == "bot_command"
    assert start.effective_user.language_code == "en"
    assert [u.update_id for u in first] == sorted(u.update_id for u in first)
    assert confirmed == ()
    assert waited[0].message.text == "видео о кофе"


def test_other_update_kinds_parse(fake):
    updates = [fake.sticker_update(USER), fake.photo_update(USER, caption="кот"), fake.channel_post_update(),
               fake.audio_update(USER, "a-1", duration=60, file_size=10), fake.document_update(USER)]

    async def body(bot):
        return [Update.de_json(u, bot) for u in updates]

    sticker, photo, post, audio, document = drive(fake, body)
    assert sticker.message.sticker.emoji == "👍"
    assert photo.message.photo[-1].width == 320 and photo.message.caption == "кот"
    assert post.channel_post.chat.type == "channel" and post.effective_user is None
    assert audio.message.audio.file_id == "a-1" and document.message.document.file_name == "notes.txt"
    old = Update.de_json(fake.callback_update(USER, "x", 4242), None).callback_query.message
    assert isinstance(old, telegram.MaybeInaccessibleMessage) and not old.is_accessible


def test_webhook_and_polling_exclude_each_other(fake):
    async def body(bot):
        with pytest.raises(BadRequest, match="(?i)HTTPS URL must be provided"):
            await bot.set_webhook("http://example.com/webhook")
        fake.push_update(fake.text_update(USER, "old"))
        assert await bot.set_webhook("https://example.com/webhook", secret_token="s3cret-1",
                                     allowed_updates=["message", "callback_query"], drop_pending_updates=True)
        info = await bot.get_webhook_info()
        with pytest.raises(Conflict, match="(?i)webhook is active"):
            await bot.get_updates(timeout=0)
        assert await bot.delete_webhook()
        return info, await bot.get_webhook_info()

    info, after = drive(fake, body)
    assert info.url == "https://example.com/webhook" and info.pending_update_count == 0
    assert tuple(info.allowed_updates) == ("message", "callback_query")
    assert after.url == ""
    assert fake.calls("setWebhook")[-1].params["secret_token"] == "s3cret-1"


def test_set_my_commands(fake):
    async def body(bot):
        await bot.set_my_commands([("start", "Начать"), ("cancel", "Отменить")], language_code="ru")
        with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([("Start!", "bad")])
        return await bot.get_my_commands(language_code="ru")
    assert [c.command for c in drive(fake, body)] == ["start", "cancel"]


def test_send_chat_action_and_document(fake):
    async def body(bot):
        assert await bot.send_chat_action(USER, "upload_video")
        with pytest.raises(BadRequest, match="(?i)wrong parameter action"):
            await bot.send_chat_action(USER, "dancing")
        return await bot.send_document(USER, b"hello", filename="a.txt")
    message = drive(fake, body)
    assert message.document.file_size == 5 and fake.file_data(message.document.file_id) == b"hello"


def test_wrong_token_and_unknown_method(fake):
    with pytest.raises(InvalidToken):
        drive(fake, lambda bot: bot.get_me(), token="123:WRONG")
    with urllib.request.urlopen(f"{fake.url}/bot{fake.token}/GETME") as resp:  # names ignore case
        assert json.load(resp)["result"]["is_bot"] is True
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{fake.url}/bot{fake.token}/makeCoffee")
    assert info.value.code == 404
    assert json.load(info.value) == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert fake.failed_calls() == [("getMe", 401, "Unauthorized"), ("makeCoffee", 404, "Not Found")]


def test_json_and_query_string_bodies(fake):
    req = urllib.request.Request(f"{fake.url}/bot{fake.token}/sendMessage?chat_id={USER}",
                                 json.dumps({"text": "json", "reply_markup": {"inline_keyboard": []}}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        assert json.load(resp)["result"]["text"] == "json"
    assert fake.calls("sendMessage")[0].params == {"chat_id": USER, "text": "json",
                                                   "reply_markup": {"inline_keyboard": []}}


class _Webhook(FakeServer):
    def handle(self, request):
        secret = request.headers.get("x-telegram-bot-api-secret-token")
        return Reply(200 if secret == "s3cret" else 403)


def test_deliver_posts_the_update_with_the_secret(fake):
    update = fake.text_update(USER, "привет")
    with _Webhook() as hook:
        assert fake.deliver(f"{hook.url}/webhook", update, "s3cret") == 200
        assert fake.deliver(f"{hook.url}/webhook", update, "wrong") == 403
        assert fake.deliver(f"{hook.url}/webhook", update) == 403
        first = hook.calls[0]
    assert first.method == "POST" and first.path == "/webhook"
    assert first.headers["content-type"] == "application/json" and first.json() == update


def test_wait_for(fake):
    fake.fail_next("sendMessage", error_code=500)
    with pytest.raises(telegram.error.NetworkError):
        drive(fake, lambda bot: bot.send_message(USER, "x"))
    found = fake.wait_for(lambda c: c.method == "sendMessage", timeout=1)
    assert isinstance(found, BotCall) and found.status == 500 and not found.ok
    with pytest.raises(AssertionError, match="(?i)sendMessage 500"):
        fake.wait_for("editMessageText", timeout=0.05)


def test_runs_from_the_command_line():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.telegram_server", "--port", "0", "--token", "9:X"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        with urllib.request.urlopen(f"{url}/bot9:X/getMe", timeout=10) as resp:
            assert json.load(resp)["result"]["id"] == 9
    finally:
        proc.terminate()
        proc.wait(10)


# ---- strict where a bot can go wrong: the real server's answers, through PTB ------------------

NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message")
TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
# what PTB makes of them: "Bad Request: " goes and the rest is capitalized (so "query id", lower case)
PTB_NOT_MODIFIED = ("Message is not modified: specified new message content and reply markup are exactly the "
                    "same as a current content and reply markup of the message")
PTB_TOO_OLD = "Query is too old and response timeout expired or query id is invalid"


async def refused(error: type, message: str, call) -> None:
    """``call`` (an awaitable) raises exactly ``error`` with exactly ``message`` (as PTB words it)."""
    with pytest.raises(error) as info:
        await call
    assert type(info.value) is error and info.value.message == message


def test_edit_to_the_same_text_and_keyboard_is_not_modified(fake):
    async def body(bot):
        sent = await bot.send_message(USER, "Скрипт готов", reply_markup=keyboard("ok:1", "no:1"))
        edit = dict(chat_id=USER, message_id=sent.message_id)
        await refused(BadRequest, PTB_NOT_MODIFIED,
                      bot.edit_message_text("Скрипт готов", reply_markup=keyboard("ok:1", "no:1"), **edit))
        await bot.edit_message_text("Скрипт готов", reply_markup=keyboard("ok:1"), **edit)  # keyboard changed
        await bot.edit_message_text("Скрипт одобрен", reply_markup=keyboard("ok:1"), **edit)  # text changed
        await bot.edit_message_text("<b>Скрипт одобрен</b>", parse_mode="HTML", reply_markup=keyboard("ok:1"),
                                    **edit)  # only the formatting changed: still a change
        await refused(BadRequest, PTB_NOT_MODIFIED,
                      bot.edit_message_text("<b>Скрипт одобрен</b>", parse_mode="HTML",
                                            reply_markup=keyboard("ok:1"), **edit))
        await refused(BadRequest, PTB_NOT_MODIFIED,
                      bot.edit_message_reply_markup(reply_markup=keyboard("ok:1"), **edit))

    drive(fake, body)
    assert fake.sent[-1].result == {"ok": False, "error_code": 400, "description": f"Bad Request: {NOT_MODIFIED}"}
    assert [c.status for c in fake.calls("editMessageText")] == [400, 200, 200, 200, 400]


def test_removing_the_buttons_twice_is_not_modified(fake):
    async def body(bot):
        sent = await bot.send_message(USER, "Картинки готовы", reply_markup=keyboard("ok:2", "no:2"))
        removed = await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=None)
        await refused(BadRequest, PTB_NOT_MODIFIED,
                      bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=None))
        plain = await bot.send_message(USER, "без кнопок")
        await refused(BadRequest, PTB_NOT_MODIFIED, bot.edit_message_reply_markup(USER, plain.message_id))
        return removed

    assert drive(fake, body).reply_markup is None
    assert fake.failed_calls() == [("editMessageReplyMarkup", 400, f"Bad Request: {NOT_MODIFIED}")] * 2


def test_edit_caption_to_the_same_caption_is_not_modified(fake):
    async def body(bot):
        photo = await bot.send_photo(USER, sample_png(), caption="#1", reply_markup=keyboard("ok:3"))
        edit = dict(chat_id=USER, message_id=photo.message_id)
        await refused(BadRequest, PTB_NOT_MODIFIED,
                      bot.edit_message_caption(caption="#1", reply_markup=keyboard("ok:3"), **edit))
        changed = await bot.edit_message_caption(caption="#1 ✓", **edit)
        await refused(BadRequest, "There is no text in the message to edit", bot.edit_message_text("x", **edit))
        text = await bot.send_message(USER, "текст")
        await refused(BadRequest, "There is no caption in the message to edit",
                      bot.edit_message_caption(USER, text.message_id, caption="x"))
        return changed

    changed = drive(fake, body)
    assert changed.caption == "#1 ✓" and changed.reply_markup is None and changed.photo


def test_editing_or_deleting_a_message_that_is_not_there(fake):
    async def body(bot):
        sent = await bot.send_message(USER, "Готово", reply_markup=keyboard("ok:4"))
        await refused(BadRequest, "Message to edit not found", bot.edit_message_text("x", USER, 9999))
        await refused(BadRequest, "Message to delete not found", bot.delete_message(USER, 9999))
        assert await bot.delete_message(USER, sent.message_id) is True
        await refused(BadRequest, "Message to edit not found", bot.edit_message_text("x", USER, sent.message_id))
        await refused(BadRequest, "Message to edit not found",
                      bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=None))
        await refused(BadRequest, "Message to edit not found",
                      bot.edit_message_caption(USER, sent.message_id, caption="x"))
        await refused(BadRequest, "Message to delete not found", bot.delete_message(USER, sent.message_id))

    drive(fake, body)
    assert fake.message(USER, 1) is None
    assert [f.description for f in fake.failed_calls()] == [
        "Bad Request: message to edit not found", "Bad Request: message to delete not found",
        *["Bad Request: message to edit not found"] * 3, "Bad Request: message to delete not found"]


def test_callback_query_answered_twice_or_too_late(fake):
    message = drive(fake, lambda bot: bot.send_message(USER, "Скрипт", reply_markup=keyboard("ok:5")))
    twice, late, in_time = (fake.callback_update(USER, "ok:5", message.message_id) for _ in range(3))

    async def body(bot):
        assert await bot.answer_callback_query(twice["callback_query"]["id"]) is True
        await refused(BadRequest, PTB_TOO_OLD, bot.answer_callback_query(twice["callback_query"]["id"]))
        fake.advance_clock(QUERY_AGE_LIMIT - 5)
        assert await bot.answer_callback_query(in_time["callback_query"]["id"], text="Принято") is True
        fake.advance_clock(10)  # now 15 minutes and 5 seconds after the presses
        await refused(BadRequest, PTB_TOO_OLD, bot.answer_callback_query(late["callback_query"]["id"]))

    drive(fake, body)
    assert QUERY_AGE_LIMIT == 15 * 60
    assert fake.failed_calls() == [("answerCallbackQuery", 400, f"Bad Request: {TOO_OLD}")] * 2


def test_query_age_limit_can_be_shortened(fake):
    fake.query_age_limit = 0.2
    message = drive(fake, lambda bot: bot.send_message(USER, "Скрипт", reply_markup=keyboard("ok:6")))
    update = fake.callback_update(USER, "ok:6", message.message_id)
    fake.advance_clock(0.5)
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        drive(fake, lambda bot: bot.answer_callback_query(update["callback_query"]["id"]))


def test_the_clock_dates_messages(fake):
    fake.advance_clock(3600)
    later = drive(fake, lambda bot: bot.send_message(USER, "через час"))
    assert abs(later.date.timestamp() - (time.time() + 3600)) < 5
    assert abs(fake.now() - (time.time() + 3600)) < 1


def test_blocked_user_refuses_every_send_and_edit(fake):
    async def body(bot):
        text = await bot.send_message(USER, "Картинки: 0/6", reply_markup=keyboard("no:7"))
        photo = await bot.send_photo(USER, sample_png(), caption="#1")
        fake.block_user(USER)
        for call in (bot.send_message(USER, "hi"), bot.send_photo(USER, sample_png()),
                     bot.send_video(USER, sample_mp4(1.0)), bot.send_document(USER, b"x", filename="a.txt"),
                     bot.send_media_group(USER, [InputMediaPhoto(sample_png()), InputMediaPhoto(sample_png())]),
                     bot.send_chat_action(USER, "typing"),
                     bot.edit_message_text("Картинки: 3/6", USER, text.message_id),
                     bot.edit_message_reply_markup(USER, text.message_id, reply_markup=None),
                     bot.edit_message_caption(USER, photo.message_id, caption="#2")):
            await refused(Forbidden, BLOCKED, call)
        fake.unblock_user(USER)
        return await bot.edit_message_text("Картинки: 3/6", USER, text.message_id)

    assert drive(fake, body).text == "Картинки: 3/6"
    refusals = [c for c in fake.calls(chat_id=USER) if not c.ok]
    assert len(refusals) == 9 and {c.method for c in refusals} >= {"sendMessage", "editMessageText",
                                                                   "editMessageReplyMarkup", "editMessageCaption"}
    assert all(c.result == {"ok": False, "error_code": 403, "description": BLOCKED} for c in refusals)


def test_failed_calls_and_assert_no_failed_calls(fake):
    fake.assert_no_failed_calls()
    fake.fail_next("sendMessage", retry_after=3)

    async def body(bot):
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "x")
        sent = await bot.send_message(USER, "x")
        await bot.edit_message_reply_markup(USER, sent.message_id)  # no keyboard to remove
    with pytest.raises(BadRequest):
        drive(fake, body)
    with pytest.raises(InvalidToken):
        drive(fake, lambda bot: bot.get_me(), token="123:WRONG")

    failed = fake.failed_calls()
    assert failed == [("sendMessage", 429, "Too Many Requests: retry after 3"),
                      ("editMessageReplyMarkup", 400, f"Bad Request: {NOT_MODIFIED}"),
                      ("getMe", 401, "Unauthorized")]
    assert isinstance(failed[0], FailedCall) and failed[0].error_code == 429
    assert fake.failed_calls("editMessageReplyMarkup", chat_id=USER) == failed[1:2]
    assert fake.calls("sendMessage")[0].description == "Too Many Requests: retry after 3"
    with pytest.raises(AssertionError) as info:
        fake.assert_no_failed_calls(allow=[429])
    assert "editMessageReplyMarkup 400 Bad Request: message is not modified" in str(info.value)
    assert "sendMessage" not in str(info.value) and "2 Bot API call(s) failed" in str(info.value)
    fake.assert_no_failed_calls(allow=[429, ("editmessagereplymarkup", "not modified"), "unauthorized"])
    fake.assert_no_failed_calls(allow=["sendMessage", "message is not modified", 401])
    with pytest.raises(AssertionError):
        fake.assert_no_failed_calls(allow=[429, ("editMessageText", "not modified"), 401])


def test_block_user_on_a_method_blocks_from_that_call(fake):
    async def body(bot):
        await bot.send_message(USER, "Картинки: 0/6")
        await refused(Forbidden, BLOCKED, bot.send_media_group(USER, [InputMediaPhoto(sample_png()),
                                                                      InputMediaPhoto(sample_png())]))
        await refused(Forbidden, BLOCKED, bot.send_message(USER, "ещё"))

    fake.block_user(USER, on="sendMediaGroup")
    drive(fake, body)
    assert [(c.method, c.status) for c in fake.calls(chat_id=USER)] == [
        ("sendMessage", 200), ("sendMediaGroup", 403), ("sendMessage", 403)]


def test_failed_calls_since_a_position_of_the_log(fake):
    with pytest.raises(BadRequest):
        drive(fake, lambda bot: bot.answer_callback_query("no-such-query"))
    start = len(fake.sent)
    drive(fake, lambda bot: bot.send_message(USER, "x"))
    assert fake.failed_calls(since=start) == []
    fake.assert_no_failed_calls(since=start)
    with pytest.raises(AssertionError, match="query is too old"):
        fake.assert_no_failed_calls()


def test_local_mode_takes_a_file_path(fake, tmp_path):
    clip = tmp_path / "видео.mp4"
    clip.write_bytes(sample_mp4(1.0))

    async def main(video):
        bot = telegram.Bot(fake.token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot",
                           local_mode=True)  # PTB sends a path as file:///…
        async with bot:
            return await bot.send_video(USER, video, duration=1, caption="Ваше видео")

    with pytest.raises(BadRequest, match="(?i)wrong remote file identifier"):  # a remote server refuses it
        asyncio.run(main(clip))
    fake.local_mode = True
    message = asyncio.run(main(clip))
    call = fake.calls("sendVideo")[-1]
    assert call.params["video"] == clip.resolve().as_uri() and call.files == {}
    assert message.video.file_size == clip.stat().st_size and message.caption == "Ваше видео"
    clip.unlink()
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        asyncio.run(main(clip.resolve().as_uri()))
