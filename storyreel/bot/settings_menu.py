"""The bot's ``/settings`` menu: one message, edited in place, that changes what a person
chose for their next videos (``preferences``), with the time and cost a video made that
way takes; a 🔊 sample of the chosen voice; the person's own reference photo.

Callback data is ``st:{owner}:{action}`` or ``st:{owner}:{action}:{token}`` (64 bytes
at most):

    o{field}          show one field's choices (``o-``: back to the main page)
    s{field}:{token}  choose the value ``token`` names (the value itself when short and
                      plain, else ``~`` and a hash of it; ``~`` alone is "none")
    h                 play a sample of the chosen voice and narration style
    d                 done: the menu closes, its buttons go

Every press is answered once. A press that names no value now on offer, or that comes
from a menu other than the person's latest, changes nothing and is told the menu is out
of date; a press by someone other than the menu's owner changes nothing either.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from telegram import CallbackQuery, InlineKeyboardMarkup, Message
from telegram.error import BadRequest

from ..errors import StoryReelError
from ..log import ms_since
from ..media.ffmpeg import run_ffmpeg
from ..media.probe import probe
from ..messages import message_for
from ..models import Aspect
from ..pipeline.capacity import estimate_seconds
from ..pipeline.ledger import cost_entry, estimate, saving
from ..providers.base import metered
from ..settings import Settings
from .client import buttons
from .preferences import REFERENCES, Preferences, job_fields, segment_count
from .services import Services
from .texts import text

log = structlog.get_logger(__name__)

#: the motion budgets offered (besides 0, "all"), those under the video's segment count
MOTION_BUDGETS = (6, 12, 24)
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_.+-]{1,24}")


# ---- the menu ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Field:
    attr: str
    button: str  # the text key of its button
    page: bool  # True: a page of choices; False: a toggle on the main page


_FIELDS = {
    "f": _Field("aspect", "st_b_format", True),
    "l": _Field("length", "st_b_length", True),
    "v": _Field("voice", "st_b_voice", True),
    "n": _Field("narration_style", "st_b_narration", True),
    "y": _Field("visual_style", "st_b_visual", True),
    "r": _Field("reference", "st_b_reference", True),
    "b": _Field("motion_budget", "st_b_motion", True),
    "t": _Field("subtitles", "st_b_subtitles", False),
    "m": _Field("music", "st_b_music", False),
    "p": _Field("fast_pictures", "st_b_fast", False),
}


def token(value: Any) -> str:
    """How callback data names a value: itself when short and plain, else a hash."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None or value == "":
        return "~"
    plain = str(value)
    if _PLAIN_TOKEN.fullmatch(plain):
        return plain
    return "~" + hashlib.blake2s(plain.encode(), digest_size=5).hexdigest()


def callback(owner: int, action: str, value: str | None = None) -> str:
    return f"st:{owner}:{action}" if value is None else f"st:{owner}:{action}:{value}"


def parse_callback(data: str | None) -> tuple[int, str, str | None] | None:
    """(owner, action, token) of ``st:`` callback data; None when it is not ours."""
    parts = (data or "").split(":")
    if len(parts) not in (3, 4) or parts[0] != "st" or not parts[1].isdigit() or not parts[2]:
        return None
    return int(parts[1]), parts[2], parts[3] if len(parts) == 4 else None


def _choices(letter: str, prefs: Preferences, settings: Settings, voices: tuple[str, ...]) -> list:
    """The values ``letter``'s field offers now."""
    if letter == "f":
        return [a.value for a in Aspect]
    if letter == "l":
        return list(dict.fromkeys(settings.video_lengths))
    if letter == "v":
        return list(voices)
    if letter == "n":
        return ["", *settings.narration_styles]
    if letter == "y":
        return ["", *settings.visual_styles]
    if letter == "r":
        return list(REFERENCES)
    if letter == "b":
        count = segment_count(prefs, settings)
        offered = {0, *(b for b in MOTION_BUDGETS if b < count)}
        if 0 < settings.motion_budget < count:
            offered.add(settings.motion_budget)
        return sorted(offered)
    return [True, False]


