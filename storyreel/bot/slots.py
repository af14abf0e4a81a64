"""Model slots every worker shares: at most N calls to a model at once across every
worker process on every host (``pipeline.capacity.Slots`` in Redis).

A model's slots are a sorted set (``storyreel:slots:{model}``) of lease ids scored by
the moment each lease lapses. Taking a slot is one Lua script: drop the lapsed leases,
count the rest, add ours if there is room. Times are Redis's own clock (``TIME``), so
hosts whose clocks disagree still agree on when a lease lapses. While a call runs, one
thread per process renews this process's leases every third of their life; a worker that
dies (SIGKILL, the machine gone) renews nothing, and its slots free themselves within
``ttl`` seconds (the bot passes ``JOB_LOCK_SECONDS``: the same moment its jobs are taken
over). A lease is given back when its call ends (the scheduler releases it in a
``finally``); one that lapsed while its holder lived (Redis unreachable for a whole
``ttl``) is logged as lost, and its call runs on outside the count.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import redis as redis_lib
import structlog

from .. import redis_keys as keys

log = structlog.get_logger(__name__)

# KEYS[1] the model's set; ARGV: limit, ttl (s), lease id. 1 if taken, 0 if all are busy.
_ACQUIRE = """
local key, limit, ttl, id = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now + ttl, id)
redis.call('PEXPIRE', key, math.ceil(ttl * 2000))
return 1
"""

# KEYS[1] the model's set; ARGV: ttl, then lease ids. Returns the ids no longer there.
_RENEW = """
local key, ttl = KEYS[1], tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZADD', key, 'XX', 'CH', now + ttl, ARGV[i]) == 0 and not redis.call('ZSCORE', key, ARGV[i]) then
    table.insert(lost, ARGV[i])
  end
end
redis.call('PEXPIRE', key, math.ceil(ttl * 2000))
return lost
"""


class _RedisLease:
    def __init__(self, owner: "RedisSlots", model: str, limit: int, lease_id: str) -> None:
        self.owner, self.model, self.limit, self.id = owner, model, limit, lease_id

    def release(self) -> None:
        self.owner._release(self)


class RedisSlots:
    """``Slots`` shared through Redis (see the module docstring); one per process."""

    def __init__(self, redis: redis_lib.Redis, ttl: float) -> None:
        self.redis, self.ttl = redis, float(ttl)
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._held: dict[str, _RedisLease] = {}
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._prefix = f"{socket.gethostname()}:{os.getpid()}:"  # who holds a slot, for a person reading Redis

    def try_acquire(self, model: str, limit: int) -> _RedisLease | None:
        lease = _RedisLease(self, model, limit, self._prefix + uuid.uuid4().hex[:12])
        if not self._acquire(keys=[keys.slots(model)], args=[limit, self.ttl, lease.id]):
            return None
        with self._lock:
            self._held[lease.id] = lease
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(target=self._renew_forever, name="model-slots", daemon=True)
                self._renewer.start()
        return lease

    def held(self) -> int:
        """Leases this process holds now."""
        with self._lock:
            return len(self._held)

    def _release(self, lease: _RedisLease) -> None:
        with self._lock:
            if self._held.pop(lease.id, None) is None:
                return  # released before
        try:
            self.redis.zrem(keys.slots(lease.model), lease.id)
        except redis_lib.RedisError as exc:  # it lapses by itself within ttl
            log.warning("model_slot_release_failed", model=lease.model, error=str(exc))

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self.ttl / 3)
            with self._lock:
                by_model: dict[str, list[_RedisLease]] = {}
                for lease in self._held.values():
                    by_model.setdefault(lease.model, []).append(lease)
            for model, leases in by_model.items():
                args = [self.ttl, *(lease.id for lease in leases)]
                try:
                    lost = self._renew(keys=[keys.slots(model)], args=args)
                except redis_lib.RedisError as exc:  # try again next time; it lapses after ttl
                    log.error("model_slot_renew_failed", model=model, error=str(exc))
                    continue
                for lease_id in lost:
                    lease_id = lease_id.decode() if isinstance(lease_id, bytes) else lease_id
                    with self._lock:
                        still_held = lease_id in self._held
                    if still_held:  # not given back, but gone: its call runs on outside the limit
                        log.error("model_slot_lost", model=model, lease=lease_id)
