"""Job folders: one per job under the work folder, safe names, atomic writes, cleanup.

A job id never becomes a path by itself: it must match ``JOB_ID_PATTERN`` and the
resolved folder must sit directly under the work folder, so ``../`` or absolute ids
are refused. Every file a stage writes goes through ``atomic_path``: it is written
under a temporary name and renamed into place only when complete, so a crash or a
failure never leaves a half-written file that a later run would take as finished.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

import structlog

from ..errors import InputError

log = structlog.get_logger(__name__)

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def new_job_id() -> str:
    return uuid.uuid4().hex


def _check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise InputError(f"invalid job id {job_id!r}", code="bad_job_id")
    return job_id


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` on success.

    The temporary name keeps the suffix, so tools that pick a format from the file name
    (FFmpeg, Pillow) still do the right thing. On any exception the temporary file is
    removed and ``final`` is left as it was.
    """
    final = Path(final)
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.part{final.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class FileManager:
    """Owns the work folder: creates, lists and deletes job folders inside it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def job_dir(self, job_id: str) -> Path:
        """The folder of ``job_id`` (not created). Refuses ids that would escape the root."""
        path = (self.root / _check_job_id(job_id)).resolve()
        if path.parent != self.root:
            raise InputError(f"job id {job_id!r} escapes the work folder", code="bad_job_id")
        return path

    def create_job_dir(self, job_id: str) -> Path:
        path = self.job_dir(job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, job_id: str, name: str) -> Path:
        """A file inside the job's folder; ``name`` may have sub-folders but cannot escape."""
        base = self.job_dir(job_id)
        target = (base / name).resolve()
        if base not in target.parents:
            raise InputError(f"file name {name!r} escapes the job folder", code="bad_job_id")
        return target

    def save_file(self, job_id: str, name: str, data: bytes) -> Path:
        """Write ``data`` to ``name`` in the job's folder atomically."""
        target = self.path(job_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        return target

    def cleanup_job(self, job_id: str) -> bool:
        """Delete the job's folder and everything in it. True if there was one."""
        path = self.job_dir(job_id)
        if not path.exists():
            return False
        shutil.rmtree(path, ignore_errors=True)
        log.info("job_files_deleted", job_id=job_id)
        return not path.exists()

    def cleanup_old(self, max_age_seconds: float, *, now: float | None = None) -> list[str]:
        """Delete job folders not modified for ``max_age_seconds``; return their ids.

        Only folders whose names are valid job ids are touched: anything else an
        operator put in the work folder is left alone.
        """
        if not self.root.exists():
            return []
        cutoff = (time.time() if now is None else now) - max_age_seconds
        removed = []
        for entry in self.root.iterdir():
            if not entry.is_dir() or entry.is_symlink() or not JOB_ID_PATTERN.fullmatch(entry.name):
                continue
            if _newest_mtime(entry) < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        if removed:
            log.info("old_job_files_deleted", count=len(removed))
        return removed


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
    return newest