def _length_label(seconds: int, lang: str) -> str:
    if seconds < 60:
        return text("st_seconds", lang, n=seconds)
    return text("st_minutes", lang, n=f"{seconds / 60:.1f}".rstrip("0").rstrip("."))


def _label(letter: str, value: Any, prefs: Preferences, settings: Settings, lang: str,
           voices: tuple[str, ...]) -> str:
    """How a value of ``letter``'s field reads in the menu."""
    if letter == "l":
        return _length_label(value, lang)
    if letter == "v":
        return value or (voices[0] if voices else text("st_none", lang))
    if letter in ("n", "y"):
        return value or text("st_none", lang)
    if letter == "r":
        if value == "user" and not prefs.reference_file_id:
            return text("st_ref_waiting", lang)
        return text(f"st_ref_{value}", lang)
    if letter == "b":
        count = segment_count(prefs, settings)
        return text("st_motion_all", lang) if not value or value >= count else text("st_motion_some", lang, n=value)
    if isinstance(value, bool):
        return text("st_on" if value else "st_off", lang)
    return str(value)


def _estimate_line(s: Services, prefs: Preferences, lang: str) -> str:
    settings, providers = s.settings, s.providers
    job = job_fields(prefs, settings)
    count, seconds = job["segment_count"], settings.segment_seconds
    eta = max(1, math.ceil(estimate_seconds(settings, providers, count, seconds) / 60))
    cost = estimate(settings, providers, segment_count=count, segment_seconds=seconds,
                    options=job["options"]).total
    if cost > 0:
        saved = saving(settings, providers, job["options"], segment_count=count, segment_seconds=seconds)
        line = text("st_estimate_cost", lang, eta=eta, cost=cost)
        return line + (text("saving", lang, saved=saved) if saved >= 0.01 else "")
    return text("st_estimate", lang, eta=eta)


def menu_text(s: Services, prefs: Preferences, lang: str) -> str:
    """The menu's text: every choice, and the time and cost of a video made with them."""
    settings, voices = s.settings, s.preferences.voices()

    def shown(letter: str) -> str:
        return _label(letter, getattr(prefs, _FIELDS[letter].attr), prefs, settings, lang, voices)

    return text("st_menu", lang, aspect=prefs.aspect, length=shown("l"), segments=segment_count(prefs, settings),
                seconds=settings.segment_seconds, voice=shown("v"), narration=shown("n"), subtitles=shown("t"),
                music=shown("m"), visual=shown("y"), reference=shown("r"), fast=shown("p"), motion=shown("b"),
                estimate=_estimate_line(s, prefs, lang))


def _main_keyboard(s: Services, owner: int, prefs: Preferences, lang: str) -> InlineKeyboardMarkup:
    settings, voices = s.settings, s.preferences.voices()

    def page(letter: str) -> tuple[str, str]:
        return text(_FIELDS[letter].button, lang), callback(owner, f"o{letter}")

    def toggle(letter: str) -> tuple[str, str]:
        value = getattr(prefs, _FIELDS[letter].attr)
        label = text(_FIELDS[letter].button, lang, value=_label(letter, value, prefs, settings, lang, voices))
        return label, callback(owner, f"s{letter}", token(not value))

    voice_row = [page("v")] if len(voices) > 1 else []
    styles_row = ([page("n")] if settings.narration_styles else []) + ([page("y")] if settings.visual_styles else [])
    rows = [
        [page("f"), page("l")],
        [*voice_row, (text("st_b_sample", lang), callback(owner, "h"))],
        styles_row,
        [page("r"), page("b")],
        [toggle("t"), toggle("m")],
        [toggle("p")],
        [(text("st_b_done", lang), callback(owner, "d"))],
    ]
    return buttons([row for row in rows if row])


