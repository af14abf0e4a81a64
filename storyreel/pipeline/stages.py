"""The stages of a job, each idempotent (R6–R16).

    script → [approve] ─┬→ pictures ─→ [approve first 5] → clips → [approve first 3] ─┬→ assembly
                        └→ narration ───────────────────────────────────────────────────┘
    → delivery → cleanup

Pictures, clips and narration overlap (``schedule.produce``): a segment's clip starts
as soon as its picture exists and the pictures are approved.

Every stage first looks at what the job already has (its recorded state and the files
in its folder) and does only what is missing, so a stage that runs again — after a
retry, a crash or a resume — never pays twice for the same thing. Files appear only
when complete (``atomic_path``), so "the file exists" means "the step is done".

Retries: ``Pipeline._call`` is the one layer that retries a failed *step* (a failed or
timed-out generation task), and only for ``TransientError`` (``settings.retries`` more
attempts, waiting ``retry_after`` when the provider gave one, else a capped exponential
backoff with jitter). HTTP-level failures (408/409/429/5xx) are retried by the SDKs
alone; providers map what is left after them to permanent errors, so no failure is
retried by two layers.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import structlog
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..errors import InputError, JobCancelled, MediaError, StepInterrupted, TransientError
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
from ..providers.base import TaskRef, Usage, metered
from .approvals import Approvals, AutoApprove, Gate, GateApprovals, Preview
from .ledger import MemorySpending, Spending, check_caps, estimate, price
from .schedule import produce
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
    """Runs a job's stages with the given providers; a shell (CLI, bot) supplies the
    approvals, the progress sink, the cancellation check and the delivery."""

    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        *,
        files: FileManager | None = None,
        store: JobStore | None = None,
        approvals: Approvals | None = None,
        gate: Gate | None = None,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        interrupted: Callable[[], bool] = lambda: False,
        spending: Spending | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.files = files or FileManager(settings.work_dir)
        self.store = store or LocalJobStore(self.files)
        self.approvals = approvals or (GateApprovals(gate) if gate is not None else AutoApprove())
        self.progress = progress or NullProgress()
        self.cancelled = cancelled
        self.interrupted = interrupted
        self.spending = spending or MemorySpending()
        self._save_lock = threading.RLock()

    # ---- jobs -------------------------------------------------------------------------
    def new_job(self, prompt: str, *, language: str | None = None, job_id: str | None = None, **fields) -> Job:
        """Validate ``prompt``, estimate the cost and check the caps; make a job for it
        (no folder yet). Nothing is spent before this passes. ``job_id`` may be derived
        from what asked for the job (a Telegram update), so asking twice makes one job."""
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
        self._check_disk()
        expected = estimate(self.settings, self.providers, segment_count=self.settings.segment_count,
                            segment_seconds=self.settings.segment_seconds, prompt_chars=len(text)).total
        check_caps(self.settings, self.spending, fields.get("user_id"), expected)
        now = time.time()
        return Job(
            job_id=job_id or new_job_id(),
            prompt=text,
            language=language or detect_language(text, self.settings.default_language),
            segment_count=self.settings.segment_count,
            segment_seconds=self.settings.segment_seconds,
            aspect=self.settings.aspect,
            created_at=now,
            updated_at=now,
            burn_subtitles=self.settings.burn_subtitles,
            estimate=expected,
            **fields,
        )

    def _check_disk(self) -> None:
        """Refuse new jobs when the temp folder's disk is nearly full (a job needs room)."""
        need = self.settings.min_free_disk_mb
        if not need:
            return
        root = Path(self.settings.work_dir)
        probe_dir = next((p for p in (root, *root.resolve().parents) if p.exists()), Path("."))
        free_mb = shutil.disk_usage(probe_dir).free / 1_048_576
        if free_mb < need:
            log.error("disk_low", free_mb=round(free_mb), need_mb=need)
            raise InputError(f"only {free_mb:.0f} MB free in {root}", code="disk_full")

    def run(self, job: Job, deliver: Callable[[Job, "Outcome"], None], *, script_text: str | None = None) -> "Outcome":
        """The whole job in this process, waiting for each approval (the CLI)."""
        self.files.create_job_dir(job.job_id)
        outcome = self.advance(job, deliver, script_text=script_text, wait=True)
        assert outcome is not None
        return outcome

    def advance(self, job: Job, deliver: Callable[[Job, "Outcome"], None], *, script_text: str | None = None,
                wait: bool = False) -> "Outcome | None":
        """Do everything the job allows now. Returns the delivered ``Outcome``, or None
        when the job waits for a person (only with ``wait=False``: the caller is freed
        and calls again once the answer is in). The job's folder is deleted when the job
        ends: delivered, cancelled or failed (R16)."""
        structlog.contextvars.bind_contextvars(job_id=job.job_id, user_id=job.user_id)
        started = time.perf_counter()
        if job.status == JobStatus.CREATED:
            self._note(job, "job_started", language=job.language, segments=job.segment_count,
                       seconds=job.segment_seconds, aspect=job.aspect.value, estimate=job.estimate)
        try:
            self.files.create_job_dir(job.job_id)
            self.write_script(job, script_text)
            self._request(job, Preview("script", script=job.script, cost=job.estimate))
            if not self._answer(job, "script", wait):
                return None
            if not produce(self, job, wait=wait):
                return None
            outcome = self.assemble(job)
            deliver(job, outcome)
            self._note(job, "job_done", duration_ms=_ms(started), size=outcome.size, cost=job.cost)
            self._set(job, JobStatus.DONE)
            self.files.cleanup_job(job.job_id)
            return outcome
        except StepInterrupted:
            # not an end: the job stays as recorded and another process goes on with it
            self._note(job, "job_step_interrupted", stage=job.status.value)
            self.save(job)
            raise
        except JobCancelled:
            self._note(job, "job_cancelled", stage=job.status.value, cost=job.cost)
            job.status = JobStatus.CANCELLED
            self.files.cleanup_job(job.job_id)
            raise
        except BaseException as exc:
            job.status, job.error = JobStatus.FAILED, getattr(exc, "code", type(exc).__name__)
            self._note(job, "job_failed", level="error", error=str(exc), code=job.error, cost=job.cost)
            self.files.cleanup_job(job.job_id)
            raise
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "user_id")

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
                job.script = self._call(job, "script", None, self.providers.script.write, job.prompt,
                                        language=job.language, segment_count=job.segment_count,
                                        segment_seconds=job.segment_seconds)
        for note in job.script.warnings:
            log.warning("script_warning", note=note)
        job.segments = [VideoSegment(index=s.index) for s in job.script.segments]
        self.save(job)

    def make_pictures(self, job: Job) -> None:
        """Stage 3 (R9) alone: one picture per segment (benchmarks and tests)."""
        produce(self, job, clips=False, narration=False, wait=True, previews=False)

    def make_clips(self, job: Job) -> None:
        """Stage 5 (R11) alone: every picture becomes an S-second clip."""
        produce(self, job, pictures=False, narration=False, wait=True, previews=False)

    def reconcile(self, job: Job) -> None:
        """Adopt finished files the job's record does not know of: a worker killed between
        writing a file (atomically: it exists only when whole) and saving the record."""
        for seg in job.segments:
            for attr, folder, ext, status in (("picture_path", "pictures", "png", SegmentStatus.PICTURE_DONE),
                                              ("clip_path", "clips", "mp4", SegmentStatus.CLIP_DONE)):
                path = self.files.path(job.job_id, folder) / f"{seg.index:03d}.{ext}"
                if not _done(getattr(seg, attr)) and path.exists():
                    setattr(seg, attr, str(path))
                    seg.status = status

    def make_picture(self, job: Job, seg: VideoSegment) -> None:
        """One segment's picture (idempotent: a recorded provider task is resumed)."""
        path = self._folder(job, "pictures") / f"{seg.index:03d}.png"
        ref = TaskRef(seg.picture_task_id, seg.picture_url, seg.picture_at, on_change=None)

        def record(r: TaskRef) -> None:
            seg.picture_task_id, seg.picture_url, seg.picture_at = r.task_id, r.output_url, r.finished_at
            self.save(job)

        ref.on_change = record
        self._call(job, "pictures", seg.index, self.providers.pictures.make, job.script.segments[seg.index],
                   path, self.video_format(job), seed=job.prompt, task=ref)
        seg.picture_path, seg.status = str(path), SegmentStatus.PICTURE_DONE

    def make_clip(self, job: Job, seg: VideoSegment) -> None:
        """One segment's clip from its picture (idempotent like ``make_picture``)."""
        path = self._folder(job, "clips") / f"{seg.index:03d}.mp4"
        cap = video_bitrate_for(job.duration, self.settings.max_upload_bytes, self.settings.audio_bitrate_kbps * 1000)
        picture = TaskRef(seg.picture_task_id, seg.picture_url, seg.picture_at)
        ref = TaskRef(seg.clip_task_id, seg.clip_url, seg.clip_at)

        def record(r: TaskRef) -> None:
            seg.clip_task_id, seg.clip_url, seg.clip_at = r.task_id, r.output_url, r.finished_at
            self.save(job)

        ref.on_change = record
        self._call(job, "clips", seg.index, self.providers.motion.animate, Path(seg.picture_path),
                   job.script.segments[seg.index], path, self.video_format(job),
                   seconds=job.segment_seconds, max_bitrate=cap, task=ref, picture_task=picture)
        seg.clip_path, seg.status = str(path), SegmentStatus.CLIP_DONE

    def narrate(self, job: Job, *, stop: Callable[[], bool] | None = None) -> None:
        """Stage 7 (R13, R37): each segment's words, placed at its start; subtitles.
        ``stop`` (the scheduler's) ends it between segments once a sibling step failed."""
        folder = self._folder(job, "narration")
        pieces: list[tuple[int, float, float, Path | None]] = []
        spoken = [s for s in job.script.segments if s.text.strip()]
        with self._stage(job, "narration", len(spoken)):
            for n, seg in enumerate(spoken, 1):
                self._check_cancel()
                if stop is not None and stop():  # the job failed elsewhere: speak no more (R36)
                    raise JobCancelled("stopped")
                path = folder / f"{seg.index:03d}.wav"
                if not path.exists():
                    self._speak(job, seg.index, seg.text, path, job.language)
                pieces.append((seg.index, seg.start, seg.end, path))
                self.progress.advance(job, "narration", n, len(spoken))
            track = self.files.path(job.job_id, "narration.wav")
            placements = build_narration(pieces, job.duration, track, max_tempo=self.settings.max_tempo,
                                         ffmpeg=self.settings.ffmpeg_binary)
        texts = {s.index: s.text for s in job.script.segments}
        srt = write_srt([Cue(p.start, p.end, texts[p.index]) for p in placements],
                        self.files.path(job.job_id, "subtitles.srt"))
        job.narration_path, job.subtitles_path = str(track), str(srt)
        self.save(job)

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
        self.save(job)
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

    def _speak(self, job: Job, index: int, text: str, path: Path, language: str) -> None:
        """One segment's speech into ``path``; texts over the provider's limit are spoken
        in sentence-sized pieces and joined."""
        speech = self.providers.speech
        chunks = chunk_text(text, speech.max_chars)
        if len(chunks) == 1:
            self._call(job, "narration", index, speech.speak, text, path, language=language)
            return
        parts = []
        for k, chunk in enumerate(chunks):
            part = path.with_name(f"{path.stem}_chunk{k}{path.suffix}")
            self._call(job, "narration", index, speech.speak, chunk, part, language=language)
            parts.append(audio_samples(part, rate=RATE))
            part.unlink(missing_ok=True)
        with atomic_path(path) as tmp:  # the joined file appears only when whole
            write_wav(np.concatenate(parts), tmp)

    def needs_request(self, job: Job, kind: str) -> bool:
        """True until the approval of ``kind`` has been asked *and* shown. ``job.asked`` is
        recorded before the question goes out (an answer may come back at once); an
        ``Approvals`` that can tell (``delivered``) has a question that a dead worker
        recorded but never showed asked again."""
        if kind not in job.asked:
            return True
        delivered = getattr(self.approvals, "delivered", None)
        return delivered is not None and not delivered(job, kind)

    def _request(self, job: Job, preview: Preview) -> None:
        """Ask for an approval once per job (the request survives restarts in ``job.asked``)."""
        if not self.needs_request(job, preview.kind):
            return
        self._check_cancel()
        if preview.kind == "script":
            job.status = JobStatus.AWAITING_SCRIPT_APPROVAL
        if preview.kind not in job.asked:
            job.asked.append(preview.kind)
        self.save(job)
        self._note(job, "approval_requested", kind=preview.kind)
        self.approvals.request(job, preview)

    def _answer(self, job: Job, kind: str, wait: bool) -> bool:
        """True when ``kind`` is approved; False when still open and ``wait`` is off;
        raises ``JobCancelled`` on a refusal."""
        while True:
            self._check_cancel()
            state = self.approvals.state(job, kind)
            if state is False:
                self._note(job, "approval_refused", kind=kind)
                raise JobCancelled(f"{kind} not approved")
            if state:
                if not any(h.get("event") == "approval_given" and h.get("kind") == kind for h in job.history):
                    self._note(job, "approval_given", kind=kind)
                return True
            if not wait:
                return False
            time.sleep(0.1)

    def _note(self, job: Job, event: str, level: str = "info", **fields) -> None:
        """A log event that also goes into the job's own history (``storyreel job ID``)."""
        getattr(log, level)(event, **fields)
        with self._save_lock:
            job.history.append({"at": round(time.time(), 3), "event": event,
                                **{k: v for k, v in fields.items() if v is not None}})

    def _check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled")
        if self.interrupted():
            raise StepInterrupted("the process is shutting down")

    def _set(self, job: Job, status: JobStatus) -> None:
        job.status = status
        self.save(job)

    def save(self, job: Job) -> None:
        """Record the job's state (one writer at a time: worker threads share the job)."""
        with self._save_lock:
            self.store.save(job)

    def _call(self, job: Job, stage: str, segment: int | None, fn, *args, **kwargs):
        """One provider call, retried on transient errors; its duration, usage and price
        go to the log and to the job's cost ledger (R27, R36)."""
        provider = getattr(getattr(fn, "__self__", None), "name", "?")
        task = kwargs.get("task")  # a paid remote task's record, when the step has one
        for attempt in Retrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            retry=retry_if_exception_type(TransientError),
            wait=_retry_wait,
            reraise=True,
        ):
            with attempt:
                self._check_cancel()
                started = time.perf_counter()
                with metered() as used:
                    try:
                        result = fn(*args, **kwargs)
                    except Exception as exc:
                        self._note(job, "provider_error", level="warning", stage=stage, segment=segment,
                                   provider=provider, attempt=attempt.retry_state.attempt_number,
                                   code=getattr(exc, "code", type(exc).__name__), error=str(exc)[:300])
                        raise
                    finally:
                        self._record(job, stage, segment, provider, used, _ms(started),
                                     attempt.retry_state.attempt_number, getattr(task, "task_id", None))
        return result

    def _record(self, job: Job, stage: str, segment: int | None, provider: str, used: list[Usage],
                duration_ms: int, attempt: int, task_id: str | None = None) -> None:
        cost = round(sum(price(self.settings, u) for u in used), 6)
        units: dict[str, float] = {}
        for u in used:  # one step may make several requests (a script and its repair)
            units[u.unit] = units.get(u.unit, 0.0) + u.units
        entry = {"stage": stage, "segment": segment, "provider": provider,
                 "model": used[0].model if used else None, "units": units, "cost": cost,
                 "duration_ms": duration_ms, "attempt": attempt, "task_id": task_id, "at": round(time.time(), 3)}
        with self._save_lock:
            # a task polled again after a resume was paid for once: it is recorded once
            again = bool(task_id) and any(c.get("task_id") == task_id for c in job.costs)
            if used and not again:
                job.costs.append(entry)
        log.info("provider_call", recorded=bool(used) and not again, **{k: v for k, v in entry.items() if k != "at"})
        if used and not again:
            self.spending.add(job.user_id, cost)

    def _stage(self, job: Job, stage: str, total: int):
        return _StageTimer(self, job, stage, total)


class _StageTimer:
    def __init__(self, pipeline: Pipeline, job: Job, stage: str, total: int) -> None:
        self.pipeline, self.job, self.stage, self.total = pipeline, job, stage, total

    def __enter__(self):
        self.started = time.perf_counter()
        self.pipeline._note(self.job, "stage_started", stage=self.stage)
        self.pipeline.progress.stage(self.job, self.stage, self.total)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.pipeline.progress.advance(self.job, self.stage, self.total, self.total)
            self.pipeline._note(self.job, "stage_finished", stage=self.stage, duration_ms=_ms(self.started))
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
