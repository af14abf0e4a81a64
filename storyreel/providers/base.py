"""The five capabilities the pipeline needs, one small interface each.

Every implementation takes and returns plain values and dataclasses, knows nothing of
Telegram, Flask or Celery, and raises only ``storyreel.errors`` exceptions: a provider
maps its own failures (HTTP, SDK, subprocess) at its boundary.

Retries: providers do not retry on their own unless their SDK does (documented per
provider). What is left is mapped to ``TransientError`` (worth another attempt) or
``PermanentError``; the pipeline's call runner (``storyreel.pipeline.calls``) is the one
layer that tries a step again.

Lifecycle: a provider is built once per process (``factory.build_providers``) and used by
every job of it, from several threads; ``close()`` (or ``with``) releases its clients.
What is particular to one call — the job's cancel and stop checks — comes with the call
(``stop``), never with the constructor.
"""

from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, runtime_checkable

from ..errors import JobCancelled, StepInterrupted
from ..models import Script, ScriptSegment, Transcript, VideoFormat


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Stop:
    """Why a long provider wait should end early, asked between polls: the job was
    cancelled (a remote task is then deleted: nobody wants it) or this process is
    stopping (the task is left running, its id kept, for another worker to resume)."""

    cancelled: Callable[[], bool] = _never
    interrupted: Callable[[], bool] = _never

    def check(self) -> None:
        """Raise ``JobCancelled`` or ``StepInterrupted`` when it is time to stop."""
        if self.cancelled():
            raise JobCancelled("cancelled")
        if self.interrupted():
            raise StepInterrupted("the process is shutting down")


#: a call nothing can stop early
NEVER = Stop()


# ---- usage: what a call consumed, for the cost ledger ----------------------------
@dataclass(frozen=True)
class Usage:
    """What one provider call consumed: ``units`` of ``unit`` ("image", "second",
    "character", "input_token"…) on ``model``. Prices come from the settings, keyed
    ``"{model}/{unit}"``."""

    model: str
    units: float
    unit: str


_usage: contextvars.ContextVar[list[Usage] | None] = contextvars.ContextVar("storyreel_usage", default=None)


def report_usage(model: str, units: float, unit: str) -> None:
    """Called by a provider for each billable thing it did (no-op outside ``metered``)."""
    sink = _usage.get()
    if sink is not None:
        sink.append(Usage(model, float(units), unit))


@contextmanager
def metered() -> Iterator[list[Usage]]:
    """Collect the ``report_usage`` calls made inside the block (this thread/context)."""
    sink: list[Usage] = []
    token = _usage.set(sink)
    try:
        yield sink
    finally:
        _usage.reset(token)


# ---- task records: what makes a paid step idempotent --------------------
@dataclass
class TaskRef:
    """The record of one segment's paid provider task, kept in the job's state.

    A provider that creates remote tasks calls ``started(task_id)`` *before* it waits for
    the task, and ``finished(output_url)`` when it has the result; the pipeline persists
    both through ``on_change``. Given a ref that already holds a ``task_id``, the provider
    polls that task instead of creating (and paying for) a new one.
    """

    task_id: str | None = None
    output_url: str | None = None
    finished_at: float | None = None
    on_change: Callable[["TaskRef"], None] | None = field(default=None, repr=False, compare=False)

    def started(self, task_id: str) -> None:
        self.task_id, self.output_url, self.finished_at = task_id, None, None
        self._changed()

    def finished(self, output_url: str | None) -> None:
        self.output_url, self.finished_at = output_url, time.time()
        self._changed()

    def forget(self) -> None:
        """The task failed for good: the next attempt creates a new one."""
        self.task_id, self.output_url, self.finished_at = None, None, None
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


@runtime_checkable
class ScriptWriter(Protocol):
    """Writes a narration script for ``segment_count`` × ``segment_seconds`` seconds.

    The script carries ``look`` (one description of the recurring subject and style,
    repeated in every image prompt) and ``highlights`` (the segments most worth
    animating, most visual first). ``revise`` applies a person's note ("shorter", "more
    about the 18th century") to a script and returns the new one, same segment count."""

    name: str

    def write(
        self, prompt: str, *, language: str, segment_count: int, segment_seconds: float
    ) -> Script: ...

    def revise(
        self, script: Script, note: str, *, prompt: str, language: str, segment_count: int, segment_seconds: float
    ) -> Script: ...


