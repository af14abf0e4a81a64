"""What the bot keeps in Redis, so any worker can take a job's next step: jobs,
approvals, cancels, the users' running jobs, step locks, rate limits, spending. The key
names are in ``storyreel.redis_keys``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass

import redis as redis_lib
import structlog
from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from .. import redis_keys as keys
from ..models import Job
from ..pipeline.approvals import KEY_TYPES
from ..pipeline.ledger import today_utc
from ..settings import Settings

_log = structlog.get_logger(__name__)

JOB_TTL = 86400
RUNNING = keys.RUNNING  # the jobs whose step should be running now
STALE_ACTIVE = 6 * 3600  # an "active" entry older than this was left by a crash


def connect(settings: Settings) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(settings.redis_url, decode_responses=True, health_check_interval=30)


class RedisSpending:
    """``Spending`` in Redis: a user's total for each UTC day, shared by every worker."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis

    def add(self, user_id: int | None, cost: float) -> None:
        if cost <= 0:
            return
        key = keys.spend(user_id, today_utc())
        pipe = self.redis.pipeline()
        pipe.incrbyfloat(key, cost)
        pipe.expire(key, 2 * 86400)
        pipe.execute()

    def today(self, user_id: int | None) -> float:
        value = self.redis.get(keys.spend(user_id, today_utc()))
        return float(value) if value else 0.0


class RedisJobStore:
    """``JobStore`` in Redis: any worker can load the job and go on."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis

    def save(self, job: Job) -> None:
        job.updated_at = time.time()
        self.redis.set(keys.job(job.job_id), json.dumps(job.to_dict(), ensure_ascii=False), ex=JOB_TTL)

    def load(self, job_id: str) -> Job | None:
        raw = self.redis.get(keys.job(job_id))
        return Job.from_dict(json.loads(raw)) if raw else None


_REFRESH = """
if redis.call('GET', KEYS[1]) == 'pending' then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 0
"""

_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""

# KEYS: the cancel flag, then the approval keys in KEY_TYPES order. ARGV: the reason, the
# flag's TTL, and the position (1-based) of the approval that must still be pending for
# the cancel to happen at all (0: none must). Only pending approvals become "cancelled":
# an approved one stays approved, so nobody takes its (already removed) buttons away again.
_CANCEL = """
local must = tonumber(ARGV[3])
if must > 0 and redis.call('GET', KEYS[must + 1]) ~= 'pending' then return false end
local first = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') and 1 or 0
local changed = {first}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == 'pending' then
    redis.call('SET', KEYS[i], 'cancelled', 'KEEPTTL')
    table.insert(changed, i - 1)
  end
