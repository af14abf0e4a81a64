"""Job state, saved after every step so a stage can tell what is already done.

``LocalJobStore`` keeps ``job.json`` in the job's folder (the CLI's store); the bot's
Redis store implements the same two methods. ``sweep_ended`` deletes the folders a host
keeps for jobs that have ended elsewhere.
"""

from __future__ import annotations

import json
import time
from typing import Protocol

from ..media.files import JOB_ID_PATTERN, FileManager
from ..models import Job


class JobStore(Protocol):
    def save(self, job: Job) -> None: ...

    def load(self, job_id: str) -> Job | None: ...


class LocalJobStore:
    """``job.json`` in the job folder, written atomically."""

    def __init__(self, files: FileManager) -> None:
        self.files = files

    def save(self, job: Job) -> None:
        job.updated_at = time.time()
        if not self.files.job_dir(job.job_id).exists():
            return  # the job was cleaned up (cancelled or delivered): nothing to record
        self.files.save_file(job.job_id, "job.json", json.dumps(job.to_dict(), ensure_ascii=False).encode())

    def load(self, job_id: str) -> Job | None:
        path = self.files.path(job_id, "job.json")
        if not path.exists():
            return None
        return Job.from_dict(json.loads(path.read_text(encoding="utf-8")))


def sweep_ended(files: FileManager, store: JobStore) -> list[str]:
    """Delete this host's folders of jobs that have ended; their ids. A job whose steps ran
    on several hosts has a folder on each, and only the host that ends it deletes its own;
    the others' go here (a folder whose job is still going, or has no record, is kept: the
    age-based cleanup takes those)."""
    removed = []
    for folder in sorted(files.root.iterdir()) if files.root.is_dir() else []:
        if not folder.is_dir() or not JOB_ID_PATTERN.fullmatch(folder.name):
            continue
        job = store.load(folder.name)
        if job is not None and job.status.finished and files.cleanup_job(folder.name):
            removed.append(folder.name)
    return removed
