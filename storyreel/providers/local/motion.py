"""Offline motion: a smooth Ken Burns (pan and zoom) clip of a still picture.

Frames are cut from the picture with sub-pixel boxes (Pillow's ``resize(box=…)``), so
the camera glides with no integer-rounding jitter (FFmpeg's ``zoompan`` steps whole
pixels and shakes), eased in and out, and piped as raw RGB into one x264 encode.
Every clip has the same codec parameters, so the assembly can join them without
re-encoding.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import structlog
from PIL import Image, ImageOps

from ...log import ms_since
from ...errors import MediaError
from ...media.ffmpeg import finish, popen_ffmpeg
from ...media.files import atomic_path
from ...models import ScriptSegment, VideoFormat

log = structlog.get_logger(__name__)

#: how far the camera zooms at most (1.12 = 12 %); pictures keep their captions inside this
MAX_ZOOM = 1.12

# (zoom at start, zoom at end, horizontal position 0…1 at start, at end, vertical start, end)
_MOVES = (
    (1.0, MAX_ZOOM, 0.5, 0.55, 0.5, 0.45),  # push in, drifting a little right and up
    (MAX_ZOOM, 1.0, 0.45, 0.5, 0.55, 0.5),  # pull out
    (1.08, 1.08, 0.0, 1.0, 0.5, 0.5),  # pan left to right
    (1.08, 1.08, 1.0, 0.0, 0.5, 0.5),  # pan right to left
)

#: x264 settings shared by every local clip, so the assembly can stream-copy them
X264_ARGS = ("-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p")


def _ease(t: float) -> float:
    """Ease in and out (a cosine ramp): the camera starts and stops without a jolt."""
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _box(move, t: float, width: int, height: int) -> tuple[float, float, float, float]:
    z0, z1, x0, x1, y0, y1 = move
    e = _ease(t)
    zoom = z0 + (z1 - z0) * e
    w, h = width / zoom, height / zoom
    left = (width - w) * (x0 + (x1 - x0) * e)
    top = (height - h) * (y0 + (y1 - y0) * e)
    return (left, top, left + w, top + h)


def encoder_args(fmt: VideoFormat, max_bitrate: int | None) -> list[str]:
    """x264 arguments for a clip: constant quality, capped when a bitrate budget is given."""
    args = [*X264_ARGS, "-crf", "21", "-r", str(fmt.fps), "-g", str(fmt.fps * 2)]
    if max_bitrate:
        args += ["-maxrate", str(int(max_bitrate)), "-bufsize", str(int(max_bitrate * 2))]
    return args


class KenBurnsAnimator:
    """Implements ``Animator`` offline; the camera move is picked by the segment's index."""

    name = "local"
    model = "local-motion"

    def __init__(self, ffmpeg_binary: str | None = None) -> None:
        self.ffmpeg_binary = ffmpeg_binary

    def animate(
        self,
        picture: Path,
        segment: ScriptSegment,
        out_path: Path,
        fmt: VideoFormat,
        *,
        seconds: float,
        max_bitrate: int | None = None,
        task: object = None,
        picture_task: object = None,
        stop: object = None,
    ) -> Path:
        """Render the picture with an eased pan and zoom into an H.264 clip of ``seconds``
        (a few seconds of CPU: nothing to stop early, so ``stop`` is not asked)."""
        started = time.perf_counter()
        try:
            with Image.open(picture) as img:
                source = ImageOps.fit(img.convert("RGB"), (fmt.width, fmt.height), Image.LANCZOS)
        except (OSError, ValueError) as exc:
            raise MediaError(f"cannot read picture {picture}: {exc}") from exc
        frames = max(1, round(seconds * fmt.fps))
        move = _MOVES[segment.index % len(_MOVES)]
        out_path = Path(out_path)
        with atomic_path(out_path) as tmp:
            proc = popen_ffmpeg(
                [
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{fmt.width}x{fmt.height}",
                    "-r", str(fmt.fps), "-i", "-",
                    "-frames:v", str(frames), *encoder_args(fmt, max_bitrate),
                    "-an", "-movflags", "+faststart", str(tmp),
                ],
                binary=self.ffmpeg_binary,
            )
            try:
                for n in range(frames):
                    t = n / (frames - 1) if frames > 1 else 0.0
                    box = _box(move, t, fmt.width, fmt.height)
                    frame = source.resize((fmt.width, fmt.height), Image.BILINEAR, box=box)
                    proc.stdin.write(frame.tobytes())
            except BrokenPipeError:
                pass  # ffmpeg died; finish() reports why
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finish(proc, what="ken_burns")
        log.debug("clip_rendered", segment=segment.index, frames=frames,
                  duration_ms=ms_since(started))
        return out_path
