"""One Telegram update in → replies, new jobs, approvals.

Runs on a worker (the ``handle_update`` task), never in the web process. Everything the
user sees comes from ``texts`` and ``messages`` in their language; every callback query
is answered exactly once, whatever it was. A cancel (❌ or ``/cancel``) is complete when
its handler returns: the job is stopped, the user's slot free, the buttons gone and the
user told; the worker running the job only deletes its files. A reply that meets a
user who blocked the bot (403) ends their jobs and sends nothing more.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from pathlib import Path

import structlog
from telegram import Message, Update, User

from ..errors import StoryReelError, UserBlocked
from ..log import ms_since
from ..messages import message, message_for
from ..models import Job
from ..pipeline.capacity import estimate_seconds
from ..pipeline.edits import accept, read_reply
from ..pipeline.ledger import add_cost, cost_entry
from ..pipeline.runner import Pipeline
from ..providers.base import metered
from . import preferences, settings_menu
from .jobs import close_buttons, parse_callback, queue_edit, queued_edits, stop_job, user_blocked
from .services import Services
from .texts import text, ui_language

log = structlog.get_logger(__name__)


def handle_update(services: Services, data: dict) -> None:
    update = Update.de_json(data, services.client.bot)
    user = update.effective_user
    structlog.contextvars.bind_contextvars(update_id=update.update_id, user_id=user.id if user else None)
    try:
        if update.callback_query is not None:
            _on_button(services, update)
        elif update.message is not None:
            _on_message(services, update.message)
        elif update.edited_message is not None:
            # a prompt cannot be changed once sent: say what to do instead
            msg = update.edited_message
            services.client.send_message(msg.chat_id, text("unsupported", _lang(msg.from_user)))
        else:  # channel posts, member updates…: nobody to answer
            log.info("update_ignored", kind=_kind(update))
    except UserBlocked as exc:
        _user_gone(services, user.id if user else exc.context.get("chat_id"))
    finally:
        structlog.contextvars.unbind_contextvars("update_id", "user_id")


def _lang(user: User | None) -> str:
    return ui_language(user.language_code if user else None)


def _kind(update: Update) -> str:
    for name in ("channel_post", "edited_channel_post", "my_chat_member", "chat_member", "inline_query"):
        if getattr(update, name, None) is not None:
            return name
    return "other"


def _on_message(s: Services, msg: Message) -> None:
    lang, chat = _lang(msg.from_user), msg.chat_id
    if msg.from_user is None or msg.chat.type != "private":
        log.info("update_ignored", kind="not_private")
        return
    if msg.text is not None:
        command = msg.text.strip().split()[0].split("@")[0].lower() if msg.text.strip() else ""
        if command == "/start":
            s.client.send_message(chat, _greeting(s, lang))
        elif command == "/help":
            s.client.send_message(chat, text("help", lang, limit=s.settings.max_prompt_chars))
        elif command == "/cancel":
            _cancel_all(s, msg.from_user.id, chat, lang)
        elif command == "/settings":
            settings_menu.open_menu(s, msg, lang)
        elif command.startswith("/"):
            s.client.send_message(chat, text("help", lang, limit=s.settings.max_prompt_chars))
        elif (gate := _open_gate(s, msg.from_user.id)) is not None:
            _edit(s, chat, *gate, msg.text, lang)  # a reply to an open question changes what it shows
        else:
            _new_job(s, msg, msg.text, lang)
    elif msg.voice is not None or msg.audio is not None:
        _on_voice(s, msg, lang)
    elif msg.photo:
        settings_menu.on_photo(s, msg, lang)  # the reference picture, or a hint where to choose it
    else:
        s.client.send_message(chat, text("unsupported", lang))


def _greeting(s: Services, lang: str) -> str:
    settings = s.settings
    eta = estimate_seconds(settings, s.providers, settings.segment_count, settings.segment_seconds)
    minutes = settings.segment_count * settings.segment_seconds / 60
    return text("start", lang, minutes=f"{minutes:g}", eta=max(1, math.ceil(eta / 60)))


def _new_job(s: Services, msg: Message, prompt: str, lang: str, *, language: str | None = None,
             extra_costs: list[dict] | None = None) -> None:
    chat, user_id = msg.chat_id, msg.from_user.id
    settings = s.upload_settings
    # one job per message, whatever happens: an update delivered again (a worker died
    # while handling it, and the broker handed it out once more) finds its job made
    job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"telegram:{chat}:{msg.message_id}").hex
    if s.store.load(job_id) is not None:
        log.info("prompt_already_taken", job_id=job_id)
        return
    if not _models_usable(s, chat, lang):
        return
    chosen = preferences.job_fields(s.preferences.load(user_id), settings)
    reference = chosen.pop("reference_file_id", None)
    try:
        pipeline = Pipeline(settings, s.providers, files=s.files, store=s.store, spending=s.spending)
        job = pipeline.new_job(prompt, language=language, job_id=job_id, user_id=user_id, chat_id=chat,
                               language_ui=lang, **chosen)
    except StoryReelError as exc:  # empty, too long, over a cost cap, misconfigured
        log.info("prompt_refused", code=exc.code)
        s.client.send_message(chat, message_for(exc, lang))
        return
    if not s.active.claim(user_id, job.job_id):
        s.client.send_message(chat, message("job_active", lang))
        return
    decision = s.limiter.hit(user_id)
    if not decision.allowed:
        s.active.release(user_id, job.job_id)
        log.info("rate_limited", retry_after=decision.retry_after)
        s.client.send_message(chat, message("rate_limited", lang, wait=decision.retry_after))
        return
    for entry in extra_costs or []:  # the voice note's transcription, paid before the job existed
        add_cost(job, entry, s.spending)
    if reference:  # the person's own reference picture: the worker fetches it
        job.notes["reference_file_id"] = reference
    s.store.save(job)
    eta = estimate_seconds(settings, s.providers, job.segment_count, job.segment_seconds)
    cost = text("cost_part", lang, cost=job.estimate) if job.estimate else ""
    s.client.send_message(chat, text("accepted", lang, eta=max(1, math.ceil(eta / 60)), cost=cost))
    log.info("job_accepted", job_id=job.job_id, estimate=job.estimate)
    s.dispatcher.start_step(job.job_id)


def _models_usable(s: Services, chat: int, lang: str) -> bool:
    """False (and the user told) when a configured OpenAI model is past its shutdown date
    or unknown: the prompt is refused before anything is paid. The lookup is cached, so
    this costs a Redis read on most prompts; a server that cannot be asked refuses nothing."""
    try:
        s.models.admit()
    except StoryReelError as exc:
        log.error("prompt_refused", code=exc.code, reason=exc.detail)
        s.client.send_message(chat, message_for(exc, lang))
        return False
    return True


def _on_voice(s: Services, msg: Message, lang: str) -> None:
    """Voice → "I heard: …" → a job; nothing is left behind whatever happens."""
    media = msg.voice or msg.audio
    limit_mb = s.download_limit_mb
    if media.file_size and media.file_size > limit_mb * 1024 * 1024:
        s.client.send_message(msg.chat_id, message("voice_too_large", lang, limit_mb=f"{limit_mb:g}"))
        return
    if not _models_usable(s, msg.chat_id, lang):  # before the paid transcription
        return
    settings = s.settings
    providers = s.providers
    if providers.transcriber is None:
        s.client.send_message(msg.chat_id, message("not_available_offline", lang))
        return
    s.files.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="voice-", dir=s.files.root) as tmp:
        path = Path(tmp) / "voice.ogg"
        try:
            s.client.download(media.file_id, path)
            started = time.perf_counter()
            with metered() as used:
                transcript = providers.transcriber.transcribe(path, language=None)
        except StoryReelError as exc:
            log.info("transcription_failed", code=exc.code, error=str(exc))
            s.client.send_message(msg.chat_id, message_for(exc, lang))
            return
        except Exception as exc:  # a Telegram error on download, a bug: one human line
            log.exception("voice_failed", error=type(exc).__name__)
            s.client.send_message(msg.chat_id, message("audio_unreadable", lang))
            return
    heard = " ".join(transcript.text.split())
    if not heard:
        s.client.send_message(msg.chat_id, message("transcription_empty", lang))
        return
    s.client.send_message(msg.chat_id, text("heard", lang, text=heard))
    cost = cost_entry(settings, used, stage="transcription", segment=None, provider=providers.transcriber.name,
                      duration_ms=ms_since(started))
    _new_job(s, msg, heard, lang, language=transcript.language, extra_costs=[cost])


def _on_button(s: Services, update: Update) -> None:
    cq = update.callback_query
    lang = _lang(cq.from_user)
    if (cq.data or "").startswith("st:"):
        settings_menu.on_button(s, cq, lang)
        return
    press = parse_callback(cq.data)
    job = s.store.load(press.job_id) if press else None
    if (press is None or job is None or job.status.finished or press.kind not in job.asked
            or press.round != job.rounds.get(press.kind, 0)):
        s.client.answer_callback(cq.id, text("stale", lang))
        return
    job_id, kind = press.job_id, press.kind
    if job.user_id != cq.from_user.id:
        log.warning("foreign_button", job_id=job_id, owner=job.user_id)
        s.client.answer_callback(cq.id, text("not_yours", lang))
        return
    pressed = cq.message.message_id if cq.message is not None else None
    if press.action in ("rd", "ed"):
        if s.approvals.raw(job_id, kind) != "pending":
            s.client.answer_callback(cq.id, _too_late(s, job_id, kind, lang))
        elif press.action == "ed":
            s.client.answer_callback(cq.id, text("how_script_short", lang))
        else:
            s.client.answer_callback(cq.id, text("redo_pressed", lang, number=press.number))
            _edit(s, job.chat_id, job, kind, str(press.number), lang)
        return
    if press.action == "ok":
        if kind == "script" and _edits_waiting(s, job):
            s.client.answer_callback(cq.id, text("edit_pending", lang))
            return
        if not s.approvals.approve(job_id, kind):
            s.client.answer_callback(cq.id, _too_late(s, job_id, kind, lang))
            return
        log.info("approval_answered", job_id=job_id, kind=kind, action=press.action)
        s.client.answer_callback(cq.id, text("approved", lang))
        close_buttons(s, job, message_id=pressed)
        s.dispatcher.start_step(job_id)
        return
    cancel = stop_job(s, job, "user", pressed=kind)
    if cancel is None:
        s.client.answer_callback(cq.id, _too_late(s, job_id, kind, lang))
        return
    log.info("approval_answered", job_id=job_id, kind=kind, action=press.action)
    s.client.answer_callback(cq.id, text("cancelling", lang))
    close_buttons(s, job, cancel.kinds, message_id=pressed)
    s.client.send_message(job.chat_id, text("stopped", lang))


# ---- edits at an open gate -----------------------------------------------------------------
def _open_gate(s: Services, user_id: int) -> tuple[Job, str] | None:
    """The user's newest job with a question (script, pictures or clips) waiting for
    them: its approval is pending (asked before the question goes out, so no status the
    step has yet to save can hide it); the latest gate of the job if several are."""
    jobs = [job for job in (s.store.load(j) for j in s.active.of(user_id)) if job is not None]
    for job in sorted(jobs, key=lambda j: j.created_at, reverse=True):
        if job.status.finished:
            continue
        for kind in ("clips", "pictures", "script"):
            if s.approvals.raw(job.job_id, kind) == "pending":
                return job, kind
    return None


def _edits_waiting(s: Services, job: Job) -> bool:
    return len(queued_edits(s, job.job_id)) > job.edits_done


def _edit(s: Services, chat: int, job: Job, kind: str, reply: str, lang: str) -> None:
    """A person's change at an open gate: read, checked against the job's limits and
    caps (refused with a human line), queued for the job's next step, and confirmed. The
    question's buttons go: the next question shows the change."""
    try:
        edit = read_reply(job, kind, reply)
        cost = accept(s.settings, s.providers, s.spending, job, edit, queued_edits(s, job.job_id)[job.edits_done:])
    except StoryReelError as exc:
        log.info("edit_refused", job_id=job.job_id, kind=kind, code=exc.code)
        # not a redo at all (maybe a new prompt): what the open question needs, and when a new video can start
        reply_text = text("gate_waiting", lang) if exc.code == "edit_not_understood" else message_for(exc, lang)
        s.client.send_message(chat, reply_text)
        return
    queue_edit(s, job.job_id, edit)
    log.info("edit_queued", job_id=job.job_id, kind=kind, action=edit.action, segments=edit.numbers or None,
             cost=cost)
    close_buttons(s, job, message_id=job.notes.get(f"ask_{kind}"))
    numbers = ", ".join(str(n) for n in edit.numbers)
    price = text("edit_cost", lang, cost=cost) if cost else ""
    if kind == "script":
        s.client.send_message(chat, text(f"edit_taken_{edit.action}", lang, numbers=numbers, note=edit.text[:200],
                                          cost=price))
    else:
        s.client.send_message(chat, text(f"redo_taken_{kind}", lang, numbers=numbers, cost=price))
    s.dispatcher.start_step(job.job_id)


