"""One step of a job on a worker: the pipeline, with Telegram as its approvals, progress
and delivery; and how a job is stopped.

A step runs ``Pipeline.advance(wait=False)``: it does everything that needs no person,
asks for an approval when one is due (buttons in the chat, a deadline recorded), and
returns, freeing the worker. The button press (``handlers``) records the answer and
asks for the next step; ``recover`` cancels the job if nobody answered in time. Only one
worker runs a job's step at a time (``JobLock``); a step asked for meanwhile is not
lost: the holder runs again after releasing the lock.

A cancel takes effect where it is asked (``stop_job``: ❌, ``/cancel``, a timeout, a user
who blocked the bot): the job is flagged, its pending approvals closed and the user's
slot freed at once, and whoever stopped it takes the buttons away and tells the user.
The step notices at the pipeline's next cancel check, deletes the files and ends without
a word. Each message's buttons are taken away once (``close_buttons``), and nothing more
goes to a user whose chat answered 403.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import structlog

from .. import redis_keys
from ..errors import JobCancelled, StepInterrupted, StoryReelError, UserBlocked
from ..messages import message, message_for
from ..models import Job, JobStatus
from ..media.files import atomic_path
from ..pipeline.approvals import Preview
from ..pipeline.edits import Edit
from ..pipeline.ledger import saving
from ..pipeline.runner import Pipeline
from ..pipeline.stages import Outcome
from .client import buttons
from .services import Services
from .state import JOB_TTL, Cancel, JobLock
from .texts import text

log = structlog.get_logger(__name__)

SHORT = {"script": "s", "pictures": "p", "clips": "c"}
LONG = {v: k for k, v in SHORT.items()}
#: ✅, ❌, 🔁 N (redo one picture or clip), ✏️ (how to edit: a reply)
ACTIONS = ("ok", "no", "rd", "ed")
_SCRIPT_LINES = 60  # a 48-segment script fits one message; longer ones are cut with a note


@dataclass(frozen=True)
class Press:
    """What a gate's button says: the action, the job, the gate, the round of the question
    it was under (a button of an earlier round is stale) and, for 🔁, the number."""

    action: str
    job_id: str
    kind: str
    round: int = 0
    number: int | None = None


def callback_data(action: str, job_id: str, kind: str, round: int = 0, number: int | None = None) -> str:
    """``ok:{job_id}:p:0`` (and ``rd:{job_id}:p:0:17``): at most 46 bytes for a
    32-character job id, under Telegram's 64."""
    data = f"{action}:{job_id}:{SHORT[kind]}:{round}"
    return data if number is None else f"{data}:{number}"


def parse_callback(data: str | None) -> Press | None:
    parts = (data or "").split(":")
    if not 3 <= len(parts) <= 5 or parts[0] not in ACTIONS or parts[2] not in LONG:
        return None
    if not all(p.isdigit() and len(p) <= 4 for p in parts[3:]):
        return None
    if (parts[0] == "rd") != (len(parts) == 5):
        return None
    round_ = int(parts[3]) if len(parts) > 3 else 0
    number = int(parts[4]) if len(parts) == 5 else None
    return Press(parts[0], parts[1], LONG[parts[2]], round_, number)


def approval_markup(job: Job, kind: str, numbers: list[int] = ()):
    """✅/❌, then ✏️ for the script or 🔁 N for each picture (clip) shown."""
    lang, round_ = job.language_ui, job.rounds.get(kind, 0)
    rows = [[(text("approve", lang), callback_data("ok", job.job_id, kind, round_)),
             (text("cancel", lang), callback_data("no", job.job_id, kind, round_))]]
    if kind == "script":
        rows.append([(text("edit_button", lang), callback_data("ed", job.job_id, kind, round_))])
    elif numbers:
        redo = [(f"🔁 {n}", callback_data("rd", job.job_id, kind, round_, n)) for n in numbers]
        rows.extend(redo[i:i + 5] for i in range(0, len(redo), 5))
    return buttons(rows)


