"""``storyreel make``: a video made on this machine, and the checks of its input.

A thin shell: it validates the input (the per-video choices included: style, narrator,
reference picture, length…), builds the settings, the providers and the pipeline, and
answers the three approvals in the terminal (or ``--yes``), where the script may be
edited and pictures and clips redone. Everything is checked before a job folder exists,
so bad input leaves nothing behind. The job folder is in the user's cache folder
(``command_line_work_dir``), never in the folder the command runs in: a run leaves the
video and its ``.srt`` and nothing else. Every failure ends as one line on stderr and a
non-zero exit: 2 for bad input or configuration, 1 for a failed or cancelled job, 130 for
Ctrl-C or SIGTERM (after the job's files are deleted).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click
import structlog

from ..errors import JobCancelled, MediaError, StoryReelError
from ..log import configure_logging
from ..media.ffmpeg import ffmpeg_binary
from ..media.files import FileManager, atomic_path
from ..media.probe import probe
from ..messages import message, message_for
from ..models import Job, JobOptions
from ..pipeline.admission import default_options
from ..pipeline.choices import FIRST, OFF, USER
from ..pipeline.edits import Edit, accept
from ..pipeline.runner import Pipeline
from ..pipeline.stages import Outcome
from ..settings import Settings
from .exits import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, CommandFailed, exit_with, failure_for
from .startup import check_models, command_line_work_dir, load_settings
from .terminal import BarProgress, TerminalGate

#: the most segments a video may have (as ``--segments`` allows)
MAX_SEGMENTS = 500


@click.command("make")
@click.argument("prompt", required=False, default="")
@click.option("--yes", "-y", is_flag=True, help="Approve the script, pictures and clips without asking.")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Where to write the video (.mp4).")
@click.option("--segments", type=click.IntRange(1, MAX_SEGMENTS), help="Number of segments (default 48).")
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
@click.option("--length", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
              help="Length of the video: segments = length / seconds per segment (instead of --segments).")
@click.option("--style", "visual_style", metavar="NAME", help="Visual style of the pictures (VISUAL_STYLES).")
@click.option("--narrator", metavar="VOICE", help="The narrator's voice (one of the speech provider's voices).")
@click.option("--narration-style", metavar="NAME", help="How the narrator sounds (NARRATION_STYLES).")
@click.option("--no-music", is_flag=True, help="No background music (not even from MUSIC_DIR).")
@click.option("--reference", metavar="off|first|PATH",
              help="Style and character reference for the pictures: none, picture 1, or your own picture.")
@click.option("--fast-pictures", is_flag=True, default=None,
              help="The cheaper picture model (follows the reference picture).")
@click.option("--motion-budget", type=click.IntRange(min=0), metavar="N",
              help="Animate only the N most visual segments; the rest pan and zoom (0: all).")
@click.option("--verbose", "-v", is_flag=True, help="Log every step to stderr.")
def make_cmd(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution, music,
             subtitles, providers_spec, length, visual_style, narrator, narration_style, no_music, reference,
             fast_pictures, motion_budget, verbose):
    """Make a video from PROMPT (or from --script FILE)."""
    started = time.perf_counter()
    # SIGTERM (a closed terminal, `kill`, a supervisor) cleans up exactly like Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    choices = Choices(length=length, visual_style=visual_style, narrator=narrator, narration_style=narration_style,
                      no_music=no_music, reference=reference, fast_pictures=fast_pictures,
                      motion_budget=motion_budget)
    try:
        code = _make(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution,
                     music, subtitles, providers_spec, verbose, started, choices)
    except CommandFailed as failure:
        exit_with(failure)
    except KeyboardInterrupt:  # before the job began: nothing to clean up
        click.echo("storyreel: interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception:  # a bug of ours: the user gets one line, the log (-v) the traceback
        structlog.get_logger(__name__).exception("unexpected_error")
        click.echo(f"storyreel: {message('internal')}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(code)


def _make(prompt, yes, out, segments, seconds, script_file, voice_file, lang, aspect, resolution, music,
          subtitles, providers_spec, verbose, started, choices: Choices) -> int:
    if choices.length is not None and segments is not None:
        raise CommandFailed("--length and --segments both set the video's length: use one of them", EXIT_INPUT)
    if choices.no_music and music is not None:
        raise CommandFailed("--music and --no-music contradict each other: use one of them", EXIT_INPUT)
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
    options = _job_options(settings, choices)
    segment_count = _segments_for(choices.length, settings.segment_seconds) if choices.length else None
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
    if choices.narrator is not None:
        options.voice = _check_narrator(providers, choices.narrator)
    if voice_file is not None:
        prompt, lang = _transcribe(providers, voice_file, lang)
    files = FileManager(settings.work_dir)
    progress = BarProgress()
    interrupted = threading.Event()

    def check_edit(job: Job, edit: Edit) -> float:
        """An edit asked at a gate, refused past the job's limits or over a cost cap."""
        return accept(pipeline.settings, pipeline.providers, pipeline.spending, job, edit,
                      queued=pipeline.flow.pending_edits(job))

    pipeline = Pipeline(settings, providers, files=files,
                        gate=TerminalGate(files, progress, assume_yes=yes, check=check_edit), progress=progress,
                        cancelled=interrupted.is_set)
    try:
        language = lang or detect_language(script_text or prompt, settings.default_language)
        job = pipeline.new_job(prompt, language=language, segment_count=segment_count, options=options,
                               music_path=str(music_path) if music_path else None)
    except StoryReelError as exc:
        raise failure_for(exc) from None
    out_path = out_path or _check_output(Path(f"storyreel-{job.job_id[:8]}.mp4"))
    def stop(signum, frame) -> None:
        # Ctrl-C or SIGTERM sets the job's cancel flag: the pipeline stops at its next
        # check and deletes the job's files. Raising here instead could land while a
        # progress bar holds its lock, and the clean-up would wait for it for ever.
        if interrupted.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        interrupted.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = pipeline.run(job, _deliver_to(out_path), script_text=script_text)
    except KeyboardInterrupt:
        interrupted.set()
        progress.close()
        click.echo("storyreel: interrupted; the job's files were deleted.", err=True)
        return EXIT_INTERRUPTED
    except JobCancelled:
        progress.close()
        if interrupted.is_set():
            click.echo("storyreel: interrupted; the job's files were deleted.", err=True)
            return EXIT_INTERRUPTED
        click.echo(f"storyreel: {message('cancelled')}", err=True)
        return EXIT_FAILED
    except StoryReelError as exc:
        progress.close()
        raise failure_for(exc) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
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


