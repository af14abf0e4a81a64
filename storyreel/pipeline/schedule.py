"""Scheduling pictures, clips and narration so a job takes as little wall time as its
providers allow.

- Concurrency is per model (``capacity.py``): a step starts when its model has a free
  slot, whichever job (and, in the bot, whichever worker) it belongs to; the slot is
  held until the step ends.
- A segment's clip starts as soon as its picture exists and the pictures are approved;
  narration starts alongside as soon as the script is approved.
- The first 5 pictures are shown for approval as soon as they exist while the rest keep
  coming, and follow as numbered contact sheets of 12; the same for the first 3 clips
  (no sheets). Until the clips are approved only those 3 are made, unless
  ``CLIPS_DURING_REVIEW`` (clips cost 5× pictures).
- While a gate is open the person may have any picture (clip) shown so far redone: the
  edit is applied between two passes of the loop (a new version of the segment, a new
  task), and once the redone ones exist the gate is asked again with them. A clip waits
  for its segment's newest picture.
- When the pictures follow the first one (a reference picture, or the cheaper model
  that needs one), picture 1 is made first and the rest start once it exists.
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
from ..media.sheets import contact_sheet
from .approvals import CLIP_PREVIEW, PICTURE_PREVIEW, ApprovalFlow, Preview
from .capacity import Lease
from .choices import waits_for_first
from .stages import Stages, done as _done

log = structlog.get_logger(__name__)

_POLL = 0.1  # seconds between looks at the approvals while steps run
SHEET = 12  # pictures on one contact sheet


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
        self.clip_slots = {id(p): stages.capacity.for_provider(p)
                           for p in (stages.providers.motion, stages.providers.local_motion) if p is not None}
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
        clip_limit = sum(slots.limit for slots in self.clip_slots.values())
        pool = ThreadPoolExecutor(max_workers=self.pic_slots.limit + clip_limit + 1, thread_name_prefix="segment")
        try:
            while True:
                pictures_ok = clips_ok = False
                if self.error is None:
                    try:
                        self.stages.calls.stop.check()
                        self._apply_edits()
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
        job, flow = self.job, self.flow
        segs = job.segments
        for kind, attr, count in (("pictures", "picture_path", PICTURE_PREVIEW), ("clips", "clip_path", CLIP_PREVIEW)):
            if kind == "clips" and not self.want_clips:
                continue
            if not flow.needs_request(job, kind):
                continue
            if job.rounds.get(kind) and flow.approved(job, kind):
                continue  # approved while the redo was being made: nothing left to ask
            shown = job.redone.get(kind) if job.rounds.get(kind) else [s.index for s in segs[:count]]
            if shown and all(_done(getattr(segs[i], attr)) for i in shown):
                flow.request(job, Preview(kind, files=[Path(getattr(segs[i], attr)) for i in shown],
                                          numbers=[i + 1 for i in shown]))
        if "pictures" in job.asked:
            self._show_sheets()

    def _show_sheets(self) -> None:
        """The pictures after the first 5, as numbered contact sheets of ``SHEET`` while
        the pictures gate is open: each sheet once all its pictures exist."""
        job, segs = self.job, self.job.segments
        for first in range(PICTURE_PREVIEW, len(segs), SHEET):
            part = segs[first:first + SHEET]
            name = f"sheet:pictures:{first + 1}"
            if name in job.asked or not all(_done(s.picture_path) for s in part):
                continue
            if self.flow.approved(job, "pictures"):
                return  # approved: nobody is looking at them any more
            sheet = self.stages.folder(job, "sheets") / f"pictures_{first + 1:03d}.jpg"
            contact_sheet([Path(s.picture_path) for s in part], sheet, numbers=[s.index + 1 for s in part])
            self.flow.show(job, Preview("pictures", files=[sheet], numbers=[s.index + 1 for s in part], sheet=True),
                           name)

    def _apply_edits(self) -> None:
        """Make the edits asked at an open pictures or clips gate: the redone segments
        go back into the queues (ahead of the rest: someone is waiting for them)."""
        if not self.previews:
            return
        for edit in self.flow.pending_edits(self.job):
            if edit.kind in ("pictures", "clips") and any(self._busy(self.job.segments[i]) for i in edit.items):
                break  # a step of its segment is running (a clip of the picture): the edit waits for it
            self.stages.apply_edit(self.job, edit, self.stages.edit_cost(self.job, edit))
            if edit.kind not in ("pictures", "clips"):
                continue
            queue = self.need_pictures if edit.kind == "pictures" else self.need_clips
            for index in sorted(edit.items, reverse=True):
                seg = self.job.segments[index]
                if seg in queue:
                    queue.remove(seg)
                queue.insert(0, seg)
                if edit.kind == "pictures" and self.want_clips and seg not in self.need_clips:
                    self.need_clips.append(seg)

    def _picture_allowed(self, seg: VideoSegment) -> bool:
        """Picture 1 first when the others follow it; any picture once it exists (a
        picture being made, or redone, has no file recorded until it is done)."""
        return seg.index == 0 or not waits_for_first(self.job.options) or _done(self.job.segments[0].picture_path)

    def _busy(self, seg: VideoSegment) -> bool:
        """A step of ``seg`` (its picture or its clip) is running."""
        return any(s is seg for _kind, s, _lease in self.inflight.values())

    def _clip_allowed(self, seg: VideoSegment, pictures_ok: bool, clips_ok: bool) -> bool:
        if not (pictures_ok and _done(seg.picture_path)):
            return False
        if not self.previews or clips_ok or self.stages.settings.clips_during_review:
            return True
        if self.job.rounds.get("clips") and seg.index in self.job.redone.get("clips", []):
            return True  # a redone clip, for the person at the open clips gate
        return "clips" not in self.job.asked and seg.index < CLIP_PREVIEW

    def _submit(self, pool: ThreadPoolExecutor, pictures_ok: bool, clips_ok: bool) -> None:
        stages = self.stages
        for seg in list(self.need_pictures):
            if not self._picture_allowed(seg):
                continue
            lease = self.pic_slots.try_acquire()
            if lease is None:
                break
            self.need_pictures.remove(seg)
            self._start(pool, "pictures", seg, lease, stages.make_picture)
        full: set[int] = set()  # the animators whose slots are all taken in this pass
        for seg in list(self.need_clips):
            if not self._clip_allowed(seg, pictures_ok, clips_ok):
                continue
            animator = id(stages.motion_for(self.job, seg))
            if animator in full:
                continue
            lease = self.clip_slots[animator].try_acquire()
            if lease is None:
                full.add(animator)
                continue
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
        return any(self._picture_allowed(s) for s in self.need_pictures) or any(
            self._clip_allowed(s, pictures_ok, clips_ok) for s in self.need_clips
        ) or (self.need_narration and not self.narration_started)