class TelegramApprovals:
    """``Approvals`` for the pipeline: previews and buttons in the chat, answers in Redis."""

    def __init__(self, services: Services) -> None:
        self.s = services

    def request(self, job: Job, preview: Preview) -> None:
        s, lang, chat, kind, round_ = self.s, job.language_ui, job.chat_id, preview.kind, preview.round
        s.approvals.request(job.job_id, kind)
        earlier = job.notes.get(f"ask_{kind}")
        if round_ and earlier:  # the question of the round before: its buttons go
            _to_user(s, job, close_buttons, s, job, message_id=earlier)
        if kind == "script":
            saved = saving(s.settings, s.providers, job.options, segment_count=job.segment_count,
                           segment_seconds=job.segment_seconds)
            body = script_text(job, preview, saved)
            msg_id = _to_user(s, job, s.client.send_message, chat, body, approval_markup(job, "script"))
        else:
            media = "photo" if kind == "pictures" else "video"
            album = f"album_{kind}" if not round_ else f"album_{kind}_{round_}"
            if not job.notes.get(album):  # a resumed step does not send it twice
                _to_user(s, job, s.client.send_album, chat, preview.files, media)
                job.notes[album] = True
                s.store.save(job)
            numbers = ", ".join(str(n) for n in preview.numbers)
            body = (text(f"ask_{kind}", lang, n=len(preview.files)) if not round_
                    else text(f"ask_{kind}_again", lang, numbers=numbers))
            msg_id = _to_user(s, job, s.client.send_message, chat, body + "\n" + text(f"how_{kind}", lang),
                              approval_markup(job, kind, preview.numbers))
        job.notes[f"ask_{kind}"] = msg_id
        job.notes[f"round_{kind}"] = round_
        s.store.save(job)  # shown: a resumed step must not show it again
        if s.approvals.raw(job.job_id, kind) != "pending":
            # cancelled while the question went out: whoever cancelled could not know
            # this message yet, so its buttons are ours to take away
            _to_user(s, job, close_buttons, s, job, message_id=msg_id)
            return
        # the timeout is a deadline in Redis that ``recover`` (beat) checks, not a
        # countdown task: a countdown held by a worker that dies is lost with it
        s.redis.zadd(DEADLINES, {f"{job.job_id}:{kind}": time.time() + s.settings.approval_timeout})

    def delivered(self, job: Job, kind: str) -> bool:
        return f"ask_{kind}" in job.notes and job.notes.get(f"round_{kind}", 0) == job.rounds.get(kind, 0)

    def state(self, job: Job, kind: str) -> bool | None:
        return self.s.approvals.state(job.job_id, kind)

    def edits(self, job: Job) -> list[Edit]:
        return queued_edits(self.s, job.job_id)

    def show(self, job: Job, preview: Preview) -> None:
        """A contact sheet of more pictures while the pictures gate is open."""
        first, last = preview.numbers[0], preview.numbers[-1]
        _to_user(self.s, job, self.s.client.send_photo, job.chat_id, preview.files[0],
                 caption=text("sheet", job.language_ui, first=first, last=last))


def queued_edits(s: Services, job_id: str) -> list[Edit]:
    """Every edit asked of the job so far, in order (the pipeline counts those it made)."""
    return [Edit.from_dict(json.loads(raw)) for raw in s.redis.lrange(redis_keys.edits(job_id), 0, -1)]


def queue_edit(s: Services, job_id: str, edit: Edit) -> None:
    pipe = s.redis.pipeline()
    pipe.rpush(redis_keys.edits(job_id), json.dumps(edit.to_dict(), ensure_ascii=False))
    pipe.expire(redis_keys.edits(job_id), JOB_TTL)
    pipe.execute()


