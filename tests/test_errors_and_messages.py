"""The error tree pickles, and every code raised anywhere has a human message in ru and en."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from storyreel import errors
from storyreel.messages import ERROR_MESSAGES, message, message_for

PACKAGE = Path(errors.__file__).parent


@pytest.mark.parametrize("cls", [errors.StoryReelError, errors.TransientError, errors.ProviderUnavailable,
                                 errors.PermanentError, errors.InputError, errors.MediaError,
                                 errors.NotAvailableOffline, errors.JobCancelled, errors.UserBlocked])
def test_errors_pickle_with_code_context_and_retry_after(cls):
    kwargs = {"retry_after": 7.5} if issubclass(cls, errors.TransientError) else {}
    err = cls("detail for the log", code="prompt_too_long", limit=2000, **kwargs)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert (back.detail, back.code, back.context) == ("detail for the log", "prompt_too_long", {"limit": 2000})
    if kwargs:
        assert back.retry_after == 7.5


def test_transient_and_permanent_are_disjoint():
    assert not issubclass(errors.TransientError, errors.PermanentError)
    assert not issubclass(errors.PermanentError, errors.TransientError)


def test_every_code_in_the_code_has_messages_in_both_languages():
    codes = set()
    for path in PACKAGE.rglob("*.py"):
        codes |= set(re.findall(r'code\s*=\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    missing = sorted(c for c in codes if c not in ERROR_MESSAGES)
    assert not missing, f"codes without a message: {missing}"
    for code, table in ERROR_MESSAGES.items():
        assert table.get("en") and table.get("ru"), code


def test_message_never_shows_the_detail():
    err = errors.MediaError("ffmpeg exited 1: /secret/path sk-abc", code="media_failed")
    for lang in ("en", "ru"):
        text = message_for(err, lang)
        assert "secret" not in text and "sk-" not in text
    assert message_for(ValueError("boom"), "ru") == message("internal", "ru")
    assert "2000" in message("prompt_too_long", "ru", limit=2000)


def test_context_named_like_a_parameter_does_not_break_the_message():
    err = errors.NotAvailableOffline("ru", code="language_not_available_offline", language="ru")
    assert "offline" in message_for(err, "en")


def test_env_example_lists_every_setting_under_the_name_it_is_read_by():
    from pathlib import Path

    from storyreel.settings import Settings

    text = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = set(alias.choices) if alias is not None else {name.upper()}
        assert names & listed, f"{name} is not in .env.example (as one of {sorted(names)})"


def test_every_bot_line_has_both_languages_and_its_own_key():
    from storyreel.bot.texts import TEXTS

    assert all({"en", "ru"} <= set(t) for t in TEXTS.values()), "every line needs both languages"
    assert not set(TEXTS) & set(ERROR_MESSAGES), "conversation lines and error messages must not share keys"


def test_a_user_who_blocked_the_bot_is_a_permanent_error_with_messages():
    err = errors.UserBlocked("Forbidden: bot was blocked by the user", chat_id=7, method="send_message")
    assert isinstance(err, errors.PermanentError) and err.code == "user_blocked"
    for lang in ("en", "ru"):
        assert "Forbidden" not in message_for(err, lang) and message("user_blocked", lang) == message_for(err, lang)


def test_the_bot_confirms_a_cancel_in_both_languages():
    from storyreel.bot.texts import text

    assert text("stopped", "en").startswith("Cancelled") and text("stopped", "ru").startswith("Отменено")
