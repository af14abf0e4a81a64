"""Scheduling pictures, clips and narration so a job takes as little wall time as its
providers allow.

- Concurrency is per model (``capacity.py``): a step starts when its model has a free
  slot, whichever job (and, in the bot, whichever worker) it belongs to; the slot is
  held until the step ends.
- A segment's clip starts as soon as its picture exists and the pictures are approved;
  narration starts alongside as soon as the script is approved.
- The first 5 pictures are shown for approval as soon as they exist while the rest keep
  coming; the same for the first 3 clips. Until the clips are approved only those 3 are
  made, unless ``CLIPS_DURING_REVIEW`` (clips cost 5× pictures).
- When nothing is left to do but wait for a person, ``produce`` returns False (the bot's
  worker is freed) or, with ``wait=True`` (the CLI), polls the answer.

Failures: the first failed step stops new steps from starting; running ones finish and
the error is raised. Trying a failed step again is the call runner's job
(``calls.py``), not this module's.
"""

from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait as wait_futures
from pathlib import Path

import structlog

from ..errors import JobCancelled
from ..models import Job, JobStatus, VideoSegment
from .approvals import CLIP_PREVIEW, PICTURE_PREVIEW, ApprovalFlow, Preview
from .capacity import Lease
from .stages import Stages, done as _done

log = structlog.get_logger(__name__)

_POLL = 0.1  # seconds between looks at the approvals while steps run


def produce(stages: Stages, flow: ApprovalFlow, job: Job, *, pictures: bool = True, clips: bool = True,
            narration: bool = True, wait: bool = False, previews: bool = True) -> bool:
    """Make what the job still lacks. True when everything asked for exists (and, with
    ``previews``, the pictures and clips are approved); False when the job now waits for
    a person (never with ``wait=True``)."""
    return _Production(stages, flow, job, pictures, clips, narration, wait, previews).run()