def script_text(job: Job, preview: Preview, saved: float = 0.0) -> str:
    lang, script = job.language_ui, preview.script
    lines = [f"{i + 1}. {seg.text}" for i, seg in enumerate(script.segments) if seg.text.strip()]
    if len(lines) > _SCRIPT_LINES:
        lines = lines[:_SCRIPT_LINES] + [text("more", lang, n=len(lines) - _SCRIPT_LINES)]
    body = "\n".join(lines)
    cost = text("script_cost", lang, cost=preview.cost) if preview.cost else ""
    if cost and saved >= 0.01:
        cost += text("script_saving", lang, saved=saved)
    if preview.round:
        cost += text("revision", lang, n=preview.round)
    head = text("script", lang, title=script.title, segments=job.segment_count, seconds=job.segment_seconds,
                draft=text("draft", lang) if script.draft else "", cost=cost, body="")
    room = 4000 - len(head)
    if len(body) > room:
        body = body[: room - 1] + "…"
    notice = message(preview.notice, lang) + "\n\n" if preview.notice else ""
    return notice + head + body + "\n\n" + text("ask_script", lang) + "\n" + text("how_script", lang)


class TelegramProgress:
    """A status message per stage, edited at least every ``progress_every`` segments.
    The text last sent is remembered (``text_{stage}``): an edit that would change
    nothing is never made. Nothing goes to a job that has been stopped."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self._lock = threading.Lock()

    def stage(self, job: Job, stage: str, total: int) -> None:
        if stage not in ("pictures", "clips", "narration", "assembly"):
            return
        key = f"msg_{stage}"
        if key in job.notes:  # a resumed step: the message is there (or was lost with a worker)
            return
        # a status line is sent at most once: recorded before it goes out, so a worker
        # killed mid-send costs the line, never a second copy (previews, which the user
        # must see, are the other way round: see ``TelegramApprovals``)
        job.notes[key] = None
        self.s.store.save(job)
        if _stopped(self.s, job):
            return
        body = text(f"stage_{stage}", job.language_ui, done=0, total=total)
        job.notes[f"text_{stage}"] = body
        job.notes[key] = _to_user(self.s, job, self.s.client.send_message, job.chat_id, body)
        self.s.store.save(job)

    def advance(self, job: Job, stage: str, done: int, total: int) -> None:
        if stage not in ("pictures", "clips") or not job.notes.get(f"msg_{stage}"):
            return
        every = self.s.settings.progress_every
        body = text(f"stage_{stage}", job.language_ui, done=done, total=total)
        with self._lock:
            if done < total and done % every and job.notes.get(f"shown_{stage}", -1) + every > done:
                return
            if job.notes.get(f"text_{stage}") == body:
                return
            job.notes[f"shown_{stage}"] = done
            job.notes[f"text_{stage}"] = body
        if _stopped(self.s, job):
            return
        _to_user(self.s, job, self.s.client.edit_message, job.chat_id, job.notes[f"msg_{stage}"], body)


#: set when this worker process begins a warm shutdown (SIGTERM): running steps stop at
#: their next safe point and hand their job back to the queue
SHUTTING_DOWN = threading.Event()


def run_step(services: Services, job_id: str) -> None:
    """Advance ``job_id`` as far as it goes without a person (the ``advance_job`` task)."""
    lock = JobLock(services.redis, job_id, ttl=services.settings.job_lock_seconds)
    if not lock.acquire():
        log.info("job_step_deferred", job_id=job_id)  # the holder runs again after releasing
        return
    while True:
        handed_back = False
        try:
            _step(services, job_id)
        except StepInterrupted:
            handed_back = True
            services.dispatcher.start_step(job_id)  # another worker goes on with it
            log.info("job_handed_back", job_id=job_id)
        finally:
            again = lock.release_and_check(still_running=handed_back)
        if handed_back or not again or not lock.acquire():
            return


def _step(services: Services, job_id: str) -> None:
    s = services
    job = s.store.load(job_id)
    if job is None or job.status.finished:
        return
    structlog.contextvars.bind_contextvars(job_id=job_id, user_id=job.user_id)
    settings = s.upload_settings

    def cancelled() -> bool:
        return s.approvals.cancel_reason(job_id) is not None

    try:
        pipeline = Pipeline(settings, s.providers, files=s.files, store=s.store, approvals=TelegramApprovals(s),
                            progress=TelegramProgress(s), cancelled=cancelled,
                            interrupted=SHUTTING_DOWN.is_set, spending=s.spending, slots=s.slots,
                            results=s.results)
        _fetch_reference(s, job)
        outcome = pipeline.advance(job, _deliver(s, pipeline, cancelled))
        if outcome is not None:
            _finish(s, job)
    except JobCancelled:
        job.status = JobStatus.CANCELLED
        reason = s.approvals.cancel_reason(job_id)
        job.notes["cancel_reason"] = reason
        if reason is None:  # not stopped through ``stop_job``: nobody has told the user yet
            _end(s, job, message("cancelled", job.language_ui))
        else:  # whoever stopped it took the buttons away and told the user (or nobody: blocked)
            s.store.save(job)
            _finish(s, job)
            log.info("job_stopped", reason=reason)
    except StoryReelError as exc:
        # a failure after a cancel is the cancel's: the user was told already
        _end(s, job, None if cancelled() else message_for(exc, job.language_ui))
    except Exception as exc:  # a bug of ours: the user gets one line, the log the traceback
        log.exception("job_step_crashed")
        job.status, job.error = JobStatus.FAILED, type(exc).__name__
        s.files.cleanup_job(job.job_id)
        _end(s, job, None if cancelled() else message("internal", job.language_ui))
    finally:
        structlog.contextvars.unbind_contextvars("job_id", "user_id")


def _fetch_reference(s: Services, job: Job) -> None:
    """The picture the person sent as the style and character reference, into the job's
    folder (once), so the pipeline finds it on this host's disk."""
    file_id = job.notes.get("reference_file_id")
    if job.options.reference != "user" or not file_id:
        return
    path = s.files.create_job_dir(job.job_id) / "reference.jpg"
    if not path.exists():
        with atomic_path(path) as tmp:
            s.client.download(file_id, tmp)
    if job.options.reference_image != str(path):
        job.options.reference_image = str(path)
        s.store.save(job)


