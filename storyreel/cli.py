"""The command line (R33): ``storyreel make "prompt"`` makes a video on this machine.

A thin shell: it validates the input, builds the settings, the providers and the
pipeline, and answers the three approvals in the terminal (or ``--yes``). Every
failure ends as one line on stderr and a non-zero exit: 2 for bad input or
configuration, 1 for a failed or cancelled job, 130 for Ctrl-C or SIGTERM (after the
job's files are deleted).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
import structlog
from pydantic import SecretStr, ValidationError
from tqdm import tqdm

from .errors import ConfigError, InputError, JobCancelled, MediaError, NotAvailableOffline, StoryReelError
from .log import configure_logging
from .media.ffmpeg import ffmpeg_binary
from .media.files import FileManager, atomic_path
from .media.probe import probe
from .messages import message, message_for
from .models import Job
from .pipeline.approvals import Preview
from .pipeline.stages import Outcome, Pipeline
from .settings import Settings

EXIT_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class _Fail(Exception):
    def __init__(self, text: str, code: int) -> None:
        super().__init__(text)
        self.text, self.exit_code = text, code


def _fail(error: BaseException) -> _Fail:
    code = EXIT_INPUT if isinstance(error, (InputError, ConfigError, NotAvailableOffline)) else EXIT_FAILED
    return _Fail(message_for(error, "en"), code)


class TerminalGate:
    """Asks the three approvals on the terminal; end of input counts as "no"."""

    def __init__(self, files: FileManager, progress: "BarProgress", assume_yes: bool = False) -> None:
        self.files, self.progress, self.assume_yes = files, progress, assume_yes

    def ask(self, job: Job, preview: Preview) -> bool:
        if self.assume_yes and preview.kind != "script":
            return True  # nobody is looking: no contact sheet, no paths that are about to vanish
        self.progress.pause()  # the question goes below the bars, not inside them
        try:
            return self._ask(job, preview)
        finally:
            self.progress.resume()

    def _ask(self, job: Job, preview: Preview) -> bool:
        if preview.kind == "script":
            script = preview.script
            click.echo(f"\nScript ({script.language}{', draft' if script.draft else ''}): {script.title}", err=True)
            for seg in script.segments:
                click.echo(f"  [{_clock(seg.start)}–{_clock(seg.end)}] {seg.text or '(pause)'}", err=True)
            for note in script.warnings:
                click.echo(f"  note: {note}", err=True)
            if preview.cost:
                click.echo(f"  estimated cost: ${preview.cost:.2f}", err=True)
            question = "Approve the script?"
        elif self.assume_yes:
            return True  # nobody is looking: no contact sheet, no paths that are about to vanish
        elif preview.kind == "pictures":
            from .providers.local.pictures import contact_sheet

            sheet = contact_sheet(preview.files, self.files.path(job.job_id, "preview_pictures.png"))
            click.echo(f"\nFirst {len(preview.files)} pictures: {sheet}", err=True)
            question = "Approve the pictures?"
        else:
            click.echo(f"\nFirst {len(preview.files)} clips:", err=True)
            for path in preview.files:
                click.echo(f"  {path}", err=True)
            question = "Approve the clips?"
        sys.stderr.flush()
        if self.assume_yes:
            return True
        try:
            return click.confirm(question, default=False, err=True)
        except click.Abort:
            return False


class BarProgress:
    """A tqdm bar per stage on stderr (pictures, clips and narration run side by side).
    While a question is on the terminal the bars keep counting but do not draw."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}
        self._counts: dict[str, tuple[int, int]] = {}
        self._paused = False
        self._lock = threading.Lock()

    def stage(self, job: Job, stage: str, total: int) -> None:
        self.advance(job, stage, 0, total)

    def advance(self, job: Job, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._counts[stage] = (max(done, self._counts.get(stage, (0, 0))[0]), total)
            if self._paused:
                return
            bar = self._bars.get(stage)
            if bar is None:
                bar = self._bars[stage] = tqdm(total=total, desc=f"{stage:<10}", unit="seg", file=sys.stderr,
                                               position=len(self._bars), leave=True, dynamic_ncols=True,
                                               mininterval=0.2)
            bar.n = self._counts[stage][0]
            bar.refresh()

    def pause(self) -> None:
        """Close the bars (their counts are kept) so a question can be read."""
        with self._lock:
            self._paused = True
            self._close()

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"


def _settings(**overrides) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        name = ".".join(str(p) for p in first["loc"]).upper()
        raise _Fail(f"invalid setting {name}: {reason}" if name else f"invalid settings: {reason}",
                    EXIT_INPUT) from None


def _check_output(out: Path) -> Path:
    out = out.expanduser()
    if out.suffix.lower() != ".mp4":
        raise _Fail(message("output_unwritable", path=out, reason="the file name must end in .mp4"), EXIT_INPUT)
    if out.is_dir():
        raise _Fail(message("output_unwritable", path=out, reason="it is a folder"), EXIT_INPUT)
    parent = out.resolve().parent
    if not parent.is_dir():
        raise _Fail(message("output_unwritable", path=out, reason="its folder does not exist"), EXIT_INPUT)
    try:  # a real write beside the target: permission bits alone mislead (root, read-only mounts)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".storyreel-probe-"):
            pass
    except OSError as exc:
        raise _Fail(message("output_unwritable", path=out, reason=exc.strerror or "cannot write"), EXIT_INPUT) from None
    if out.exists() and not os.access(out, os.W_OK):
        raise _Fail(message("output_unwritable", path=out, reason="permission denied"), EXIT_INPUT)
    return out


def _read_script(path: Path) -> str:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _Fail(message("script_unreadable", reason="it is not UTF-8 text"), EXIT_INPUT) from None
    except OSError as exc:
        raise _Fail(message("script_unreadable", reason=exc.strerror or type(exc).__name__), EXIT_INPUT) from None
    if not text.strip():
        raise _Fail(message("script_empty"), EXIT_INPUT)
    return text


def _check_music(path: Path) -> Path:
    try:
        info = probe(path.expanduser())
    except (MediaError, OSError) as exc:
        reason = "not an audio file" if isinstance(exc, MediaError) else (exc.strerror or "cannot open")
        raise _Fail(message("music_unreadable", reason=reason), EXIT_INPUT) from None
    if not info.has_audio:
        raise _Fail(message("music_unreadable", reason="it has no audio"), EXIT_INPUT)
    return path.expanduser().resolve()


def _transcribe(providers, voice_file: Path, lang: str | None) -> tuple[str, str | None]:
    """The voice note's words become the prompt; the user sees what was heard (R4)."""
    if not voice_file.expanduser().is_file():
        raise _Fail(message("audio_unreadable"), EXIT_INPUT)
    try:
        transcript = providers.transcriber.transcribe(voice_file.expanduser(), language=lang)
    except StoryReelError as exc:
        raise _fail(exc) from None
    click.echo(f"I heard: {transcript.text}", err=True)
    return transcript.text, lang or transcript.language


def _deliver_to(out: Path):
    def deliver(job: Job, outcome: Outcome) -> None:
        with atomic_path(out) as tmp:
            shutil.copyfile(outcome.video, tmp)
        if outcome.subtitles is not None:
            with atomic_path(out.with_suffix(".srt")) as tmp:
                shutil.copyfile(outcome.subtitles, tmp)

    return deliver


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="storyreel")
def main() -> None:
    """StoryReel: a prompt becomes a narrated video."""