def _too_late(s: Services, job_id: str, kind: str, lang: str) -> str:
    """What a press that changed nothing is told: answered before, or no longer active."""
    if s.approvals.raw(job_id, kind) is None or s.approvals.cancel_reason(job_id) is not None:
        return text("stale", lang)
    return text("already", lang)


def _cancel_all(s: Services, user_id: int, chat: int, lang: str) -> None:
    """``/cancel``: every running job of the user stops now (see ``stop_job``)."""
    running = []
    for job_id in s.active.of(user_id):
        job = s.store.load(job_id)
        if job is None or job.status.finished:  # left by a crash after the job ended
            s.active.release(user_id, job_id)
        else:
            running.append(job)
    if not running:
        s.client.send_message(chat, text("no_job", lang))
        return
    for job in running:
        cancel = stop_job(s, job, "user")
        if cancel is not None:
            close_buttons(s, job, cancel.kinds)
    s.client.send_message(chat, text("stopped", lang))


def _user_gone(s: Services, user_id: int | None) -> None:
    """A reply met a 403: the user blocked the bot. Their jobs stop (reason "blocked",
    a step deletes the files) and nothing more is sent to them."""
    stopped = []
    for job_id in s.active.of(user_id) if user_id is not None else []:
        job = s.store.load(job_id)
        if job is None or job.status.finished:
            s.active.release(user_id, job_id)
        elif user_blocked(s, job):
            stopped.append(job_id)
    log.warning("user_blocked", chat_id=user_id, jobs=stopped)