def _deliver(s: Services, pipeline: Pipeline, cancelled: Callable[[], bool]):
    def deliver(job: Job, outcome: Outcome) -> None:
        if job.notes.get("delivered"):  # a resumed step after the video went out: never twice
            log.info("video_already_delivered")
            return
        if cancelled():  # stopped while the video was being put together: the user was told
            raise JobCancelled("cancelled before delivery")
        fmt = pipeline.video_format(job)
        minutes, seconds = divmod(round(outcome.duration), 60)
        caption = text("done_caption", job.language_ui, title=job.script.title if job.script else job.prompt[:60],
                       duration=f"{minutes}:{seconds:02d}")
        s.active.release(job.user_id, job.job_id)  # the user may start the next one as it arrives
        _to_user(s, job, s.client.send_video, job.chat_id, outcome.video, duration=outcome.duration,
                 width=fmt.width, height=fmt.height, caption=caption)
        job.notes["delivered"] = True
        pipeline.save(job)
        log.info("video_delivered", size=outcome.size, duration=outcome.duration, cost=job.cost)

    return deliver


def _end(s: Services, job: Job, note: str | None) -> None:
    """The job ended without a video: record it, take the buttons of its open approvals
    away, free the user's slot (before telling: the user may send the next prompt at
    once), then tell them ``note`` (None: they know already)."""
    s.store.save(job)
    try:
        close_buttons(s, job, [k for k in ("script", "pictures", "clips")
                               if s.approvals.raw(job.job_id, k) == "pending"])
        _finish(s, job)
        if note:
            s.client.send_message(job.chat_id, note)
    except UserBlocked:
        _finish(s, job)
        if user_blocked(s, job):
            log.warning("user_blocked", chat_id=job.chat_id)


