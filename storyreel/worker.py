"""The Celery app and its thin tasks: the bot's work happens here.

Queues: ``updates`` (drains of a chat's inbox: quick) and ``jobs`` (a job's steps:
minutes). Tasks only pick the parts up and call ``storyreel.bot``; no logic lives here.

An update reaches a worker through its chat's inbox (``storyreel.bot.inbox``): the web
process (or the poller, ``enqueue_update``) puts it there and asks for ``drain_inbox`` of
the chat; the drain handles the chat's updates one at a time in ``update_id`` order under
a per-chat lease (``JOB_LOCK_SECONDS``, the same "a dead worker's work is taken over after
this long"). ``recover`` also asks for the drain of every chat whose updates wait with
nobody draining them: a web process died between the two steps, or a drainer died.

Waiting for a person holds no worker: a job's step ends by asking for an approval and
recording its deadline (``APPROVAL_TIMEOUT`` from now) in Redis; the button press queues
``advance_job``; ``recover``, run by beat every ``RECOVER_SECONDS``, cancels the jobs
whose approval is still pending past its deadline. Run a worker with ``storyreel worker``
(a thread pool: the steps mostly wait on providers and FFmpeg) and the hourly cleanup
with ``storyreel beat``.

Nothing is built at import: ``create_celery(settings)`` makes an app, ``get_app()`` the
process's own (from the settings, on first use). The tasks are shared tasks, bound to
whichever app the process made. ``storyreel.celeryapp`` is the module for Celery's own
command line (``celery -A storyreel.celeryapp flower``).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import structlog
from celery import Celery, shared_task
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from .bot.inbox import STALL_SECONDS, Inbox
from .log import configure_logging, guard_stdlib_logging
from .settings import Settings, get_settings

UPDATES_QUEUE, JOBS_QUEUE = "updates", "jobs"

log = structlog.get_logger(__name__)


def create_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings`` (its broker is ``REDIS_URL``), with the queues, the
    delivery guarantees and beat's schedule; the tasks below are bound to it."""
    app = Celery("storyreel", broker=settings.redis_url, backend=None, set_as_current=False)
    app.conf.update(
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=JOBS_QUEUE,
        task_routes={"storyreel.drain_inbox": {"queue": UPDATES_QUEUE},
                     "storyreel.handle_update": {"queue": UPDATES_QUEUE}},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
        # nothing is lost with a worker: a task is acknowledged only when it has run,
        # a worker that dies hands its tasks back, and the broker redelivers an unacked task
        # after the visibility timeout (longer than any one step). Jobs do not wait for that:
        # ``recover`` restarts a dead worker's jobs as soon as their lock has lapsed.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # short, so a message a dead worker took (a button press!) is handed out again in
        # minutes, not hours. A step that runs longer is handed out again too, and finds
        # its job locked: it leaves a note and ends (``bot.jobs.run_step``); harmless.
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_seconds,
            # look for such messages often enough (kombu's default: about every 100 s)
            "unacked_restore_interval": max(1.0, settings.broker_visibility_seconds / 4),
            "unacked_restore_throttle": 1,
        },
        beat_schedule={
            "cleanup-hourly": {"task": "storyreel.cleanup", "schedule": 3600.0, "options": {"queue": JOBS_QUEUE}},
            "recover-jobs": {"task": "storyreel.recover", "schedule": settings.recover_seconds,
                             "options": {"queue": JOBS_QUEUE, "expires": settings.recover_seconds}},
        },
    )
    return app


_app: Celery | None = None
_services = None
_box: Inbox | None = None
_lock = threading.Lock()


def get_app() -> Celery:
    """This process's Celery app, made from the settings on first use."""
    global _app
    with _lock:
        if _app is None:
            _app = create_celery(get_settings())
            _app.set_current()
        return _app


class CeleryDispatcher:
    """``bot.services.Dispatcher`` on Celery tasks."""

    def start_step(self, job_id: str) -> None:
        get_app().tasks["storyreel.advance_job"].apply_async(args=[job_id], queue=JOBS_QUEUE)


def services():
    """This process's bot parts (built on first use: after the fork, never before)."""
    global _services
    with _lock:
        if _services is None:
            from .bot.services import Services

            _services = Services(get_settings(), CeleryDispatcher())
        return _services


def close_services() -> None:
    """Release this process's providers and connections (at shutdown)."""
    global _services, _box
    with _lock:
        _box = None
        if _services is not None:
            _services.close()
            _services = None


@worker_process_init.connect
def _init_logging(**_kw) -> None:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _guard_logs(logger=None, **_kw) -> None:
    guard_stdlib_logging()
    if logger is not None:
        from .log import SecretFilter

        for handler in logger.handlers:
            handler.addFilter(SecretFilter())


