"""Reading what a media file holds, through PyAV (FFmpeg's libraries; no ffprobe needed).

The static FFmpeg that ``imageio-ffmpeg`` ships comes without ``ffprobe``, so probing
goes through the libraries PyAV bundles instead: the same demuxers, read in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import MediaError


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    size: int
    duration: float
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    fps: float | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format_name: str = ""

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def probe(path: Path) -> MediaInfo:
    """Streams, duration and size of ``path``; ``MediaError`` if it is not media."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            vstream = next(iter(container.streams.video), None)
            astream = next(iter(container.streams.audio), None)
            duration = _duration(container, vstream, astream)
            info = dict(path=path, size=path.stat().st_size, duration=duration,
                        format_name=container.format.name)
            if vstream is not None:
                rate = vstream.average_rate or vstream.guessed_rate
                info.update(
                    video_codec=vstream.codec_context.name,
                    width=vstream.codec_context.width,
                    height=vstream.codec_context.height,
                    pix_fmt=vstream.codec_context.pix_fmt,
                    fps=float(rate) if rate else None,
                )
            if astream is not None:
                info.update(
                    audio_codec=astream.codec_context.name,
                    sample_rate=astream.codec_context.sample_rate,
                    channels=astream.codec_context.channels,
                )
            return MediaInfo(**info)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"cannot read media {path.name}: {exc}", code="media_unreadable") from exc


def _duration(container, vstream, astream) -> float:
    if container.duration is not None:
        return container.duration / av.time_base
    for stream in (vstream, astream):
        if stream is not None and stream.duration is not None and stream.time_base:
            return float(stream.duration * Fraction(stream.time_base))
    return 0.0


def audio_samples(path: Path, *, rate: int = 16000) -> np.ndarray:
    """The whole audio track of ``path`` as mono float32 samples in -1…1 at ``rate`` Hz."""
    try:
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaError(f"cannot decode audio of {Path(path).name}: {exc}", code="media_unreadable") from exc
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def video_frame_at(path: Path, seconds: float) -> np.ndarray:
    """The decoded RGB frame shown at ``seconds`` (the first frame at or after it)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time + 1e-6 >= seconds:
                return frame.to_ndarray(format="rgb24")
    raise MediaError(f"no frame at {seconds}s in {Path(path).name}")
