"""The stages of a job, in order, each idempotent (R6–R16).

    script → [approve] → pictures → [approve] → clips → [approve] → narration → assembly
    → delivery → cleanup

Every stage first looks at what the job already has (its recorded state and the files
in its folder) and does only what is missing, so a stage that runs again — after a
retry, a crash or a resume — never pays twice for the same thing. Files appear only
when complete (``atomic_path``), so "the file exists" means "the step is done".

Retries: this module is the one layer that retries a failed segment, and only for
``TransientError`` (``settings.retries`` more attempts, waiting ``retry_after`` when the
provider gave one, else a capped exponential backoff with jitter). Providers do not
retry on their own beyond what their SDK does.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import structlog
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..errors import InputError, JobCancelled, MediaError, TransientError
from ..lang import detect_language
from ..media import fonts
from ..media.assemble import assemble, burn_filter, video_bitrate_for
from ..media.files import FileManager, atomic_path, new_job_id
from ..media.narration import RATE, build_narration, write_wav
from ..media.probe import audio_samples
from ..media.subtitles import Cue, write_srt
from ..models import Job, JobStatus, SegmentStatus, VideoFormat, VideoSegment
from ..providers.base import Providers
from ..settings import Settings
from .approvals import CLIP_PREVIEW, PICTURE_PREVIEW, AutoApprove, Gate, Preview
from .script import chunk_text, split_script
from .store import JobStore, LocalJobStore

log = structlog.get_logger(__name__)

AUDIO_EXTENSIONS = (".mp3", ".ogg", ".oga", ".wav", ".m4a", ".aac", ".flac", ".opus")


class Progress(Protocol):
    """Where stage and segment progress goes (a progress bar, a Telegram message…)."""

    def stage(self, job: Job, stage: str, total: int) -> None: ...

    def advance(self, job: Job, stage: str, done: int, total: int) -> None: ...


class NullProgress:
    def stage(self, job: Job, stage: str, total: int) -> None:
        pass

    def advance(self, job: Job, stage: str, done: int, total: int) -> None:
        pass


@dataclass
class Outcome:
    """The finished video, before delivery moves it away."""

    video: Path
    subtitles: Path | None
    duration: float
    size: int
    reencoded: bool
    warnings: list[str] = field(default_factory=list)


class Pipeline:
    """Runs a job's stages with the given providers; a shell (CLI, bot) supplies the gate,
    the progress sink, the cancellation check and the delivery."""

    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        *,
        files: FileManager | None = None,
        store: JobStore | None = None,
        gate: Gate | None = None,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.files = files or FileManager(settings.work_dir)
        self.store = store or LocalJobStore(self.files)
        self.gate = gate or AutoApprove()
        self.progress = progress or NullProgress()
        self.cancelled = cancelled

    # ---- jobs -------------------------------------------------------------------------
    def new_job(self, prompt: str, *, language: str | None = None, **fields) -> Job:
        """Validate ``prompt`` and make a job for it (no folder yet)."""
        text = " ".join((prompt or "").split())
        if not text:
            raise InputError("empty prompt", code="empty_prompt")
        if len(text) > self.settings.max_prompt_chars:
            raise InputError("prompt too long", code="prompt_too_long", limit=self.settings.max_prompt_chars)
        try:  # a video too long for the upload limit is refused before anything is made
            video_bitrate_for(self.settings.segment_count * self.settings.segment_seconds,
                              self.settings.max_upload_bytes, self.settings.audio_bitrate_kbps * 1000)
        except MediaError as exc:
            raise InputError(str(exc), code="video_too_long") from exc
        now = time.time()
        return Job(
            job_id=new_job_id(),
            prompt=text,
            language=language or detect_language(text, self.settings.default_language),
            segment_count=self.settings.segment_count,
            segment_seconds=self.settings.segment_seconds,
            aspect=self.settings.aspect,
            created_at=now,
            updated_at=now,
            burn_subtitles=self.settings.burn_subtitles,
            **fields,
        )

    def run(self, job: Job, deliver: Callable[[Job, Outcome], None], *, script_text: str | None = None) -> Outcome:
        """All stages, the three gates, delivery; the job's folder is deleted at the end
        whatever happens (R16)."""
        structlog.contextvars.bind_contextvars(job_id=job.job_id)
        started = time.perf_counter()
        log.info("job_started", language=job.language, segments=job.segment_count,
                 seconds=job.segment_seconds, aspect=job.aspect.value)
        try:
            self.files.create_job_dir(job.job_id)
            self.write_script(job, script_text)
            self._ask(job, Preview("script", script=job.script), JobStatus.AWAITING_SCRIPT_APPROVAL)
            self.make_pictures(job)
            firsts = [Path(s.picture_path) for s in job.segments[:PICTURE_PREVIEW]]
            self._ask(job, Preview("pictures", files=firsts), JobStatus.AWAITING_PICTURES_APPROVAL)
            self.make_clips(job)
            firsts = [Path(s.clip_path) for s in job.segments[:CLIP_PREVIEW]]
            self._ask(job, Preview("clips", files=firsts), JobStatus.AWAITING_CLIPS_APPROVAL)
            self.narrate(job)
            outcome = self.assemble(job)
            deliver(job, outcome)
            self._set(job, JobStatus.DONE)
            log.info("job_done", duration_ms=_ms(started), size=outcome.size)
            return outcome
        except JobCancelled:
            log.info("job_cancelled", stage=job.status.value, duration_ms=_ms(started))
            job.status = JobStatus.CANCELLED
            raise
        except BaseException as exc:
            job.status, job.error = JobStatus.FAILED, getattr(exc, "code", type(exc).__name__)
            log.error("job_failed", error=str(exc), code=job.error, duration_ms=_ms(started))
            raise
        finally:
            self.files.cleanup_job(job.job_id)
            structlog.contextvars.unbind_contextvars("job_id")

    def video_format(self, job: Job) -> VideoFormat:
        """The picture every stage of ``job`` makes: the job's aspect at the set size."""
        width, height = job.aspect.size(self.settings.video_short_side)
        return VideoFormat(width=width, height=height, fps=self.settings.fps)

    # ---- stages -----------------------------------------------------------------------
    def write_script(self, job: Job, script_text: str | None = None) -> None:
        """Stage 1 (R6, R8): the script, split into timed segments."""
        if job.script is not None:
            return
        self._set(job, JobStatus.SCRIPT)
        with self._stage(job, "script", 1):
            if script_text is not None:
                job.script = split_script(
                    script_text, segment_count=job.segment_count, segment_seconds=job.segment_seconds,
                    language=job.language, title=job.prompt[:80],
                    words_per_second=self.settings.words_per_second, max_tempo=self.settings.max_tempo,
                )
            else:
                job.script = self._call("script", None, self.providers.script.write, job.prompt,
                                        language=job.language, segment_count=job.segment_count,
                                        segment_seconds=job.segment_seconds)
        for note in job.script.warnings:
            log.warning("script_warning", note=note)
        job.segments = [VideoSegment(index=s.index) for s in job.script.segments]
        self.store.save(job)

    def make_pictures(self, job: Job) -> None:
        """Stage 3 (R9): one picture per segment."""
        self._set(job, JobStatus.PICTURES)
        fmt = self.video_format(job)
        folder = self._folder(job, "pictures")
        provider = self.providers.pictures

        def one(seg: VideoSegment) -> None:
            script_seg = job.script.segments[seg.index]
            path = folder / f"{seg.index:03d}.png"
            self._call("pictures", seg.index, provider.make, script_seg, path, fmt, seed=job.prompt)
            seg.picture_path, seg.status = str(path), SegmentStatus.PICTURE_DONE

        todo = [s for s in job.segments if not _done(s.picture_path)]
        self._each(job, "pictures", todo, one, self.settings.concurrency)

    def make_clips(self, job: Job) -> None:
        """Stage 5 (R11): every picture becomes an S-second clip."""
        self._set(job, JobStatus.CLIPS)
        fmt = self.video_format(job)
        folder = self._folder(job, "clips")
        provider = self.providers.motion
        cap = video_bitrate_for(job.duration, self.settings.max_upload_bytes, self.settings.audio_bitrate_kbps * 1000)

        def one(seg: VideoSegment) -> None:
            path = folder / f"{seg.index:03d}.mp4"
            self._call("clips", seg.index, provider.animate, Path(seg.picture_path),
                       job.script.segments[seg.index], path, fmt,
                       seconds=job.segment_seconds, max_bitrate=cap)
            seg.clip_path, seg.status = str(path), SegmentStatus.CLIP_DONE

        todo = [s for s in job.segments if not _done(s.clip_path)]
        workers = getattr(provider, "concurrency", None) or self.settings.concurrency
        self._each(job, "clips", todo, one, workers)

    def narrate(self, job: Job) -> None:
        """Stage 7 (R13, R37): each segment's words, placed at its start; subtitles."""
        self._set(job, JobStatus.NARRATION)
        folder = self._folder(job, "narration")
        pieces: list[tuple[int, float, float, Path | None]] = []
        spoken = [s for s in job.script.segments if s.text.strip()]
        with self._stage(job, "narration", len(spoken)):
            for n, seg in enumerate(spoken, 1):
                self._check_cancel()
                path = folder / f"{seg.index:03d}.wav"
                if not path.exists():
                    self._speak(seg.index, seg.text, path, job.language)
                pieces.append((seg.index, seg.start, seg.end, path))
                self.progress.advance(job, "narration", n, len(spoken))
            track = self.files.path(job.job_id, "narration.wav")
            placements = build_narration(pieces, job.duration, track, max_tempo=self.settings.max_tempo,
                                         ffmpeg=self.settings.ffmpeg_binary)
        texts = {s.index: s.text for s in job.script.segments}
        srt = write_srt([Cue(p.start, p.end, texts[p.index]) for p in placements],
                        self.files.path(job.job_id, "subtitles.srt"))
        job.narration_path, job.subtitles_path = str(track), str(srt)
        self.store.save(job)

    def assemble(self, job: Job) -> Outcome:
        """Stage 8 (R14): clips + narration (+ music, + burned subtitles) → final.mp4."""
        self._set(job, JobStatus.ASSEMBLY)
        out = self.files.path(job.job_id, "final.mp4")
        workdir = self.files.job_dir(job.job_id)
        burn = None
        if job.burn_subtitles:
            burn = burn_filter(Path(job.subtitles_path).name, fonts.font_dir(), fonts.FONT_FAMILY,
                               self.video_format(job).height)
        with self._stage(job, "assembly", 1):
            result = assemble(
                [Path(s.clip_path) for s in job.segments], Path(job.narration_path), out,
                fmt=self.video_format(job), segment_seconds=job.segment_seconds,
                max_bytes=self.settings.max_upload_bytes, audio_bitrate=self.settings.audio_bitrate_kbps * 1000,
                music=self._music(job), music_volume=self.settings.music_volume,
                subtitles_filter=burn, workdir=workdir, ffmpeg=self.settings.ffmpeg_binary,
            )
        job.output_path = str(out)
        self.store.save(job)
        return Outcome(out, Path(job.subtitles_path) if job.subtitles_path else None, result.duration,
                       result.size, result.reencoded, list(job.script.warnings))

    # ---- helpers ----------------------------------------------------------------------
    def _folder(self, job: Job, name: str) -> Path:
        """A stage's sub-folder of the job folder, created if missing."""
        folder = self.files.path(job.job_id, name)
        folder.mkdir(exist_ok=True)
        return folder

    def _music(self, job: Job) -> Path | None:
        if job.music_path:
            return Path(job.music_path)
        folder = self.settings.music_dir
        if not folder or not Path(folder).is_dir():
            return None
        tracks = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
        if not tracks:
            return None
        pick = int(hashlib.sha256(job.job_id.encode()).hexdigest(), 16) % len(tracks)
        return tracks[pick]

    def _speak(self, index: int, text: str, path: Path, language: str) -> None:
        """One segment's speech into ``path``; texts over the provider's limit are spoken
        in sentence-sized pieces and joined."""
        speech = self.providers.speech
        chunks = chunk_text(text, speech.max_chars)
        if len(chunks) == 1:
            self._call("narration", index, speech.speak, text, path, language=language)
            return
        parts = []
        for k, chunk in enumerate(chunks):
            part = path.with_name(f"{path.stem}_chunk{k}{path.suffix}")
            self._call("narration", index, speech.speak, chunk, part, language=language)
            parts.append(audio_samples(part, rate=RATE))
            part.unlink(missing_ok=True)
        with atomic_path(path) as tmp:  # the joined file appears only when whole
            write_wav(np.concatenate(parts), tmp)

    def _ask(self, job: Job, preview: Preview, status: JobStatus) -> None:
        self._check_cancel()
        self._set(job, status)
        log.info("approval_requested", kind=preview.kind)
        if not self.gate.ask(job, preview):
            log.info("approval_refused", kind=preview.kind)
            raise JobCancelled(f"{preview.kind} not approved")
        log.info("approval_given", kind=preview.kind)
        self._check_cancel()

    def _check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled")

    def _set(self, job: Job, status: JobStatus) -> None:
        job.status = status
        self.store.save(job)

    def _call(self, stage: str, segment: int | None, fn, *args, **kwargs):
        """One provider call, retried on transient errors, logged with its duration."""
        provider = getattr(getattr(fn, "__self__", None), "name", "?")
        for attempt in Retrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            retry=retry_if_exception_type(TransientError),
            wait=_retry_wait,
            reraise=True,
        ):
            with attempt:
                self._check_cancel()
                started = time.perf_counter()
                result = fn(*args, **kwargs)
                log.info("provider_call", stage=stage, segment=segment, provider=provider,
                         attempt=attempt.retry_state.attempt_number, duration_ms=_ms(started), cost=0.0)
        return result

    def _each(self, job: Job, stage: str, todo: list[VideoSegment], fn, workers: int) -> None:
        """Run ``fn`` for every segment in ``todo``, ``workers`` at a time; the first failure
        stops the rest (running ones finish, queued ones never start)."""
        total = len(job.segments)
        done = total - len(todo)
        with self._stage(job, stage, total):
            self.progress.advance(job, stage, done, total)
            if not todo:
                return
            stop = threading.Event()

            def task(seg: VideoSegment) -> None:
                if stop.is_set():  # a sibling failed: this one must not start (or pay)
                    return
                try:
                    fn(seg)
                except BaseException:
                    stop.set()
                    raise

            with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=stage) as pool:
                # each task runs in a copy of this context, so its logs carry the job id
                pending = {pool.submit(contextvars.copy_context().run, task, seg) for seg in todo}
                try:
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                        for fut in finished:
                            if fut.exception() is not None:
                                raise fut.exception()
                            done += 1
                            self.progress.advance(job, stage, done, total)
                        self.store.save(job)
                except BaseException:
                    # queued segments must not start once the stage has failed or been
                    # interrupted; running ones finish before the pool closes
                    stop.set()
                    for fut in pending:
                        fut.cancel()
                    self.store.save(job)
                    raise

    def _stage(self, job: Job, stage: str, total: int):
        return _StageTimer(self, job, stage, total)


class _StageTimer:
    def __init__(self, pipeline: Pipeline, job: Job, stage: str, total: int) -> None:
        self.pipeline, self.job, self.stage, self.total = pipeline, job, stage, total

    def __enter__(self):
        self.started = time.perf_counter()
        log.info("stage_started", stage=self.stage)
        self.pipeline.progress.stage(self.job, self.stage, self.total)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.pipeline.progress.advance(self.job, self.stage, self.total, self.total)
            log.info("stage_finished", stage=self.stage, duration_ms=_ms(self.started))
        return False


def _retry_wait(state) -> float:
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if hinted:
        return float(hinted)
    return wait_exponential_jitter(initial=1, max=30)(state)


def _done(path: str | None) -> bool:
    return bool(path) and Path(path).exists()


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