def _inbox() -> Inbox:
    """The inboxes, on this process's Redis connection pool."""
    global _box
    s = services()
    with _lock:
        if _box is None or _box.redis is not s.redis:
            _box = Inbox(s.redis)
        return _box


@shared_task(name="storyreel.drain_inbox")
def drain_inbox(chat: str) -> None:
    """Handle a chat's waiting updates in order, unless another worker is at it."""
    from .bot.handlers import handle_update as handle
    from .bot.jobs import SHUTTING_DOWN

    s = services()
    finished = _inbox().drain(chat, lambda update: handle(s, update), lease=s.settings.job_lock_seconds,
                              stop=SHUTTING_DOWN.is_set)
    if not finished:  # a warm shutdown with updates still waiting: another worker goes on
        enqueuer(get_app())(chat)


@shared_task(name="storyreel.handle_update")
def handle_update(update: dict) -> None:
    """One update as a web process of an earlier release queued it: through the inbox
    like the rest (so a deploy loses none in flight)."""
    put = _inbox().put(update)
    if put.ask:
        drain_inbox(put.key)


@shared_task(name="storyreel.advance_job")
def advance_job(job_id: str) -> None:
    """Run a job as far as it goes without a person."""
    from .bot.jobs import run_step

    run_step(services(), job_id)


@shared_task(name="storyreel.recover")
def recover(grace: float | None = None) -> list[str]:
    """Every ``RECOVER_SECONDS`` (beat) and at each worker's start: ask for the drain of
    every chat whose updates wait with nobody draining them (waiting longer than
    ``grace`` seconds; at a worker's start, any), cancel the jobs whose approval is past its
    deadline, and restart the jobs whose worker died mid-step (their lock lapsed); each
    goes on from its recorded state, and paid tasks are polled, not created again."""
    from .bot.jobs import overdue_approvals
    from .bot.state import orphaned_jobs

    s = services()
    drain = enqueuer(get_app())
    for chat in _inbox().stalled(STALL_SECONDS if grace is None else grace):
        log.warning("inbox_recovered", chat=chat)
        drain(chat)
    overdue_approvals(s)
    orphans = orphaned_jobs(s.redis)
    for job_id in orphans:
        log.warning("job_recovered", job_id=job_id)
        job = s.store.load(job_id)
        if job is not None:
            job.history.append({"at": round(time.time(), 3), "event": "job_recovered", "status": job.status.value})
            s.store.save(job)
        s.dispatcher.start_step(job_id)
    return orphans


@worker_ready.connect
def _recover_on_start(**_kw) -> None:
    # a worker that starts after another died picks its jobs and chats up at once (beat's
    # sweep catches the locks that lapse later)
    get_app().tasks["storyreel.recover"].apply_async(kwargs={"grace": 0}, queue=JOBS_QUEUE)


@worker_shutdown.connect
@worker_process_shutdown.connect
def _close(**_kw) -> None:
    close_services()


@worker_shutting_down.connect
def _stop_steps(**_kw) -> None:
    # warm shutdown: running steps stop at their next safe point and hand their job back
    from .bot.jobs import SHUTTING_DOWN

    SHUTTING_DOWN.set()


@shared_task(name="storyreel.cleanup")
def cleanup() -> int:
    """Delete job folders older than JOB_MAX_AGE_HOURS left behind by crashes."""
    from .media.files import FileManager

    settings = get_settings()
    removed = FileManager(settings.work_dir).cleanup_old(settings.job_max_age_hours * 3600)
    log.info("cleanup_done", removed=len(removed))
    return len(removed)


def enqueuer(app: Celery) -> Callable[[str], None]:
    """How the webhook asks the workers, through ``app``, to drain a chat whose update it
    has put into the inbox (must be fast).

    No publish retry: when the broker is down the webhook answers 503 and Telegram, the
    one layer that retries a delivery, sends the update again (and ``recover`` drains the
    chat meanwhile). The message carries the chat's key, never an update's text.
    """
    task = app.tasks["storyreel.drain_inbox"]

    def enqueue(chat: str) -> None:
        task.apply_async(args=[chat], queue=UPDATES_QUEUE, retry=False, argsrepr=f"[{chat}]", kwargsrepr="{}")

    return enqueue


def enqueue_update(update: dict) -> None:
    """Hand an update to the workers through this process's app (the poller's way): into
    its chat's inbox, then a drain of the chat, as the webhook does."""
    put = _inbox().put(update)
    if put.ask:
        try:
            enqueuer(get_app())(put.key)
        except Exception:
            _inbox().unask(put.key)  # getUpdates gives the update again: that asks again
            raise
