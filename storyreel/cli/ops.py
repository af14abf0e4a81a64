"""The operator's commands: ``storyreel job ID`` (one job's whole history), ``jobs``
(the bot's jobs in progress) and ``cleanup`` (job folders left by crashed runs)."""

from __future__ import annotations

import time

import click

from .. import redis_keys
from ..errors import StoryReelError
from ..media.files import FileManager
from ..messages import message, message_for
from ..models import Job
from ..settings import Settings
from .exits import EXIT_INPUT, CommandFailed, one_line_errors
from .startup import command_line_work_dir, load_settings, service_settings


@click.command("job")
@click.argument("job_id")
@one_line_errors
def job_cmd(job_id):
    """A job's whole history: stages, approvals, provider calls, costs, errors."""
    settings = load_settings()
    job = _load_job(settings, job_id)
    if job is None:
        raise CommandFailed(message("bad_job_id"), EXIT_INPUT)
    click.echo(f"job {job.job_id}  status {job.status.value}  user {job.user_id}  language {job.language}")
    click.echo(f"prompt: {job.prompt}")
    click.echo(f"video: {job.segment_count} × {job.segment_seconds:g} s {job.aspect.value}   "
               f"estimate ${job.estimate or 0:.2f}   spent ${job.cost:.2f}"
               + (f"   error {job.error}" if job.error else ""))
    pictures = sum(1 for s in job.segments if s.picture_path)
    clips = sum(1 for s in job.segments if s.clip_path)
    click.echo(f"segments: {pictures}/{job.segment_count} pictures, {clips}/{job.segment_count} clips")
    rows = [(h["at"], h["event"], {k: v for k, v in h.items() if k not in ("at", "event")}) for h in job.history]
    rows += [(c.get("at", 0), "provider_call", {k: v for k, v in c.items() if k != "at"}) for c in job.costs]
    for at, event, fields in sorted(rows, key=lambda r: r[0]):
        stamp = time.strftime("%H:%M:%S", time.gmtime(at)) + f".{int(at * 10) % 10}" if at else "--:--:--"
        detail = "  ".join(f"{k}={v}" for k, v in fields.items())
        click.echo(f"  {stamp}  {event:<22} {detail}")


@click.command("jobs")
@one_line_errors
def jobs_cmd():
    """The jobs in progress (the bot's, from Redis)."""
    settings = service_settings(redis=True)
    from ..bot.state import RedisJobStore, connect

    redis = connect(settings)
    for line in _model_warnings(settings, redis):
        click.echo(f"warning: {line}")
    store = RedisJobStore(redis)
    active = []
    for key in redis.scan_iter(redis_keys.JOB_PATTERN):
        job = store.load(key.rsplit(":", 1)[-1])
        if job and not job.status.finished:
            active.append(job)
    if not active:
        click.echo("no jobs in progress")
        return
    for job in sorted(active, key=lambda j: j.created_at):
        age = (time.time() - job.created_at) / 60
        pictures = sum(1 for s in job.segments if s.picture_path)
        clips = sum(1 for s in job.segments if s.clip_path)
        click.echo(f"{job.job_id}  user {job.user_id}  {job.status.value:<28} {age:5.1f} min  "
                   f"pictures {pictures}/{job.segment_count}  clips {clips}/{job.segment_count}  ${job.cost:.2f}")


@click.command()
@click.option("--max-age-hours", type=float, help="Delete job folders older than this (default: the setting).")
@one_line_errors
def cleanup(max_age_hours):
    """Delete job folders left behind by crashed runs."""
    settings = load_settings()
    age = (max_age_hours if max_age_hours is not None else settings.job_max_age_hours) * 3600
    removed = FileManager(command_line_work_dir(settings)).cleanup_old(age)
    click.echo(f"deleted {len(removed)} job folder(s)")


def _model_warnings(settings: Settings, redis) -> list[str]:
    """The model problems an operator should see (the lines /health shows)."""
    from ..providers.model_guard import ModelGuard, RedisLookupCache

    try:
        return [s.line for s in ModelGuard(settings, cache=RedisLookupCache(redis)).check() if s.problem]
    except StoryReelError as exc:
        return [message_for(exc)]


def _load_job(settings: Settings, job_id: str) -> Job | None:
    """A job from the bot's Redis store, else from a local job folder (the CLI's)."""
    from ..media.files import JOB_ID_PATTERN

    if not JOB_ID_PATTERN.match(job_id):
        return None
    import redis as redis_lib

    from ..bot.state import RedisJobStore, connect

    try:
        job = RedisJobStore(connect(settings)).load(job_id)
        if job is not None:
            return job
    except redis_lib.RedisError:  # no Redis here: the local store may still know the job
        pass
    from ..pipeline.store import LocalJobStore

    return LocalJobStore(FileManager(command_line_work_dir(settings))).load(job_id)