@main.command()
@click.argument("prompt", required=False, default="")
@click.option("--yes", "-y", is_flag=True, help="Approve the script, pictures and clips without asking.")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Where to write the video (.mp4).")
@click.option("--segments", type=click.IntRange(1, 500), help="Number of segments (default 48).")
@click.option("--seconds", type=click.FloatRange(0.5, 60), help="Seconds per segment (default 5).")
@click.option("--script", "script_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Use this script (UTF-8 text) instead of writing one.")
@click.option("--voice", "voice_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Use the words spoken in this audio file (e.g. a voice note) as the prompt.")
@click.option("--lang", type=click.Choice(["ru", "en"]), help="Language of the script and narration.")
@click.option("--aspect", type=click.Choice(["16:9", "9:16", "1:1"]), help="Shape of the video.")
@click.option("--resolution", type=click.IntRange(90, 2160), help="Short side in pixels (720 → 1280×720).")
@click.option("--music", type=click.Path(path_type=Path, dir_okay=False), help="Background music, ducked under the voice.")
@click.option("--subtitles", is_flag=True, default=None, help="Burn subtitles into the picture (an .srt is always written).")
@click.option("--providers", "providers_spec", metavar="STAGE=NAME,…",
              help="Provider per stage, e.g. pictures=runway,motion=local (default: cloud when its key is set).")