@dataclass(frozen=True)
class PictureStyle:
    """What every picture of a job shares: the chosen visual style, the script's one
    description of its recurring subject, and the pictures to follow in style and
    character. A provider uses what it can (the offline one: the palette)."""

    name: str = ""  # the visual style's key ("photo", "anime"…); "": none chosen
    prompt: str = ""  # the style's words, added to each picture's description
    look: str = ""  # the script's description of the recurring subject and style
    references: tuple[Path, ...] = ()  # up to 3 pictures to follow (style and character)
    fast: bool = False  # the provider's cheaper model, where it has one (it may need a reference)


@runtime_checkable
class PictureMaker(Protocol):
    """Makes one still picture (PNG) for a segment, of exactly ``fmt``'s size."""

    name: str

    #: the model calls are billed and rate limited under (concurrency is per model)
    model: str

    def make(
        self, segment: ScriptSegment, out_path: Path, fmt: VideoFormat, *, seed: str, task: TaskRef | None = None,
        stop: Stop = NEVER, style: PictureStyle | None = None,
    ) -> Path: ...


@runtime_checkable
class Animator(Protocol):
    """Turns a picture into an MP4 clip of ``seconds`` seconds (H.264, yuv420p, ``fmt``).

    ``max_bitrate`` (bits per second) is a ceiling the clip should respect so that the
    concatenated video fits the upload limit without a second encode; None means no cap.

    ``task`` is this clip's task record; ``picture_task`` the picture's (a cloud animator
    may pass the picture on by its ``output_url`` instead of uploading it).
    """

    name: str
    model: str

    def animate(
        self,
        picture: Path,
        segment: ScriptSegment,
        out_path: Path,
        fmt: VideoFormat,
        *,
        seconds: float,
        max_bitrate: int | None = None,
        task: TaskRef | None = None,
        picture_task: TaskRef | None = None,
        stop: Stop = NEVER,
    ) -> Path: ...


@runtime_checkable
class Narrator(Protocol):
    """Speaks ``text`` in ``language`` ("ru", "en", …) into an audio file at ``out_path``.

    The file is WAV (PCM) unless the implementation documents otherwise; its real
    format is found by probing, never assumed from the name.
    """

    name: str
    #: the longest text one call accepts; the caller splits longer texts at sentences
    max_chars: int
    #: the voices a person may choose from (the first is the default)
    voices: tuple[str, ...]

    def speak(self, text: str, out_path: Path, *, language: str, voice: str | None = None,
              style: str = "") -> Path:
        """``voice`` None: the configured one; ``style``: how to sound ("calm, warm")."""
        ...


@runtime_checkable
class Transcriber(Protocol):
    """Turns speech in an audio file (any format FFmpeg reads) into text."""

    name: str

    def transcribe(self, audio_path: Path, *, language: str | None = None) -> Transcript: ...


@dataclass
class Providers:
    """The provider chosen for each capability (built once per process by
    ``factory.build_providers``); ``close()`` or ``with`` releases their clients."""

    script: ScriptWriter
    pictures: PictureMaker
    motion: Animator
    speech: Narrator
    transcriber: Transcriber | None = None
    #: the offline animator for segments outside a job's motion budget (None: ``motion`` is it)
    local_motion: Animator | None = None
    #: the SDK clients the providers share (closed last, once each)
    clients: list = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Close every provider that holds a resource, then the shared clients."""
        seen: set[int] = set()
        for item in (self.script, self.pictures, self.motion, self.speech, self.transcriber, self.local_motion,
                     *self.clients):
            close = getattr(item, "close", None)
            if item is None or id(item) in seen or not callable(close):
                continue
            seen.add(id(item))
            close()

    def __enter__(self) -> "Providers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
