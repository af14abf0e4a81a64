"""One step of a job on a worker: the pipeline, with Telegram as its approvals, progress
and delivery.

A step runs ``Pipeline.advance(wait=False)``: it does everything that needs no person,
asks for an approval when one is due (buttons in the chat, a timeout task scheduled),
and returns, freeing the worker. The button press (``handlers``) records the answer and
asks for the next step; the timeout task cancels the job if nobody answered. Only one
worker runs a job's step at a time (``JobLock``); a step asked for meanwhile is not
lost: the holder runs again after releasing the lock.
"""

from __future__ import annotations

import math
import threading
import time

import structlog

from .. import redis_keys
from ..errors import JobCancelled, StepInterrupted, StoryReelError
from ..messages import message, message_for
from ..models import Job, JobStatus
from ..pipeline.approvals import Preview
from ..pipeline.runner import Pipeline
from ..pipeline.stages import Outcome
from .client import buttons
from .services import Services
from .state import JobLock
from .texts import text

log = structlog.get_logger(__name__)

SHORT = {"script": "s", "pictures": "p", "clips": "c"}
LONG = {v: k for k, v in SHORT.items()}
_SCRIPT_LINES = 60  # a 48-segment script fits one message; longer ones are cut with a note


def callback_data(action: str, job_id: str, kind: str) -> str:
    """``ok:{job_id}:p`` — 37 bytes for a 32-character job id, under Telegram's 64."""
    return f"{action}:{job_id}:{SHORT[kind]}"


def parse_callback(data: str | None) -> tuple[str, str, str] | None:
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] not in ("ok", "no") or parts[2] not in LONG:
        return None
    return parts[0], parts[1], LONG[parts[2]]


def approval_markup(job: Job, kind: str):
    lang = job.language_ui
    return buttons([[(text("approve", lang), callback_data("ok", job.job_id, kind)),
                     (text("cancel", lang), callback_data("no", job.job_id, kind))]])


class TelegramApprovals:
    """``Approvals`` for the pipeline: previews and buttons in the chat, answers in Redis."""

    def __init__(self, services: Services) -> None:
        self.s = services

    def request(self, job: Job, preview: Preview) -> None:
        s, lang, chat = self.s, job.language_ui, job.chat_id
        s.approvals.request(job.job_id, preview.kind)
        if preview.kind == "script":
            body = script_text(job, preview)
            msg_id = s.client.send_message(chat, body, approval_markup(job, "script"))
        else:
            kind = "photo" if preview.kind == "pictures" else "video"
            if not job.notes.get(f"album_{preview.kind}"):  # a resumed step does not send it twice
                s.client.send_album(chat, preview.files, kind)
                job.notes[f"album_{preview.kind}"] = True
                s.store.save(job)
            msg_id = s.client.send_message(chat, text(f"ask_{preview.kind}", lang, n=len(preview.files)),
                                           approval_markup(job, preview.kind))
        job.notes[f"ask_{preview.kind}"] = msg_id
        s.store.save(job)  # shown: a resumed step must not show it again
        # the timeout is a deadline in Redis that ``recover`` (beat) checks, not a
        # countdown task: a countdown held by a worker that dies is lost with it
        s.redis.zadd(DEADLINES, {f"{job.job_id}:{preview.kind}": time.time() + s.settings.approval_timeout})

    def delivered(self, job: Job, kind: str) -> bool:
        return f"ask_{kind}" in job.notes

    def state(self, job: Job, kind: str) -> bool | None:
        return self.s.approvals.state(job.job_id, kind)


def script_text(job: Job, preview: Preview) -> str:
    lang, script = job.language_ui, preview.script
    lines = [f"{i + 1}. {seg.text}" for i, seg in enumerate(script.segments) if seg.text.strip()]
    if len(lines) > _SCRIPT_LINES:
        lines = lines[:_SCRIPT_LINES] + [text("more", lang, n=len(lines) - _SCRIPT_LINES)]
    body = "\n".join(lines)
    cost = text("script_cost", lang, cost=preview.cost) if preview.cost else ""
    head = text("script", lang, title=script.title, segments=job.segment_count, seconds=job.segment_seconds,
                draft=text("draft", lang) if script.draft else "", cost=cost, body="")
    room = 4000 - len(head)
    if len(body) > room:
        body = body[: room - 1] + "…"
    return head + body + "\n\n" + text("ask_script", lang)