@click.option("--verbose", "-v", is_flag=True, help="Log every step to stderr.")
def make(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution, music, subtitles,
         providers_spec, verbose):
    """Make a video from PROMPT (or from --script FILE)."""
    started = time.perf_counter()
    # SIGTERM (a closed terminal, `kill`, a supervisor) cleans up exactly like Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = _make(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution,
                     music, subtitles, providers_spec, verbose, started)
    except _Fail as fail:
        click.echo(f"storyreel: {fail.text}", err=True)
        sys.exit(fail.exit_code)
    except Exception:  # a bug of ours: the user gets one line, the log (-v) the traceback
        structlog.get_logger(__name__).exception("unexpected_error")
        click.echo(f"storyreel: {message('internal')}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(code)


def _make(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution, music,
          subtitles, providers_spec, verbose, started) -> int:
    settings = _settings(segment_count=segments, segment_seconds=seconds, aspect=aspect,
                         video_short_side=resolution, burn_subtitles=subtitles, providers=providers_spec)
    # the terminal shows the user's view (questions, bars, one-line errors); the event log
    # is for -v, so a failure never prints both a log record and its message
    configure_logging(settings.log_format, settings.log_level if verbose else "CRITICAL")
    # everything is checked before a job folder exists, so bad input leaves nothing behind
    script_text = _read_script(script_file) if script_file else None
    if not prompt.strip() and script_text:
        prompt = " ".join(script_text.split()[:12])
    out_path = _check_output(out) if out else None
    music_path = _check_music(music) if music else None
    try:
        ffmpeg_binary(settings.ffmpeg_binary)
    except MediaError as exc:
        raise _Fail(message_for(exc), EXIT_INPUT) from None

    from .lang import detect_language
    from .providers.factory import build_providers

    try:
        providers = build_providers(settings)
    except StoryReelError as exc:
        raise _fail(exc) from None
    if voice_file is not None:
        prompt, lang = _transcribe(providers, voice_file, lang)
    files = FileManager(settings.work_dir)
    progress = BarProgress()
    interrupted = threading.Event()
    pipeline = Pipeline(settings, providers, files=files,
                        gate=TerminalGate(files, progress, assume_yes=yes), progress=progress,
                        cancelled=interrupted.is_set)
    try:
        language = lang or detect_language(script_text or prompt, settings.default_language)
        job = pipeline.new_job(prompt, language=language,
                               music_path=str(music_path) if music_path else None)
    except StoryReelError as exc:
        raise _fail(exc) from None
    out_path = out_path or _check_output(Path(f"storyreel-{job.job_id[:8]}.mp4"))
    try:
        outcome = pipeline.run(job, _deliver_to(out_path), script_text=script_text)
    except KeyboardInterrupt:
        interrupted.set()
        progress.close()
        click.echo("storyreel: interrupted; the job's files were deleted.", err=True)
        return EXIT_INTERRUPTED
    except JobCancelled:
        progress.close()
        click.echo(f"storyreel: {message('cancelled')}", err=True)
        return EXIT_FAILED
    except StoryReelError as exc:
        progress.close()
        raise _fail(exc) from None
    progress.close()
    wall = time.perf_counter() - started
    click.echo(
        f"\nVideo:     {out_path.resolve()}\n"
        f"Subtitles: {out_path.with_suffix('.srt').resolve()}\n"
        f"Duration:  {outcome.duration:.1f} s   Size: {outcome.size / 1_048_576:.1f} MB   "
        f"Wall time: {wall:.1f} s   Cost: ${job.cost:.2f}",
        err=True,
    )
    click.echo(str(out_path.resolve()))
    return 0


def _service_settings(*required: str, redis: bool = False, ffmpeg: bool = False) -> Settings:
    """Settings for a long-running process: a missing required setting, an unreachable
    Redis or a missing FFmpeg stops it at once with one line naming what is wrong."""
    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    for name in required:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = settings.secret(value)
        if not value:
            raise _Fail(f"{name.upper()} is not set", EXIT_INPUT)
    if ffmpeg:
        try:
            ffmpeg_binary(settings.ffmpeg_binary)
        except MediaError as exc:
            raise _Fail(message_for(exc), EXIT_INPUT) from None
    if redis:
        import redis as redis_lib

        try:
            redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
        except (redis_lib.RedisError, ValueError) as exc:
            raise _Fail(f"REDIS_URL: cannot reach Redis at {_safe_url(settings.redis_url)} ({exc})", EXIT_INPUT) from None
    return settings


def _safe_url(url: str) -> str:
    """``url`` without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _service(fn):
    """Run a service command: ``_Fail`` and ``StoryReelError`` end as one line."""
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _Fail as fail:
            click.echo(f"storyreel: {fail.text}", err=True)
            sys.exit(fail.exit_code)
        except StoryReelError as exc:
            click.echo(f"storyreel: {message_for(exc)}", err=True)
            sys.exit(EXIT_INPUT if isinstance(exc, (ConfigError, InputError)) else EXIT_FAILED)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("PORT", 8000)), type=int, help="default: $PORT or 8000")
@click.option("--workers", default=2, show_default=True, type=int)
@_service
def web(host, port, workers):
    """The web process: Telegram's webhook and /health (gunicorn)."""
    _service_settings("telegram_webhook_secret", "telegram_bot_token", redis=True)
    argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", "8",
            "--timeout", "300", "--graceful-timeout", "30", "-b", f"{host}:{port}", "storyreel.web:create_app()"]
    os.execv(sys.executable, argv)


