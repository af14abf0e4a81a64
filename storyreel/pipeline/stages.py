"""The stages of a job — script, pictures, clips, narration, assembly — each idempotent.

Every stage first looks at what the job already has (its recorded state and the files
in its folder) and does only what is missing, so a stage that runs again — after a
retry, a crash or a resume — never pays twice for the same thing. Files appear only
when complete (``atomic_path``), so "the file exists" means "the step is done".

Provider calls go through the ``CallRunner`` (``calls.py``), the one layer that retries.
A paid result that another machine could not get back for free (a narration piece) is
also handed to ``Results`` (``results.py``), so a step resumed elsewhere reads it back
instead of paying again.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import structlog

from ..errors import JobCancelled, PermanentError, UserBlocked
from ..media import fonts
from ..media.assemble import assemble, burn_filter, video_bitrate_for
from ..media.files import FileManager, atomic_path
from ..media.music import pick_track
from ..media.narration import RATE, build_narration, write_wav
from ..media.probe import audio_samples
from ..media.subtitles import Cue, write_srt
from ..models import Job, JobStatus, Script, SegmentStatus, VideoFormat, VideoSegment
from ..providers.base import Animator, Providers, TaskRef
from ..settings import Settings
from ..splitting import chunk_text, split_script
from .calls import CallRunner
from .capacity import Capacity
from .choices import animated, narration_style, picture_style
from .edits import Edit, edit_cost
from .recorder import JobRecorder
from .results import LocalResults, Results

log = structlog.get_logger(__name__)


@dataclass
class Outcome:
    """The finished video, before delivery moves it away."""

    video: Path
    subtitles: Path | None
    duration: float
    size: int
    reencoded: bool
    warnings: list[str] = field(default_factory=list)


class Stages:
    """What each stage does for one job; the scheduler decides when."""

    def __init__(self, settings: Settings, providers: Providers, files: FileManager, recorder: JobRecorder,
                 calls: CallRunner, capacity: Capacity | None = None, results: Results | None = None) -> None:
        self.settings, self.providers, self.files = settings, providers, files
        self.recorder, self.calls = recorder, calls
        self.capacity = capacity or Capacity(settings)
        self.results = results or LocalResults()

    def video_format(self, job: Job) -> VideoFormat:
        """The picture every stage of ``job`` makes: the job's aspect at the set size."""
        width, height = job.aspect.size(self.settings.video_short_side)
        return VideoFormat(width=width, height=height, fps=self.settings.fps)

    # ---- script -----------------------------------------------------------------------
    def write_script(self, job: Job, script_text: str | None = None) -> None:
        """The script, split into timed segments: written by the script writer, or the
        user's own text (``script_text``) split at its natural pauses."""
        if job.script is not None:
            return
        self.recorder.set_status(job, JobStatus.SCRIPT)
        with self.recorder.stage(job, "script", 1):
            if script_text is not None:
                job.script = split_script(
                    script_text, segment_count=job.segment_count, segment_seconds=job.segment_seconds,
                    language=job.language, title=job.prompt[:80],
                    words_per_second=self.settings.words_per_second, max_tempo=self.settings.max_tempo,
                )
            else:
                job.script = self.calls.call(job, "script", None, self.providers.script.write, job.prompt,
                                             language=job.language, segment_count=job.segment_count,
                                             segment_seconds=job.segment_seconds)
        for note in job.script.warnings:
            log.warning("script_warning", note=note)
        job.segments = [VideoSegment(index=s.index) for s in job.script.segments]
        self.recorder.save(job)

    # ---- pictures and clips -----------------------------------------------------------
    def reconcile(self, job: Job) -> None:
        """Make the job's record speak of this machine's files. A path recorded by a step
        on another host is moved to the same place in this host's job folder (whose file
        may or may not be there), so "the file exists" is asked of this disk, whatever
        WORK_DIR the other host had. Then adopt finished files the record does not know
        of: a worker killed between writing a file (atomically: it exists only when whole)
        and saving the record."""
        here = self.files.job_dir(job.job_id)
        for seg in job.segments:
            seg.picture_path, seg.clip_path = _local(seg.picture_path, here), _local(seg.clip_path, here)
        job.narration_path, job.subtitles_path = _local(job.narration_path, here), _local(job.subtitles_path, here)
        for seg in job.segments:
            for attr, folder, status in (("picture_path", "pictures", SegmentStatus.PICTURE_DONE),
                                         ("clip_path", "clips", SegmentStatus.CLIP_DONE)):
                path = self.files.path(job.job_id, folder) / file_name(seg, folder)
                if not done(getattr(seg, attr)) and path.exists():
                    setattr(seg, attr, str(path))
                    seg.status = status

    def make_picture(self, job: Job, seg: VideoSegment) -> None:
        """One segment's picture (idempotent: a recorded provider task is resumed)."""
        path = self.folder(job, "pictures") / file_name(seg, "pictures")

        def record(r: TaskRef) -> None:
            seg.picture_task_id, seg.picture_url, seg.picture_at = r.task_id, r.output_url, r.finished_at
            self.recorder.save(job)

        ref = TaskRef(seg.picture_task_id, seg.picture_url, seg.picture_at, on_change=record)
        first = job.segments[0].picture_path if job.segments else None
        style = picture_style(self.settings, job, seg.index, first)
        # a redone picture asks for another seed: the same one would draw the same picture
        seed = job.prompt if not seg.picture_version else f"{job.prompt}\x00{seg.picture_version}"
        self.calls.call(job, "pictures", seg.index, self.providers.pictures.make, job.script.segments[seg.index],
                        path, self.video_format(job), seed=seed, task=ref, stop=self.calls.stop, style=style)
        seg.picture_path, seg.status = str(path), SegmentStatus.PICTURE_DONE

    def make_clip(self, job: Job, seg: VideoSegment) -> None:
        """One segment's clip from its picture (idempotent like ``make_picture``)."""
        path = self.folder(job, "clips") / file_name(seg, "clips")
        cap = video_bitrate_for(job.duration, self.settings.max_upload_bytes, self.settings.audio_bitrate_kbps * 1000)
        picture = TaskRef(seg.picture_task_id, seg.picture_url, seg.picture_at)

        def record(r: TaskRef) -> None:
            seg.clip_task_id, seg.clip_url, seg.clip_at = r.task_id, r.output_url, r.finished_at
            self.recorder.save(job)

        ref = TaskRef(seg.clip_task_id, seg.clip_url, seg.clip_at, on_change=record)
        self.calls.call(job, "clips", seg.index, self.motion_for(job, seg).animate, Path(seg.picture_path),
                        job.script.segments[seg.index], path, self.video_format(job),
                        seconds=job.segment_seconds, max_bitrate=cap, task=ref, picture_task=picture,
                        stop=self.calls.stop)
        seg.clip_path, seg.status = str(path), SegmentStatus.CLIP_DONE

    def motion_for(self, job: Job, seg: VideoSegment) -> Animator:
        """The animator of ``seg``: the motion provider within the job's motion budget,
        the local pan and zoom outside it."""
        local = self.providers.local_motion
        if local is None or seg.index in animated(job):
            return self.providers.motion
        return local

    # ---- edits at the gates -------------------------------------------------------------
    def edit_cost(self, job: Job, edit: Edit) -> float:
        """The estimated price of ``edit`` (what ``edits.accept`` let through)."""
        return edit_cost(self.settings, self.providers, job, edit)

    def apply_edit(self, job: Job, edit: Edit, cost: float = 0.0) -> str | None:
        """Make ``edit`` part of the job and count it (``edits_done``), saved at once: a
        redo resets the segment's record to a new version (a new file and a new task,
        never the old one run again), so a resumed job pays for each redo once. A note
        for the script writer is a paid call; the script gate is asked again.

        A revision the script writer cannot make (refused, failing after its retries)
        leaves the script as it was: the gate is asked again with it, and the code of
        the message that says so is returned for the shell."""
        if edit.kind == "script" and job.status == JobStatus.AWAITING_SCRIPT_APPROVAL:
            try:
                self._revise_script(job, edit)
            except PermanentError as exc:
                if isinstance(exc, (JobCancelled, UserBlocked)):
                    raise
                self.recorder.note(job, "edit_failed", level="warning", kind=edit.kind, action=edit.action,
                                   code=exc.code, error=str(exc)[:300])
                job.rounds[edit.kind] = job.rounds.get(edit.kind, 0) + 1
                job.edits_done += 1
                self.recorder.save(job)
                return "revision_failed"  # the person is told in plain words; the log has why
            job.revisions += 1
        elif edit.kind in ("pictures", "clips") and job.script is not None and job.segments:
            for index, words in edit.items.items():
                self._redo(job, job.segments[index], edit.kind, words)
            job.redone[edit.kind] = sorted(edit.items)
            job.redos += len(edit.items)
        else:
            log.info("edit_skipped", kind=edit.kind, status=job.status.value)
            job.edits_done += 1
            self.recorder.save(job)
            return None
        job.rounds[edit.kind] = job.rounds.get(edit.kind, 0) + 1
        job.extra_estimate = round(job.extra_estimate + cost, 6)
        job.edits_done += 1
        self.recorder.note(job, "edit_applied", kind=edit.kind, action=edit.action, segments=edit.numbers or None)
        self.recorder.save(job)
        return None

    def _revise_script(self, job: Job, edit: Edit) -> None:
        script = job.script
        if edit.action == "replace":
            new = split_script(edit.text, segment_count=job.segment_count, segment_seconds=job.segment_seconds,
                               language=job.language, title=script.title,
                               words_per_second=self.settings.words_per_second, max_tempo=self.settings.max_tempo)
            for seg, old in zip(new.segments, script.segments):  # the pictures' descriptions stay
                seg.image_prompt = seg.image_prompt or old.image_prompt
                seg.animation_prompt = seg.animation_prompt or old.animation_prompt
            new.look, new.highlights = script.look, list(script.highlights)
        elif edit.action == "segment":
            new = Script.from_dict(script.to_dict())
            for index, words in edit.items.items():
                new.segments[index].text = words
        else:
            new = self.calls.call(job, "script", None, self.providers.script.revise, script, edit.text,
                                  prompt=job.prompt, language=job.language, segment_count=job.segment_count,
                                  segment_seconds=job.segment_seconds)
        job.script = new
        job.segments = [VideoSegment(index=s.index) for s in new.segments]

    @staticmethod
    def _redo(job: Job, seg: VideoSegment, kind: str, words: str) -> None:
        segment = job.script.segments[seg.index]
        if kind == "pictures":
            if words:
                segment.image_prompt = words
            seg.picture_version += 1
            seg.picture_path = seg.picture_task_id = seg.picture_url = seg.picture_at = None
            seg.status = SegmentStatus.PENDING
        elif words:
            segment.animation_prompt = words
        if kind == "clips" or seg.clip_path or seg.clip_task_id:  # a clip of the old picture is stale too
            seg.clip_version += 1
            seg.clip_path = seg.clip_task_id = seg.clip_url = seg.clip_at = None
            if kind == "clips":
                seg.status = SegmentStatus.PICTURE_DONE

    # ---- narration --------------------------------------------------------------------
    def narrate(self, job: Job, *, stop: Callable[[], bool] | None = None) -> None:
        """Each segment's words, placed at the segment's start so they are heard while its
        picture is on screen; and the subtitles, timed to where the words really fall.

        Segments are spoken several at once, up to the speech model's concurrency (its
        slots are shared with every other job, see ``capacity``); a segment whose file
        exists, or is kept in ``Results`` (spoken on another machine), was paid for before
        and is not asked again. ``stop`` (the scheduler's) ends it between segments once
        a sibling step failed."""
        folder = self.folder(job, "narration")
        spoken = [s for s in job.script.segments if s.text.strip()]
        slots = self.capacity.for_provider(self.providers.speech)
        halt = threading.Event()

        def stopped() -> bool:
            return halt.is_set() or (stop is not None and stop())

        def one(seg) -> None:
            with slots.hold(stopped):
                if stopped():  # failed elsewhere: pay no more
                    raise JobCancelled("stopped")
                self.speak(job, seg.index, seg.text, folder / f"{seg.index:03d}.wav")

        with self.recorder.stage(job, "narration", len(spoken)):
            todo, restored = [], 0
            for seg in spoken:
                piece = folder / f"{seg.index:03d}.wav"
                if piece.exists():
                    continue
                if self.results.fetch(job.job_id, _piece(seg.index), piece):  # spoken on another machine
                    restored += 1
                    continue
                todo.append(seg)
            if restored:
                self.recorder.note(job, "results_restored", stage="narration", count=restored)
            finished = len(spoken) - len(todo)
            with ThreadPoolExecutor(max_workers=slots.limit, thread_name_prefix="narration") as pool:
                futures = [pool.submit(contextvars.copy_context().run, one, seg) for seg in todo]
                try:
                    for fut in as_completed(futures):
                        fut.result()
                        finished += 1
                        self.recorder.progress.advance(job, "narration", finished, len(spoken))
                except BaseException:
                    halt.set()  # queued segments start nothing (and pay nothing)
                    for fut in futures:
                        fut.cancel()
                    raise
            pieces = [(s.index, s.start, s.end, folder / f"{s.index:03d}.wav") for s in spoken]
            track = self.files.path(job.job_id, "narration.wav")
            placements = build_narration(pieces, job.duration, track, max_tempo=self.settings.max_tempo,
                                         ffmpeg=self.settings.ffmpeg_binary)
        texts = {s.index: s.text for s in job.script.segments}
        srt = write_srt([Cue(p.start, p.end, texts[p.index]) for p in placements],
                        self.files.path(job.job_id, "subtitles.srt"))
        job.narration_path, job.subtitles_path = str(track), str(srt)
        self.recorder.save(job)

    def speak(self, job: Job, index: int, text: str, path: Path) -> None:
        """One segment's speech into ``path``, kept in ``Results``; texts over the
        provider's limit are spoken in sentence-sized pieces (each kept as it is paid
        for) and joined."""
        speech = self.providers.speech
        chosen = job.options.voice
        if chosen and chosen not in getattr(speech, "voices", ()):
            # chosen under another speech provider (the server's changed since): its own default
            log.warning("voice_not_offered", voice=chosen)
            chosen = None
        voice = {"language": job.language, "voice": chosen, "style": narration_style(self.settings, job.options)}
        chunks = chunk_text(text, speech.max_chars)
        if len(chunks) == 1:
            self.calls.call(job, "narration", index, speech.speak, text, path, **voice)
            self.results.keep(job.job_id, _piece(index), path)
            return
        parts = []
        for k, chunk in enumerate(chunks):
            part = path.with_name(f"{path.stem}_chunk{k}{path.suffix}")
            name = f"{_piece(index)}.{k}"
            if not part.exists() and not self.results.fetch(job.job_id, name, part):
                self.calls.call(job, "narration", index, speech.speak, chunk, part, **voice)
                self.results.keep(job.job_id, name, part)
            parts.append(part)
        with atomic_path(path) as tmp:  # the joined file appears only when whole
            write_wav(np.concatenate([audio_samples(p, rate=RATE) for p in parts]), tmp)
        self.results.keep(job.job_id, _piece(index), path)
        for part in parts:
            part.unlink(missing_ok=True)

    # ---- assembly ---------------------------------------------------------------------
    def assemble(self, job: Job) -> Outcome:
        """Clips + narration (+ music, + burned subtitles) → final.mp4."""
        self.recorder.set_status(job, JobStatus.ASSEMBLY)
        out = self.files.path(job.job_id, "final.mp4")
        burn = None
        if job.burn_subtitles:
            burn = burn_filter(Path(job.subtitles_path).name, fonts.font_dir(), fonts.FONT_FAMILY,
                               self.video_format(job).height)
        music = Path(job.music_path) if job.music_path else pick_track(self.settings.music_dir, job.job_id)
        if not job.options.music:
            music = None
        with self.recorder.stage(job, "assembly", 1):
            result = assemble(
                [Path(s.clip_path) for s in job.segments], Path(job.narration_path), out,
                fmt=self.video_format(job), segment_seconds=job.segment_seconds,
                max_bytes=self.settings.max_upload_bytes, audio_bitrate=self.settings.audio_bitrate_kbps * 1000,
                music=music, music_volume=self.settings.music_volume,
                subtitles_filter=burn, workdir=self.files.job_dir(job.job_id), ffmpeg=self.settings.ffmpeg_binary,
            )
        job.output_path = str(out)
        self.recorder.save(job)
        return Outcome(out, Path(job.subtitles_path) if job.subtitles_path else None, result.duration,
                       result.size, result.reencoded, list(job.script.warnings))

    def folder(self, job: Job, name: str) -> Path:
        """A stage's sub-folder of the job folder, created if missing."""
        path = self.files.path(job.job_id, name)
        path.mkdir(exist_ok=True)
        return path


def _local(path: str | None, job_dir: Path) -> str | None:
    """``path`` (``…/{job_id}/clips/003.mp4``, recorded on any host) in ``job_dir``."""
    if not path:
        return path
    parts = Path(path).parts
    if job_dir.name not in parts:
        return path
    rest = parts[len(parts) - 1 - parts[::-1].index(job_dir.name) + 1:]
    return str(job_dir.joinpath(*rest))


def file_name(seg: VideoSegment, folder: str) -> str:
    """A segment's picture or clip file in its stage folder: each redo is a new file."""
    version, ext = (seg.picture_version, "png") if folder == "pictures" else (seg.clip_version, "mp4")
    return f"{seg.index:03d}.{ext}" if not version else f"{seg.index:03d}_v{version}.{ext}"


def _piece(index: int) -> str:
    """A narration piece's name in ``Results``."""
    return f"narration/{index:03d}"


def done(path: str | None) -> bool:
    """True when a recorded file path points at a file that exists."""
    return bool(path) and Path(path).exists()
