"""``TelegramClient`` against the fake Bot API: what each kind of failed call means, decided
in one place (429 waited out, network failures tried again, a 400 never, a 403 raised as
``UserBlocked``), and the final video sent by its path to a local Bot API server."""

from __future__ import annotations

import pickle
import time

import pytest
from telegram.error import BadRequest

from storyreel.bot.client import TelegramClient, buttons
from storyreel.errors import PermanentError, UserBlocked
from storyreel.settings import Settings
from tests.fakes.telegram_server import FakeTelegram, sample_mp4

USER = 555_000_222
# PTB 22 warns that RetryAfter.retry_after will become a timedelta; the client reads either
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def fake():
    with FakeTelegram("123456:client-token") as server:
        server.add_chat(USER, language_code="en")
        yield server


def _client(fake: FakeTelegram, **overrides) -> TelegramClient:
    settings = Settings(_env_file=None, telegram_bot_token=fake.token, telegram_api_url=fake.url, **overrides)
    return TelegramClient(settings)


@pytest.fixture
def client(fake):
    client = _client(fake)
    yield client
    client.close()


def _keyboard():
    return buttons([[("✅", "ok:job:s"), ("❌", "no:job:s")]])


def test_a_400_is_raised_at_once_and_never_retried(fake, client):
    fake.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    started = time.monotonic()
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        client.send_message(USER, "hello")
    assert time.monotonic() - started < 0.5
    assert [c.status for c in fake.calls("sendMessage")] == [400]


def test_nothing_to_do_is_one_call_and_no_error(fake, client):
    msg = client.send_message(USER, "🖼 Making pictures: 0/6", _keyboard())
    assert client.remove_buttons(USER, msg) is True
    assert client.remove_buttons(USER, msg) is False  # not modified: nothing to do, no retry
    assert client.edit_message(USER, msg, "🖼 Making pictures: 0/6") is False
    assert client.edit_message(USER, 9999, "gone") is False  # message to edit not found
    query = fake.callback_update(USER, "ok:job:s", msg)["callback_query"]["id"]
    assert client.answer_callback(query, "Approved ✅") is True
    assert client.answer_callback(query, "Approved ✅") is False  # query is too old
    assert [(f.method, f.error_code) for f in fake.failed_calls()] == [
        ("editMessageReplyMarkup", 400), ("editMessageText", 400), ("editMessageText", 400),
        ("answerCallbackQuery", 400)]


def test_a_400_that_is_a_mistake_still_raises_from_the_quiet_calls(fake, client):
    msg = client.send_message(USER, "text")
    fake.fail_next("editMessageText", error_code=400, description="Bad Request: MESSAGE_TOO_LONG")
    with pytest.raises(BadRequest, match="(?i)message_too_long"):
        client.edit_message(USER, msg, "other text")
    assert len(fake.calls("editMessageText")) == 1


def test_a_403_is_user_blocked_once(fake, client):
    fake.block_user(USER)
    started = time.monotonic()
    with pytest.raises(UserBlocked) as info:
        client.send_message(USER, "hello")
    assert time.monotonic() - started < 0.5
    assert len(fake.calls(chat_id=USER)) == 1
    err = info.value
    assert isinstance(err, PermanentError) and err.code == "user_blocked"
    assert err.context == {"chat_id": USER, "method": "send_message"}
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is UserBlocked and back.context == err.context
    with pytest.raises(UserBlocked):  # the "quiet" calls do not swallow it
        client.edit_message(USER, 1, "x")


def test_a_server_error_is_tried_again_and_a_429_waited_out(fake, client):
    fake.fail_next("sendMessage", error_code=502)
    started = time.monotonic()
    client.send_message(USER, "after a 502")
    assert [c.status for c in fake.calls("sendMessage")] == [502, 200]
    assert time.monotonic() - started >= 0.9  # the first backoff
    fake.fail_next("sendMessage", retry_after=1)
    started = time.monotonic()
    client.send_message(USER, "after a 429")
    assert [c.status for c in fake.calls("sendMessage")][2:] == [429, 200]
    assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize("local", [False, True])
def test_the_video_goes_by_path_to_a_local_server(fake, tmp_path, local):
    fake.local_mode = local
    video = tmp_path / "job" / "final.mp4"
    video.parent.mkdir()
    video.write_bytes(sample_mp4(1.0))
    client = _client(fake, telegram_local_server=local)
    try:
        client.send_video(USER, video, duration=1.2, width=160, height=90, caption="A video · 0:01")
    finally:
        client.close()
    call = fake.calls("sendVideo")[-1]
    assert call.ok and call.result["video"]["file_size"] == video.stat().st_size
    if local:
        assert call.params["video"] == video.resolve().as_uri() and call.files == {}
    else:
        assert call.files["video"] == video.read_bytes()
    assert call.params["duration"] == 1 and call.params["caption"] == "A video · 0:01"
