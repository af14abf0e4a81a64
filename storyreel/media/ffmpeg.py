"""Finding and running FFmpeg.

The binary is, in order: ``FFMPEG_BINARY`` (setting or environment), ``ffmpeg`` on
``PATH``, then the static build the ``imageio-ffmpeg`` package ships. Nothing is ever
downloaded. Every failure becomes a ``MediaError`` here, with FFmpeg's last lines in the
detail (for the log) and never in the user's message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from functools import lru_cache
from pathlib import Path
from typing import IO, Sequence

import structlog

from ..log import ms_since
from ..errors import MediaError
from ..settings import get_settings

log = structlog.get_logger(__name__)

_BASE_ARGS = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")


@lru_cache(maxsize=8)
def _locate(explicit: str | None, search_path: str | None) -> str:
    # search_path is only part of the cache key: a changed PATH means a new look-up
    if explicit:
        path = shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
        if not path:
            raise MediaError(f"FFMPEG_BINARY={explicit!r} does not exist", code="ffmpeg_missing")
        return _check(path)
    on_path = shutil.which("ffmpeg")
    if on_path:
        return _check(on_path)
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise MediaError("no ffmpeg on PATH and imageio-ffmpeg is not installed",
                         code="ffmpeg_missing") from exc
    try:
        return _check(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise MediaError(str(exc), code="ffmpeg_missing") from exc


def _check(path: str) -> str:
    try:
        proc = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MediaError(f"ffmpeg at {path} cannot run: {exc}", code="ffmpeg_missing") from exc
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg at {path} exited {proc.returncode}", code="ffmpeg_missing")
    return path


def ffmpeg_binary(explicit: str | None = None) -> str:
    """The FFmpeg executable to use; raises ``MediaError(code="ffmpeg_missing")``."""
    if explicit is None:  # FFMPEG_BINARY, read with every other setting
        explicit = get_settings().ffmpeg_binary
    return _locate(explicit, os.environ.get("PATH"))


def run_ffmpeg(
    args: Sequence[str | os.PathLike],
    *,
    binary: str | None = None,
    stdin: IO[bytes] | None = None,
    timeout: float | None = 3600,
    what: str = "ffmpeg",
    cwd: str | os.PathLike | None = None,
) -> None:
    """Run FFmpeg with ``args`` (inputs, filters, output); raise ``MediaError`` on failure."""
    exe = ffmpeg_binary(binary)
    cmd = [exe, *_BASE_ARGS, *map(str, args)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, stdin=stdin or subprocess.DEVNULL, capture_output=True, timeout=timeout, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{what}: ffmpeg timed out after {timeout}s") from exc
    except OSError as exc:
        raise MediaError(f"{what}: ffmpeg cannot run: {exc}", code="ffmpeg_missing") from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-6:]
        raise MediaError(f"{what}: ffmpeg exited {proc.returncode}: {' | '.join(tail)}")
    log.debug("ffmpeg_done", what=what, duration_ms=ms_since(started))


def popen_ffmpeg(args: Sequence[str | os.PathLike], *, binary: str | None = None) -> subprocess.Popen:
    """Start FFmpeg reading raw input from a pipe (the caller writes, closes, then ``finish``)."""
    exe = ffmpeg_binary(binary)
    try:
        return subprocess.Popen(
            [exe, *_BASE_ARGS, *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise MediaError(f"ffmpeg cannot run: {exc}", code="ffmpeg_missing") from exc


def finish(proc: subprocess.Popen, *, what: str = "ffmpeg", timeout: float = 600) -> None:
    """Wait for a piped FFmpeg; raise ``MediaError`` with its stderr tail on failure."""
    try:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
    except BrokenPipeError:
        pass
    proc.stdin = None  # closed above; communicate() must not flush it again
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise MediaError(f"{what}: ffmpeg timed out") from exc
    if proc.returncode != 0:
        tail = (err or b"").decode("utf-8", "replace").strip().splitlines()[-6:]
        raise MediaError(f"{what}: ffmpeg exited {proc.returncode}: {' | '.join(tail)}")