def _finish(s: Services, job: Job) -> None:
    """The job is over: its user may start another; its approval keys and edits go."""
    s.active.release(job.user_id, job.job_id)
    s.approvals.forget(job.job_id)
    s.redis.delete(redis_keys.edits(job.job_id))


# ---- stopping a job, from wherever it is asked --------------------------------------------
def stop_job(s: Services, job: Job, reason: str, *, pressed: str | None = None) -> Cancel | None:
    """Stop ``job`` now: the cancel flag (``reason``) that the pipeline's cancel check
    reads on every worker (a running Runway task is deleted there), its pending approvals
    closed, the user's slot freed, and a step queued that deletes the files and ends the
    job without a word. The caller then takes away the buttons of ``Cancel.kinds``
    (``close_buttons``) and tells the user. With ``pressed`` nothing happens unless that
    approval is still pending: None then."""
    cancel = s.approvals.cancel(job.job_id, reason, pressed=pressed)
    if cancel is None:
        return None
    s.active.release(job.user_id, job.job_id)
    s.dispatcher.start_step(job.job_id)
    log.info("job_stop_requested", job_id=job.job_id, reason=reason, first=cancel.first)
    return cancel


def close_buttons(s: Services, job: Job, kinds=(), *, message_id: int | None = None) -> None:
    """Take the ✅/❌ buttons away from ``message_id`` and from the questions of ``kinds``,
    each message once, whoever asks first (the press, the cancel, the step)."""
    ids = [message_id, *(job.notes.get(f"ask_{kind}") for kind in kinds)]
    for msg_id in dict.fromkeys(i for i in ids if i):
        if s.approvals.clear_once(job.job_id, msg_id):
            s.client.remove_buttons(job.chat_id, msg_id)


def user_blocked(s: Services, job: Job) -> bool:
    """The user blocked the bot (a 403): the job stops as on a cancel (reason
    "blocked"), with no buttons to take away and nothing sent. True the first time, so
    the caller logs it once."""
    cancel = stop_job(s, job, "blocked")
    return bool(cancel and cancel.first)


def _to_user(s: Services, job: Job, send, *args, **kwargs):
    """``send(*args, **kwargs)``, a call to the job's chat. On a 403 the job stops at once
    (``user_blocked``) and ``JobCancelled`` unwinds the step: nothing more is sent."""
    try:
        return send(*args, **kwargs)
    except UserBlocked as exc:
        if user_blocked(s, job):
            log.warning("user_blocked", chat_id=job.chat_id, method=exc.context.get("method"))
        raise JobCancelled("the user blocked the bot") from exc


def _stopped(s: Services, job: Job) -> bool:
    return s.approvals.cancel_reason(job.job_id) is not None


DEADLINES = redis_keys.DEADLINES


def overdue_approvals(services: Services) -> int:
    """Time out the approvals past their deadline; how many jobs were cancelled."""
    cancelled = 0
    for member in services.redis.zrangebyscore(DEADLINES, "-inf", time.time()):
        if not services.redis.zrem(DEADLINES, member):
            continue  # another worker's recover took this one
        job_id, _, kind = member.rpartition(":")
        cancelled += approval_timed_out(services, job_id, kind)
    return cancelled


def approval_timed_out(services: Services, job_id: str, kind: str) -> bool:
    """The deadline passed: still no answer → the job is cancelled and the user told (True)."""
    s = services
    job = s.store.load(job_id)
    if job is None or job.status.finished:
        return False
    cancel = stop_job(s, job, "timeout", pressed=kind)
    if cancel is None:  # answered meanwhile
        return False
    log.info("approval_timed_out", job_id=job_id, kind=kind)
    minutes = max(1, math.ceil(s.settings.approval_timeout / 60))
    try:
        close_buttons(s, job, cancel.kinds)
        s.client.send_message(job.chat_id, message("approval_timeout", job.language_ui, minutes=minutes))
    except UserBlocked:
        if user_blocked(s, job):
            log.warning("user_blocked", chat_id=job.chat_id)
    return True
