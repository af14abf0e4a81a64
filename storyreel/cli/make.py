"""``storyreel make``: a video made on this machine, and the checks of its input.

A thin shell: it validates the input, builds the settings, the providers and the
pipeline, and answers the three approvals in the terminal (or ``--yes``). Everything is
checked before a job folder exists, so bad input leaves nothing behind. The job folder
is in the user's cache folder (``command_line_work_dir``), never in the folder the
command runs in: a run leaves the video and its ``.srt`` and nothing else. Every failure
ends as one line on stderr and a non-zero exit: 2 for bad input or configuration, 1 for a
failed or cancelled job, 130 for Ctrl-C or SIGTERM (after the job's files are deleted).
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

from ..errors import JobCancelled, MediaError, StoryReelError
from ..log import configure_logging
from ..media.ffmpeg import ffmpeg_binary
from ..media.files import FileManager, atomic_path
from ..media.probe import probe
from ..messages import message, message_for
from ..models import Job
from ..pipeline.runner import Pipeline
from ..pipeline.stages import Outcome
from .exits import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, CommandFailed, exit_with, failure_for
from .startup import check_models, command_line_work_dir, load_settings
from .terminal import BarProgress, TerminalGate


@click.command("make")
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
def make_cmd(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution, music,
             subtitles, providers_spec, verbose):
    """Make a video from PROMPT (or from --script FILE)."""
    started = time.perf_counter()
    # SIGTERM (a closed terminal, `kill`, a supervisor) cleans up exactly like Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = _make(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution,
                     music, subtitles, providers_spec, verbose, started)
    except CommandFailed as failure:
        exit_with(failure)
    except Exception:  # a bug of ours: the user gets one line, the log (-v) the traceback
        structlog.get_logger(__name__).exception("unexpected_error")
        click.echo(f"storyreel: {message('internal')}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(code)


def _make(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution, music,
          subtitles, providers_spec, verbose, started) -> int:
    settings = load_settings(segment_count=segments, segment_seconds=seconds, aspect=aspect,
                             video_short_side=resolution, burn_subtitles=subtitles, providers=providers_spec)
    # job folders (and the free-disk check) in the user's cache, not where the command runs
    settings = settings.model_copy(update={"work_dir": command_line_work_dir(settings)})
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
        raise CommandFailed(message_for(exc), EXIT_INPUT) from None

    from ..lang import detect_language
    from ..providers.factory import build_providers

    # a model past its shutdown date refuses the job before anything is paid (voice included)
    from ..providers.model_guard import FileLookupCache, user_cache_file

    check_models(settings, FileLookupCache(user_cache_file()), echo=True)
    try:
        providers = build_providers(settings)
    except StoryReelError as exc:
        raise failure_for(exc) from None
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
        raise failure_for(exc) from None
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
        raise failure_for(exc) from None
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


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _check_output(out: Path) -> Path:
    out = out.expanduser()
    if out.suffix.lower() != ".mp4":
        raise CommandFailed(message("output_unwritable", path=out, reason="the file name must end in .mp4"),
                            EXIT_INPUT)
    if out.is_dir():
        raise CommandFailed(message("output_unwritable", path=out, reason="it is a folder"), EXIT_INPUT)
    parent = out.resolve().parent
    if not parent.is_dir():
        raise CommandFailed(message("output_unwritable", path=out, reason="its folder does not exist"), EXIT_INPUT)
    try:  # a real write beside the target: permission bits alone mislead (root, read-only mounts)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".storyreel-probe-"):
            pass
    except OSError as exc:
        raise CommandFailed(message("output_unwritable", path=out, reason=exc.strerror or "cannot write"),
                            EXIT_INPUT) from None
    if out.exists() and not os.access(out, os.W_OK):
        raise CommandFailed(message("output_unwritable", path=out, reason="permission denied"), EXIT_INPUT)
    return out


def _read_script(path: Path) -> str:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CommandFailed(message("script_unreadable", reason="it is not UTF-8 text"), EXIT_INPUT) from None
    except OSError as exc:
        raise CommandFailed(message("script_unreadable", reason=exc.strerror or type(exc).__name__),
                            EXIT_INPUT) from None
    if not text.strip():
        raise CommandFailed(message("script_empty"), EXIT_INPUT)
    return text


def _check_music(path: Path) -> Path:
    try:
        info = probe(path.expanduser())
    except (MediaError, OSError) as exc:
        reason = "not an audio file" if isinstance(exc, MediaError) else (exc.strerror or "cannot open")
        raise CommandFailed(message("music_unreadable", reason=reason), EXIT_INPUT) from None
    if not info.has_audio:
        raise CommandFailed(message("music_unreadable", reason="it has no audio"), EXIT_INPUT)
    return path.expanduser().resolve()


def _transcribe(providers, voice_file: Path, lang: str | None) -> tuple[str, str | None]:
    """The voice note's words become the prompt; the user sees what was heard."""
    if not voice_file.expanduser().is_file():
        raise CommandFailed(message("audio_unreadable"), EXIT_INPUT)
    try:
        transcript = providers.transcriber.transcribe(voice_file.expanduser(), language=lang)
    except StoryReelError as exc:
        raise failure_for(exc) from None
    click.echo(f"I heard: {transcript.text}", err=True)
    return transcript.text, lang or transcript.language


def _deliver_to(out: Path):
    """The pipeline's delivery step: the video (and its .srt) copied to ``out``, each
    written whole or not at all."""
    def deliver(job: Job, outcome: Outcome) -> None:
        with atomic_path(out) as tmp:
            shutil.copyfile(outcome.video, tmp)
        if outcome.subtitles is not None:
            with atomic_path(out.with_suffix(".srt")) as tmp:
                shutil.copyfile(outcome.subtitles, tmp)

    return deliver
