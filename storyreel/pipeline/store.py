"""Job state, saved after every step so a stage can tell what is already done.

``LocalJobStore`` keeps ``job.json`` in the job's folder (the CLI's store); the bot's
Redis store implements the same two methods.
"""

from __future__ import annotations

import json
import time
from typing import Protocol

from ..media.files import FileManager
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