@dataclass(frozen=True)
class Choices:
    """The flags for this video's choices (``None``: the settings' default)."""

    length: float | None = None
    visual_style: str | None = None
    narrator: str | None = None
    narration_style: str | None = None
    no_music: bool = False
    reference: str | None = None
    fast_pictures: bool | None = None
    motion_budget: int | None = None


def _job_options(settings: Settings, choices: Choices) -> JobOptions:
    """The settings' defaults with the flags applied; a bad value is one line (exit 2)."""
    options = default_options(settings)
    if choices.visual_style is not None:
        options.visual_style = _one_of("style", choices.visual_style, settings.visual_styles)
    if choices.narration_style is not None:
        options.narration_style = _one_of("narration style", choices.narration_style, settings.narration_styles)
    if choices.no_music:
        options.music = False
    if choices.reference is not None:
        if choices.reference.strip().lower() in (OFF, FIRST):
            options.reference, options.reference_image = choices.reference.strip().lower(), None
        else:
            options.reference, options.reference_image = USER, str(_check_picture(Path(choices.reference)))
    if choices.fast_pictures is not None:
        options.fast_pictures = choices.fast_pictures
    if choices.motion_budget is not None:
        options.motion_budget = choices.motion_budget
    return options


def _one_of(what: str, name: str, known) -> str:
    if name in known:
        return name
    listed = ", ".join(sorted(known)) or "none are set"
    raise CommandFailed(f"unknown {what} {name!r}; the {what}s are: {listed}", EXIT_INPUT)


def _check_narrator(providers, voice: str) -> str:
    """``voice`` when the narrator has it (its voices are named in the error otherwise)."""
    voices = tuple(getattr(providers.speech, "voices", ()) or ())
    if voice not in voices:
        listed = ", ".join(voices) or "this narrator has no voices to choose from"
        raise CommandFailed(f"unknown narrator voice {voice!r}; the voices are: {listed}", EXIT_INPUT)
    return voice


def _segments_for(length: float, segment_seconds: float) -> int:
    """How many segments make a video of ``length`` seconds (at least one)."""
    count = max(1, round(length / segment_seconds))
    if count > MAX_SEGMENTS:
        raise CommandFailed(f"--length {length:g} makes {count} segments of {segment_seconds:g} s; "
                            f"at most {MAX_SEGMENTS} are allowed", EXIT_INPUT)
    return count


def _check_picture(path: Path) -> Path:
    """The reference picture, as an absolute path, when Pillow can read it."""
    from PIL import Image, UnidentifiedImageError

    path = path.expanduser()
    try:
        with Image.open(path) as img:
            img.verify()
    except UnidentifiedImageError:
        raise CommandFailed(f"the reference picture {path} cannot be used: it is not a picture", EXIT_INPUT) from None
    except OSError as exc:
        raise CommandFailed(f"the reference picture {path} cannot be used: {exc.strerror or 'cannot read it'}",
                            EXIT_INPUT) from None
    except Exception:  # a truncated or corrupt file: Pillow's own errors vary by format
        raise CommandFailed(f"the reference picture {path} cannot be used: it is damaged", EXIT_INPUT) from None
    return path.resolve()


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
