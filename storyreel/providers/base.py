"""The five capabilities the pipeline needs, one small interface each.

Every implementation takes and returns plain values and dataclasses, knows nothing of
Telegram, Flask or Celery, and raises only ``storyreel.errors`` exceptions: a provider
maps its own failures (HTTP, SDK, subprocess) at its boundary.

Retries: providers do not retry on their own unless their SDK does (documented per
provider); the pipeline's scheduler is the one layer that retries a failed segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..models import Script, ScriptSegment, Transcript, VideoFormat


@runtime_checkable
class ScriptWriter(Protocol):
    """Writes a narration script for ``segment_count`` × ``segment_seconds`` seconds."""

    name: str

    def write(
        self, prompt: str, *, language: str, segment_count: int, segment_seconds: float
    ) -> Script: ...


@runtime_checkable
class PictureMaker(Protocol):
    """Makes one still picture (PNG) for a segment, of exactly ``fmt``'s size."""

    name: str

    def make(self, segment: ScriptSegment, out_path: Path, fmt: VideoFormat, *, seed: str) -> Path: ...


@runtime_checkable
class Animator(Protocol):
    """Turns a picture into an MP4 clip of ``seconds`` seconds (H.264, yuv420p, ``fmt``).

    ``max_bitrate`` (bits per second) is a ceiling the clip should respect so that the
    concatenated video fits the upload limit without a second encode; None means no cap.
    """

    name: str

    def animate(
        self,
        picture: Path,
        segment: ScriptSegment,
        out_path: Path,
        fmt: VideoFormat,
        *,
        seconds: float,
        max_bitrate: int | None = None,
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

    def speak(self, text: str, out_path: Path, *, language: str) -> Path: ...


@runtime_checkable
class Transcriber(Protocol):
    """Turns speech in an audio file (any format FFmpeg reads) into text."""

    name: str

    def transcribe(self, audio_path: Path, *, language: str | None = None) -> Transcript: ...


@dataclass
class Providers:
    """The provider chosen for each capability (built by ``factory.build_providers``)."""

    script: ScriptWriter
    pictures: PictureMaker
    motion: Animator
    speech: Narrator
    transcriber: Transcriber | None = None
