"""Media: real sample files made once per process (Pillow, FFmpeg), and what the server
reads from an upload (picture size, video duration and size, where the file is kept).
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from tests.fakes.botapi.wire import bad


@lru_cache(maxsize=32)
def sample_png(width: int = 160, height: int = 90, color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A real PNG: one colour with a lighter band."""
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(img).rectangle([0, height // 3, width, height // 2], fill=tuple(min(c + 80, 255) for c in color))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _ffmpeg(args: list[str], suffix: str) -> bytes:
    from storyreel.media.ffmpeg import ffmpeg_binary
    with tempfile.TemporaryDirectory() as tmp:  # a file, not a pipe: MP4 wants its index up front
        out = Path(tmp) / f"out{suffix}"
        subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", *args, str(out)],
                       check=True, capture_output=True, timeout=60)
        return out.read_bytes()


@lru_cache(maxsize=8)
def sample_mp4(seconds: float = 1.0, width: int = 160, height: int = 90) -> bytes:
    """A real H.264/AAC MP4 (test pattern and a tone) of ``seconds``."""
    return _ffmpeg(["-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=10:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    "-movflags", "+faststart"], ".mp4")


@lru_cache(maxsize=8)
def sample_voice(seconds: float = 1.0) -> bytes:
    """A real OGG/Opus voice note of ``seconds``, as Telegram clients record them."""
    return _ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}", "-ac", "1",
                    "-c:a", "libopus", "-b:a", "24k"], ".ogg")


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an uploaded picture; 400 if it is not one."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (OSError, ValueError) as exc:  # not an image Pillow knows
        raise bad("IMAGE_PROCESS_FAILED") from exc


def video_info(data: bytes) -> dict:
    """What the server reads from an uploaded video; zeros if it is not one."""
    import av
    try:
        with av.open(io.BytesIO(data)) as container:
            codec = container.streams.video[0].codec_context
            return {"duration": round((container.duration or 0) / av.time_base),
                    "width": codec.width, "height": codec.height}
    except (av.FFmpegError, OSError, ValueError, IndexError):  # Telegram shows it without metadata
        return {"duration": 0, "width": 0, "height": 0}


def audio_info(data: bytes) -> dict:
    """What the server reads from an uploaded voice note: its whole seconds (0 if unreadable)."""
    import av
    try:
        with av.open(io.BytesIO(data)) as container:
            return {"duration": round((container.duration or 0) / av.time_base)}
    except (av.FFmpegError, OSError, ValueError):
        return {"duration": 0}


def voice_kind(data: bytes) -> str | None:
    """The MIME type of a file ``sendVoice`` plays as a voice note (OGG/Opus, MP3, M4A);
    None for anything else, which the server sends as a document instead."""
    if data[:4] == b"OggS" and b"OpusHead" in data[:128]:
        return "audio/ogg"
    if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if data[4:8] == b"ftyp" and data[8:11] in (b"M4A", b"mp4", b"iso"):
        return "audio/mp4"
    return None


def document_mime(data: bytes) -> str:
    """The MIME type the server gives an uploaded file it keeps as a document."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/x-wav"
    if data[:4] == b"OggS":
        return "audio/ogg"
    return "application/octet-stream"


_KINDS = (  # magic bytes -> the folder and extension api.telegram.org uses
    (lambda d: d[:4] == b"OggS", "voice", ".oga"),
    (lambda d: d[:8] == b"\x89PNG\r\n\x1a\n", "photos", ".png"),
    (lambda d: d[:3] == b"\xff\xd8\xff", "photos", ".jpg"),
    (lambda d: d[4:8] == b"ftyp", "videos", ".mp4"),
    (lambda d: d[:3] == b"ID3" or d[:2] == b"\xff\xfb", "music", ".mp3"),
)
_FOLDERS = {"photo": "photos", "video": "videos", "document": "documents", "audio": "music", "voice": "voice"}


def file_path(data: bytes, n: int, kind: str | None = None) -> str:
    """The ``file_path`` getFile answers for file number ``n``: folder by kind, extension by content."""
    folder, ext = next(((f, e) for test, f, e in _KINDS if test(data)), ("documents", ""))
    return f"{_FOLDERS.get(kind, folder)}/file_{n}{ext}"