@main.command()
@click.option("--concurrency", "-c", type=int, help="steps at once (default: WORKER_CONCURRENCY)")
@_service
def worker(concurrency):
    """A Celery worker: updates and job steps."""
    settings = _service_settings("telegram_bot_token", "redis_url", redis=True, ffmpeg=True)
    from .worker import JOBS_QUEUE, UPDATES_QUEUE, celery_app

    celery_app.worker_main(["worker", "-P", "threads", "-c", str(concurrency or settings.worker_concurrency),
                            "-Q", f"{UPDATES_QUEUE},{JOBS_QUEUE}", "-l", settings.log_level.lower(),
                            "--without-gossip", "--without-mingle"])


@main.command()
@_service
def beat():
    """Celery beat: the hourly cleanup of job folders left by crashes."""
    settings = _service_settings("redis_url", redis=True)
    from .worker import celery_app

    schedule = Path(settings.work_dir).resolve().parent / "celerybeat-schedule"  # beside the work folder
    celery_app.start(["beat", "-l", settings.log_level.lower(), "-s", str(schedule)])


@main.command("set-webhook")
@_service
def set_webhook():
    """Register TELEGRAM_WEBHOOK_URL (with its secret) with Telegram."""
    settings = _service_settings("telegram_bot_token", "telegram_webhook_url", "telegram_webhook_secret")
    from .bot.client import TelegramClient

    client = TelegramClient(settings)
    try:
        client.set_webhook(settings.telegram_webhook_url, settings.secret(settings.telegram_webhook_secret))
    finally:
        client.close()
    click.echo(f"webhook set: {settings.telegram_webhook_url}")


@main.command()
@click.option("--polling", is_flag=True, required=True, help="Fetch updates with getUpdates (no public URL).")
@_service
def bot(polling):
    """The bot without a public URL: poll Telegram and hand updates to the workers
    (run `storyreel worker` beside it)."""
    settings = _service_settings("telegram_bot_token", "redis_url", redis=True)
    from .bot.client import TelegramClient
    from .worker import enqueue_update

    client = TelegramClient(settings)
    client.delete_webhook()  # getUpdates is refused while a webhook is set
    click.echo("polling for updates; Ctrl-C stops", err=True)
    offset = None
    try:
        while True:
            for update in client.get_updates(offset, timeout=25):
                enqueue_update(update)
                offset = update["update_id"] + 1
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


@main.command("job")
@click.argument("job_id")
@_service
def job_cmd(job_id):
    """A job's whole history: stages, approvals, provider calls, costs, errors."""
    settings = _settings()
    job = _load_job(settings, job_id)
    if job is None:
        raise _Fail(message("bad_job_id"), EXIT_INPUT)
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


@main.command("jobs")
@_service
def jobs_cmd():
    """The jobs in progress (the bot's, from Redis)."""
    settings = _service_settings(redis=True)
    from .bot.state import RedisJobStore, connect
    from .models import JobStatus

    redis = connect(settings)
    store = RedisJobStore(redis)
    active = []
    for key in redis.scan_iter("storyreel:job:*"):
        job = store.load(key.rsplit(":", 1)[-1])
        if job and job.status not in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED):
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


def _load_job(settings: Settings, job_id: str) -> Job | None:
    """A job from the bot's Redis store, else from a local job folder (the CLI's)."""
    from .media.files import JOB_ID_PATTERN

    if not JOB_ID_PATTERN.match(job_id):
        return None
    import redis as redis_lib

    from .bot.state import RedisJobStore, connect

    try:
        job = RedisJobStore(connect(settings)).load(job_id)
        if job is not None:
            return job
    except redis_lib.RedisError:  # no Redis here: the local store may still know the job
        pass
    from .pipeline.store import LocalJobStore

    return LocalJobStore(FileManager(settings.work_dir)).load(job_id)


@main.command()
@click.option("--max-age-hours", type=float, help="Delete job folders older than this (default: the setting).")
def cleanup(max_age_hours):
    """Delete job folders left behind by crashed runs (R16)."""
    settings = _settings()
    age = (max_age_hours if max_age_hours is not None else settings.job_max_age_hours) * 3600
    removed = FileManager(settings.work_dir).cleanup_old(age)
    click.echo(f"deleted {len(removed)} job folder(s)")


if __name__ == "__main__":  # pragma: no cover
    main()