class TelegramProgress:
    """A status message per stage, edited at least every ``progress_every`` segments."""

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
        body = text(f"stage_{stage}", job.language_ui, done=0, total=total)
        job.notes[key] = self.s.client.send_message(job.chat_id, body)
        self.s.store.save(job)

    def advance(self, job: Job, stage: str, done: int, total: int) -> None:
        if stage not in ("pictures", "clips") or not job.notes.get(f"msg_{stage}"):
            return
        every = self.s.settings.progress_every
        with self._lock:
            if done < total and done % every and job.notes.get(f"shown_{stage}", -1) + every > done:
                return
            if job.notes.get(f"shown_{stage}") == done:
                return
            job.notes[f"shown_{stage}"] = done
        self.s.client.edit_message(job.chat_id, job.notes[f"msg_{stage}"],
                                   text(f"stage_{stage}", job.language_ui, done=done, total=total))


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
                            interrupted=SHUTTING_DOWN.is_set, spending=s.spending)
        outcome = pipeline.advance(job, _deliver(s, pipeline))
        if outcome is not None:
            _finish(s, job)
    except JobCancelled:
        job.status = JobStatus.CANCELLED
        if s.approvals.cancel_reason(job_id) == "timeout":
            minutes = max(1, math.ceil(s.settings.approval_timeout / 60))
            _end(s, job, message("approval_timeout", job.language_ui, minutes=minutes))
        else:
            _end(s, job, message("cancelled", job.language_ui))
    except StoryReelError as exc:
        _end(s, job, message_for(exc, job.language_ui))
    except Exception as exc:  # a bug of ours: the user gets one line, the log the traceback
        log.exception("job_step_crashed")
        job.status, job.error = JobStatus.FAILED, type(exc).__name__
        s.files.cleanup_job(job.job_id)
        _end(s, job, message("internal", job.language_ui))
    finally:
        structlog.contextvars.unbind_contextvars("job_id", "user_id")


def _deliver(s: Services, pipeline: Pipeline):
    def deliver(job: Job, outcome: Outcome) -> None:
        if job.notes.get("delivered"):  # a resumed step after the video went out: never twice
            log.info("video_already_delivered")
            return
        fmt = pipeline.video_format(job)
        minutes, seconds = divmod(round(outcome.duration), 60)
        caption = text("done_caption", job.language_ui, title=job.script.title if job.script else job.prompt[:60],
                       duration=f"{minutes}:{seconds:02d}")
        s.active.release(job.user_id, job.job_id)  # the user may start the next one as it arrives
        s.client.send_video(job.chat_id, outcome.video, duration=outcome.duration, width=fmt.width,
                            height=fmt.height, caption=caption)
        job.notes["delivered"] = True
        pipeline.save(job)
        log.info("video_delivered", size=outcome.size, duration=outcome.duration, cost=job.cost)

    return deliver


def _remove_open_buttons(s: Services, job: Job) -> None:
    for kind in ("script", "pictures", "clips"):
        msg_id = job.notes.get(f"ask_{kind}")
        if msg_id and s.approvals.raw(job.job_id, kind) in ("pending", "cancelled"):
            s.client.remove_buttons(job.chat_id, msg_id)


def _end(s: Services, job: Job, note: str) -> None:
    """The job ended without a video: record it, take its buttons away, free the user's
    slot (before telling: the user may send the next prompt at once), then tell them."""
    s.store.save(job)
    _remove_open_buttons(s, job)
    _finish(s, job)
    s.client.send_message(job.chat_id, note)


def _finish(s: Services, job: Job) -> None:
    """The job is over: its user may start another; its approval keys go."""
    s.active.release(job.user_id, job.job_id)
    s.approvals.forget(job.job_id)


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
    """The scheduled check: still no answer → the job is cancelled (True)."""
    if services.approvals.raw(job_id, kind) != "pending":
        return False
    log.info("approval_timed_out", job_id=job_id, kind=kind)
    services.approvals.cancel(job_id, "timeout")
    services.dispatcher.start_step(job_id)
    return True