end
return changed
"""


@dataclass(frozen=True)
class Cancel:
    """What one ``ApprovalManager.cancel`` did: whether it stopped the job (``first``: no
    reason was recorded before) and which approvals it turned from pending to cancelled
    (their buttons are still on screen)."""

    first: bool
    kinds: tuple[str, ...]


class ApprovalManager:
    """Approvals in Redis: ``approve`` for the ✅ press, ``cancel`` for ❌, ``/cancel``, a
    timeout or a user who blocked the bot, ``request`` and ``state`` for the pipeline.
    Transitions are atomic: of two presses of one button only the first changes anything.

    It also records which messages had their buttons taken away (``clear_once``), so no
    two of the parties that may do it (the press, the cancel, the step) do it twice.
    """

    def __init__(self, redis: redis_lib.Redis, ttl: float = 900) -> None:
        self.redis, self.ttl = redis, int(ttl)
        self._swap = redis.register_script(_SWAP)
        self._refresh = redis.register_script(_REFRESH)
        self._cancel = redis.register_script(_CANCEL)

    @staticmethod
    def key(job_id: str, kind: str) -> str:
        return keys.approval(job_id, KEY_TYPES.get(kind, kind))

    @staticmethod
    def _cleared_key(job_id: str) -> str:
        # beside the job's approval keys: the ids of its messages whose buttons are gone
        return keys.buttons_cleared(job_id)

    def request(self, job_id: str, kind: str) -> None:
        """Open the approval (a question asked again after an edit keeps it open for
        another ``ttl``; an answered one stays answered)."""
        key = self.key(job_id, kind)
        if not self.redis.set(key, "pending", ex=self.ttl, nx=True):
            self._refresh(keys=[key], args=[self.ttl])

    def approve(self, job_id: str, kind: str) -> bool:
        """True if this call approved a pending request (False: answered before, or expired)."""
        return bool(self._swap(keys=[self.key(job_id, kind)], args=["pending", "approved"]))

    def state(self, job_id: str, kind: str) -> bool | None:
        value = self.redis.get(self.key(job_id, kind))
        if value == "approved":
            return True
        if value == "cancelled":
            return False
        return None

    def raw(self, job_id: str, kind: str) -> str | None:
        return self.redis.get(self.key(job_id, kind))

    def cancel(self, job_id: str, reason: str = "user", *, pressed: str | None = None) -> Cancel | None:
        """Stop the job: record ``reason`` (the first reason stays) for the pipeline's
        cancel check on every worker, and turn its pending approvals into cancelled ones.
        With ``pressed`` (the ❌ of that approval, or its timeout) nothing happens unless
        that approval is still pending: None then."""
        kinds = list(KEY_TYPES)
        must = kinds.index(pressed) + 1 if pressed else 0
        done = self._cancel(keys=[keys.cancel(job_id), *(self.key(job_id, k) for k in kinds)],
                            args=[reason, JOB_TTL, must])
        if done is None:
            return None
        return Cancel(first=bool(done[0]), kinds=tuple(kinds[i - 1] for i in done[1:]))

    def cancel_reason(self, job_id: str) -> str | None:
        return self.redis.get(keys.cancel(job_id))

    def clear_once(self, job_id: str, message_id: int) -> bool:
        """True the first time it is asked for ``message_id``: the caller takes its buttons
        away; every later call (another party, a redelivered task) gets False."""
        key = self._cleared_key(job_id)
        pipe = self.redis.pipeline()
        pipe.sadd(key, message_id)
        pipe.expire(key, JOB_TTL)
        return bool(pipe.execute()[0])

    def forget(self, job_id: str) -> None:
        # the record of cleared buttons stays until it expires: a cancel still in flight
        # when the job ends must find its buttons already taken away
        self.redis.delete(*(self.key(job_id, k) for k in KEY_TYPES))


_CLAIM = """
local key, limit, now, stale, job = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - stale)
if redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now, job)
redis.call('EXPIRE', key, stale)
return 1
"""


class ActiveJobs:
    """At most N running jobs per user, claimed atomically."""

    def __init__(self, redis: redis_lib.Redis, limit: int) -> None:
        self.redis, self.limit = redis, limit
        self._claim = redis.register_script(_CLAIM)

    def claim(self, user_id: int, job_id: str) -> bool:
        return bool(self._claim(keys=[keys.active(user_id)],
                                args=[self.limit, time.time(), STALE_ACTIVE, job_id]))

    def release(self, user_id: int | None, job_id: str) -> None:
        if user_id is not None:
            self.redis.zrem(keys.active(user_id), job_id)

    def of(self, user_id: int) -> list[str]:
        return list(self.redis.zrange(keys.active(user_id), 0, -1))


@dataclass
class RateDecision:
    allowed: bool
    retry_after: int = 0


class NewJobLimiter:
    """Per user: ``jobs_per_minute`` and ``jobs_per_hour`` new jobs, moving windows
    in Redis (the ``limits`` library). Only new jobs count."""

    def __init__(self, settings: Settings, namespace: str = "storyreel") -> None:
        storage = RedisStorage(settings.redis_url, key_prefix=f"{namespace}-limits")
        self.limiter = MovingWindowRateLimiter(storage)
        self.items = [RateLimitItemPerMinute(settings.jobs_per_minute), RateLimitItemPerHour(settings.jobs_per_hour)]

    def hit(self, user_id: int) -> RateDecision:
        key = str(user_id)
        for item in self.items:
            if not self.limiter.test(item, "new-job", key):
                stats = self.limiter.get_window_stats(item, "new-job", key)
                return RateDecision(False, max(1, math.ceil(stats.reset_time - time.time())))
        for item in self.items:
            self.limiter.hit(item, "new-job", key)
        return RateDecision(True)


class JobLock:
    """One worker at a time runs a job's step.

    The lock lives ``ttl`` seconds and a heartbeat thread renews it every ``ttl/3`` while
    the step runs, so a worker that dies (SIGKILL, the machine gone) lets go within
    ``ttl``; ``storyreel:running`` names the jobs whose step should be running, and the
    ``recover`` task restarts those whose lock has gone. A request that finds the lock
    taken leaves a note the holder reads after releasing it, so no wake-up is lost.
    """

    def __init__(self, redis: redis_lib.Redis, job_id: str, ttl: float = 60.0) -> None:
        self.redis, self.job_id, self.ttl = redis, job_id, ttl
        # thread_local=False: the heartbeat thread renews the lock another thread took
        self.lock = redis.lock(keys.lock(job_id), timeout=ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> bool:
        self.redis.set(keys.again(self.job_id), 1, ex=3600)  # note first, then try
        if not self.lock.acquire(blocking=False):
            return False
        self.redis.delete(keys.again(self.job_id))
        self.redis.sadd(RUNNING, self.job_id)
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock-{self.job_id[:8]}", daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.lock.reacquire()
            except redis_lib.exceptions.LockError as exc:
                # the lock lapsed: the step goes on, but another worker may now take the job over
                _log.error("job_lock_lost", job_id=self.job_id, error=str(exc))
                return
            except redis_lib.exceptions.RedisError as exc:  # a blip: try again at the next beat
                _log.warning("job_lock_renew_failed", job_id=self.job_id, error=str(exc))

    def release_and_check(self, *, still_running: bool = False) -> bool:
        """Release; True when someone asked for a step meanwhile (run again). Unless
        ``still_running``, the job leaves the running set (it waits for a person or ended)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        if not still_running:
            self.redis.srem(RUNNING, self.job_id)
        try:
            self.lock.release()
        except redis_lib.exceptions.LockError:
            pass
        return bool(self.redis.getdel(keys.again(self.job_id)))


def orphaned_jobs(redis: redis_lib.Redis) -> list[str]:
    """Jobs whose step should be running but whose worker holds no lock: it died."""
    return [job_id for job_id in redis.smembers(RUNNING) if not redis.exists(keys.lock(job_id))]
