"""Paid results every host reaches (``pipeline.results.Results`` in Redis).

A job's kept files are one hash, ``storyreel:results:{job_id}`` (field: the result's
name, ``narration/007``; value: the file's bytes), living as long as the job's record
(a day after its last change) and deleted when the job ends. A narration piece of a
5-second segment is about 240 KB (PCM, 24 kHz), so a 48-segment job holds about 12 MB
in Redis while it runs.

Keeping is best effort: when Redis refuses (full, unreachable) the piece stays on this
host's disk and only a resume on another host would pay for it again; that is logged,
and the job goes on.
"""

from __future__ import annotations

from pathlib import Path

import redis as redis_lib
import structlog

from .. import redis_keys as keys
from ..media.files import atomic_path
from .state import JOB_TTL

log = structlog.get_logger(__name__)


class RedisResults:
    """``Results`` in Redis. ``redis`` must return bytes (``decode_responses=False``)."""

    def __init__(self, redis: redis_lib.Redis, ttl: float = JOB_TTL) -> None:
        self.redis, self.ttl = redis, int(ttl)

    def keep(self, job_id: str, name: str, path: Path) -> None:
        try:
            pipe = self.redis.pipeline()
            pipe.hset(keys.results(job_id), name, Path(path).read_bytes())
            pipe.expire(keys.results(job_id), self.ttl)
            pipe.execute()
        except redis_lib.RedisError as exc:
            log.warning("result_not_kept", name=name, error=str(exc))

    def fetch(self, job_id: str, name: str, path: Path) -> bool:
        data = self.redis.hget(keys.results(job_id), name)
        if data is None:
            return False
        with atomic_path(Path(path)) as tmp:
            tmp.write_bytes(data)
        log.info("result_restored", name=name, size=len(data))
        return True

    def forget(self, job_id: str) -> None:
        try:
            self.redis.delete(keys.results(job_id))
        except redis_lib.RedisError as exc:  # it expires with the job's TTL
            log.warning("results_not_forgotten", error=str(exc))