def _page_keyboard(s: Services, owner: int, letter: str, prefs: Preferences, lang: str) -> InlineKeyboardMarkup:
    settings, voices = s.settings, s.preferences.voices()
    current = getattr(prefs, _FIELDS[letter].attr)
    if letter == "v" and current is None and voices:
        current = voices[0]
    if letter == "b" and current >= segment_count(prefs, settings):
        current = 0
    items = []
    for value in _choices(letter, prefs, settings, voices):
        label = _label(letter, value, prefs, settings, lang, voices)
        items.append((("✓ " if value == current else "") + label, callback(owner, f"s{letter}", token(value))))
    per_row = 3 if letter in ("f", "l", "b") else 2
    rows = [items[i:i + per_row] for i in range(0, len(items), per_row)]
    rows.append([(text("st_b_back", lang), callback(owner, "o-"))])
    return buttons(rows)


def _render(s: Services, owner: int, prefs: Preferences, lang: str,
            page: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    body = menu_text(s, prefs, lang)
    if page is None:
        return body, _main_keyboard(s, owner, prefs, lang)
    return f"{body}\n\n{text(f'st_pick_{page}', lang)}", _page_keyboard(s, owner, page, prefs, lang)


def open_menu(s: Services, msg: Message, lang: str) -> None:
    """``/settings``: a new menu message; the one before it loses its buttons (a press
    there would be out of date anyway)."""
    user, chat = msg.from_user.id, msg.chat_id
    store = s.preferences
    prefs = store.load(user)
    body, keyboard = _render(s, user, prefs, lang)
    before = store.menu(user)
    message_id = s.client.send_message(chat, body, keyboard)
    store.set_menu(user, chat, message_id)
    if before is not None and before != (chat, message_id):
        s.client.remove_buttons(*before)
    log.info("settings_opened", message_id=message_id)


def on_button(s: Services, cq: CallbackQuery, lang: str) -> None:
    """A press on a ``/settings`` menu (data ``st:…``): answered once, whatever it was."""
    parsed = parse_callback(cq.data)
    if parsed is None:
        log.info("settings_press_refused", reason="unreadable")
        s.client.answer_callback(cq.id, text("st_stale", lang))
        return
    owner, action, value = parsed
    if owner != cq.from_user.id:
        log.warning("settings_press_refused", reason="foreign", owner=owner)
        s.client.answer_callback(cq.id, text("st_not_yours", lang))
        return
    store = s.preferences
    pressed = (cq.message.chat.id, cq.message.message_id) if cq.message is not None else None
    if pressed is None or store.menu(owner) != pressed:
        log.info("settings_press_refused", reason="old_menu")
        s.client.answer_callback(cq.id, text("st_stale", lang))
        return
    prefs = store.load(owner)
    verb, letter = action[0], action[1:]
    if verb == "o" and (letter == "-" or (letter in _FIELDS and _FIELDS[letter].page)) and value is None:
        s.client.answer_callback(cq.id)
        s.client.edit_message(*pressed, *_render(s, owner, prefs, lang, None if letter == "-" else letter))
    elif verb == "s" and letter in _FIELDS and value is not None:
        _choose(s, cq, owner, pressed, prefs, letter, value, lang)
    elif action == "h" and value is None:
        s.client.answer_callback(cq.id, text("st_sample_wait", lang))
        play_sample(s, pressed[0], prefs, lang)
    elif action == "d" and value is None:
        s.client.answer_callback(cq.id, text("st_saved", lang))
        store.set_menu(owner, None)
        s.client.edit_message(*pressed, f"{menu_text(s, prefs, lang)}\n\n{text('st_closed', lang)}")
        log.info("settings_closed")
    else:
        log.info("settings_press_refused", reason="unknown_action", action=action)
        s.client.answer_callback(cq.id, text("st_stale", lang))


def _choose(s: Services, cq: CallbackQuery, owner: int, pressed: tuple[int, int], prefs: Preferences,
            letter: str, value: str, lang: str) -> None:
    store, field = s.preferences, _FIELDS[letter]
    match = [v for v in _choices(letter, prefs, s.settings, store.voices()) if token(v) == value]
    if len(match) != 1:  # no longer offered (or never was)
        log.info("settings_press_refused", reason="not_offered", field=field.attr)
        s.client.answer_callback(cq.id, text("st_stale", lang))
        return
    setattr(prefs, field.attr, match[0])
    store.save(owner, prefs)
    log.info("settings_changed", field=field.attr, value=match[0])
    ask_photo = field.attr == "reference" and match[0] == "user" and not prefs.reference_file_id
    s.client.answer_callback(cq.id, text("st_send_photo", lang) if ask_photo else None)
    s.client.edit_message(*pressed, *_render(s, owner, prefs, lang))


def play_sample(s: Services, chat: int, prefs: Preferences, lang: str) -> None:
    """Send a short sentence in the chosen voice and narration style as a voice note.
    Each (voice, style, language) is made once per server: its file_id is sent again after."""
    speech, voices = s.providers.speech, s.preferences.voices()
    voice = prefs.voice or (voices[0] if voices else None)
    style = s.settings.narration_styles.get(prefs.narration_style, "")
    key = "|".join((speech.name, voice or "", prefs.narration_style, lang))
    caption = text("st_sample_caption", lang, voice=voice or text("st_none", lang),
                   narration=prefs.narration_style or text("st_none", lang))
    store = s.preferences
    known = store.sample(key)
    try:
        if known:
            try:
                s.client.send_voice(chat, known, caption=caption)
                log.info("voice_sample_sent", voice=voice, cached=True)
                return
            except BadRequest as exc:
                if _voice_forbidden(exc):
                    raise
                log.warning("voice_sample_lost", voice=voice, error=str(exc))
                store.forget_sample(key)
        s.files.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sample-", dir=s.files.root) as tmp:
            started = time.perf_counter()
            with metered() as used:
                spoken = speech.speak(text("st_sample_text", lang), Path(tmp) / "sample.wav", language=lang,
                                      voice=voice, style=style)
            # paid like any narration: in the person's spending for the day, and in the log
            entry = cost_entry(s.settings, used, stage="voice_sample", segment=None, provider=speech.name,
                               duration_ms=ms_since(started))
            s.spending.add(chat, entry["cost"])
            log.info("provider_call", **{k: v for k, v in entry.items() if k != "at"})
            note = Path(tmp) / "sample.ogg"
            run_ffmpeg(["-i", spoken, "-vn", "-ac", "1", "-c:a", "libopus", "-b:a", "32k", note],
                       binary=s.settings.ffmpeg_binary, what="voice sample", timeout=120)
            file_id = s.client.send_voice(chat, note, caption=caption, duration=probe(note).duration)
    except StoryReelError as exc:
        log.warning("voice_sample_failed", voice=voice, code=exc.code)
        s.client.send_message(chat, message_for(exc, lang))
        return
    except BadRequest as exc:
        if not _voice_forbidden(exc):
            raise
        log.info("voice_sample_refused", reason="voice_messages_forbidden")
        s.client.send_message(chat, text("st_no_voice", lang))
        return
    if file_id:
        store.keep_sample(key, file_id)
    log.info("voice_sample_sent", voice=voice, cached=False)


def _voice_forbidden(exc: BadRequest) -> bool:
    return "voice_messages_forbidden" in str(exc).lower()


def on_photo(s: Services, msg: Message, lang: str) -> bool:
    """A photo: the person's reference picture when they chose "my picture" (True; the
    largest size's file_id is kept and the menu shows it); otherwise a short hint of
    how to use one (False). Either way the person has been answered."""
    user, chat = msg.from_user.id, msg.chat_id
    store = s.preferences
    prefs = store.load(user)
    if prefs.reference != "user" or not msg.photo:
        s.client.send_message(chat, text("st_photo_hint", lang))
        return False
    largest = max(msg.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
    prefs.reference_file_id = largest.file_id
    store.save(user, prefs)
    log.info("reference_photo_taken", width=largest.width, height=largest.height)
    s.client.send_message(chat, text("st_photo_taken", lang))
    menu = store.menu(user)
    if menu is not None:
        s.client.edit_message(*menu, *_render(s, user, prefs, lang))
    return True