class _Production:
    def __init__(self, stages: Stages, flow: ApprovalFlow, job: Job, pictures: bool, clips: bool,
                 narration: bool, wait: bool, previews: bool) -> None:
        self.stages, self.flow, self.recorder = stages, flow, stages.recorder
        self.job, self.wait, self.previews = job, wait, previews
        self.want_pictures, self.want_clips = pictures, clips
        self.pic_slots = stages.capacity.for_provider(stages.providers.pictures)
        self.clip_slots = stages.capacity.for_provider(stages.providers.motion)
        segs = job.segments
        stages.reconcile(job)
        self.need_pictures = [s for s in segs if not _done(s.picture_path)] if pictures else []
        self.need_clips = [s for s in segs if not _done(s.clip_path)] if clips else []
        self.need_narration = narration and not (_done(job.narration_path) and job.subtitles_path)
        self.narration_started = False
        self.inflight: dict[Future, tuple[str, VideoSegment | None, Lease | None]] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.shown: set[str] = set()
        self.dirty = False  # a finished step's paths are not saved yet
        self.reports: list[tuple[str, int, int]] = []  # progress not yet reported

    # ---- the loop ---------------------------------------------------------------------
    def run(self) -> bool:
        job, recorder = self.job, self.recorder
        pool = ThreadPoolExecutor(max_workers=self.pic_slots.limit + self.clip_slots.limit + 1,
                                  thread_name_prefix="segment")
        try:
            while True:
                pictures_ok = clips_ok = False
                if self.error is None:
                    try:
                        self.stages.calls.stop.check()
                        # ask first: the answers (and the status saved below, which a freed
                        # worker leaves behind) then include a preview requested in this pass
                        self._ask_previews()
                        pictures_ok, clips_ok = self._approved("pictures"), self._approved("clips")
                        self._status(pictures_ok, clips_ok)
                        self._submit(pool, pictures_ok, clips_ok)
                    except BaseException as exc:  # a refusal, a cancel, a failed request
                        self._fail(exc)
                # only once the next steps are on their way: a save, or a progress callback
                # that edits a Telegram message, must not keep a model's slot idle
                if self.dirty:
                    self.dirty = False
                    recorder.save(job)
                while self.reports:
                    recorder.progress.advance(job, *self.reports.pop(0))
                if self.inflight:
                    finished, _ = wait_futures(list(self.inflight), timeout=_POLL, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        self._finished(fut)
                    continue
                if self.error is not None:
                    raise self.error
                if self._complete(pictures_ok, clips_ok):
                    return True
                if self._work_left(pictures_ok, clips_ok):
                    time.sleep(_POLL / 2)  # other jobs hold this model's slots
                    continue
                if not self.wait:
                    recorder.save(job)
                    log.info("waiting_for_approval", status=job.status.value)
                    return False
                time.sleep(_POLL)
        except BaseException as exc:
            self._fail(exc)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            # a step cancelled before it started never reached ``_finished``: its slot goes
            # back here (a shared slot held by nobody would stay taken until it lapsed)
            for _kind, _seg, lease in self.inflight.values():
                if lease is not None:
                    lease.release()
            recorder.save(job)

    def _approved(self, kind: str) -> bool:
        return not self.previews or self.flow.approved(self.job, kind)

    def _status(self, pictures_ok: bool, clips_ok: bool) -> None:
        job = self.job
        if not self.previews:
            return
        if "pictures" in job.asked and not pictures_ok:
            status = JobStatus.AWAITING_PICTURES_APPROVAL
        elif "clips" in job.asked and not clips_ok:
            status = JobStatus.AWAITING_CLIPS_APPROVAL
        elif pictures_ok:
            status = JobStatus.CLIPS
        else:
            status = JobStatus.PICTURES
        if job.status != status:
            self.recorder.set_status(job, status)

    def _ask_previews(self) -> None:
        if not self.previews:
            return
        segs = self.job.segments
        first = segs[:PICTURE_PREVIEW]
        if self.flow.needs_request(self.job, "pictures") and all(_done(s.picture_path) for s in first):
            self.flow.request(self.job, Preview("pictures", files=[Path(s.picture_path) for s in first]))
        first = segs[:CLIP_PREVIEW]
        if (self.flow.needs_request(self.job, "clips") and self.want_clips
                and all(_done(s.clip_path) for s in first)):
            self.flow.request(self.job, Preview("clips", files=[Path(s.clip_path) for s in first]))

    def _clip_allowed(self, seg: VideoSegment, pictures_ok: bool, clips_ok: bool) -> bool:
        if not (pictures_ok and _done(seg.picture_path)):
            return False
        if not self.previews or clips_ok or self.stages.settings.clips_during_review:
            return True
        return "clips" not in self.job.asked and seg.index < CLIP_PREVIEW

    def _submit(self, pool: ThreadPoolExecutor, pictures_ok: bool, clips_ok: bool) -> None:
        stages = self.stages
        while self.need_pictures and (lease := self.pic_slots.try_acquire()) is not None:
            self._start(pool, "pictures", self.need_pictures.pop(0), lease, stages.make_picture)
        for seg in list(self.need_clips):
            if not self._clip_allowed(seg, pictures_ok, clips_ok):
                continue
            lease = self.clip_slots.try_acquire()
            if lease is None:
                break
            self.need_clips.remove(seg)
            self._start(pool, "clips", seg, lease, stages.make_clip)
        if self.need_narration and not self.narration_started:
            self.narration_started = True
            self._start(pool, "narration", None, None, lambda j, _s: stages.narrate(j, stop=self.stop.is_set))

    def _start(self, pool, kind: str, seg: VideoSegment | None, lease: Lease | None, fn) -> None:
        """Run ``fn(job, seg)`` on the pool; ``lease`` (the model slot taken for it) is
        released when it ends, or here if it never starts."""
        job, stop = self.job, self.stop
        try:
            if seg is not None and kind not in self.shown:
                self.shown.add(kind)
                todo = len(self.need_pictures if kind == "pictures" else self.need_clips) + 1
                self.recorder.note(job, "stage_started", stage=kind, todo=todo)
                self.recorder.progress.stage(job, kind, len(job.segments))

            def step() -> None:
                if stop.is_set():  # a sibling failed or the job was cancelled: never start (or pay)
                    raise JobCancelled("stopped")
                fn(job, seg)

            # each step runs in a copy of this context, so its logs carry the job id
            fut = pool.submit(contextvars.copy_context().run, step)
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        self.inflight[fut] = (kind, seg, lease)

    def _finished(self, fut: Future) -> None:
        kind, seg, lease = self.inflight.pop(fut)
        if lease is not None:
            lease.release()
        exc = fut.exception()
        if exc is not None:
            self._fail(exc)
            return
        if kind == "narration":
            self.need_narration = False
            return
        attr = "picture_path" if kind == "pictures" else "clip_path"
        total = len(self.job.segments)
        done = sum(1 for s in self.job.segments if _done(getattr(s, attr)))
        self.dirty = True
        self.reports.append((kind, done, total))
        if done == total:
            self.recorder.note(self.job, "stage_finished", stage=kind)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None or (isinstance(self.error, JobCancelled) and str(self.error) == "stopped"):
            self.error = exc
        self.stop.set()

    def _complete(self, pictures_ok: bool, clips_ok: bool) -> bool:
        segs = self.job.segments
        if self.want_pictures and not all(_done(s.picture_path) for s in segs):
            return False
        if self.want_clips and not all(_done(s.clip_path) for s in segs):
            return False
        if self.need_narration:
            return False
        return not self.previews or (pictures_ok and (clips_ok or not self.want_clips))

    def _work_left(self, pictures_ok: bool, clips_ok: bool) -> bool:
        return bool(self.need_pictures) or any(
            self._clip_allowed(s, pictures_ok, clips_ok) for s in self.need_clips
        ) or (self.need_narration and not self.narration_started)
