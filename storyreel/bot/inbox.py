"""Each chat's Telegram updates, handled one at a time in the order Telegram numbered them.

Telegram numbers every update (``update_id``, rising). Handing each update to whichever
worker thread is free would let two updates of one chat run at once, or a later one
overtake an earlier one (❌ pressed, then a new prompt: the prompt would find the old job
still running). So an update is first *put* into its chat's inbox in Redis, before the
web process answers Telegram, and then a *drain* of that chat is asked for (a Celery task
in ``storyreel.worker``; this module knows nothing of Celery or Flask). A drainer takes
the chat's lock and handles the pending updates, lowest ``update_id`` first, one at a
time; a drain that finds the lock taken leaves at once, because the holder looks at the
inbox again before it lets go (atomically, in Redis), so nothing put meanwhile waits.
Different chats have different locks and run side by side.

One drain is asked for per burst, not per update: ``put`` marks the chat "a drain was
asked for" (``Put.ask``: only the put that set the mark asks), and a drain's first step,
before it tries the lock, takes the mark away. So every update put while the mark stands
is seen by the drain that was asked for: it either gets the lock after the put, or finds
it held by a drainer whose last look at the inbox comes after the put. A mark whose drain
never came (the web process died in between) holds nobody up for long: ``stalled`` names
a chat whose updates have waited ``STALL_SECONDS`` since a drain was last asked for,
mark or no mark, and ``recover`` asks again (a broker that refused the request has the
web process take the mark away at once: Telegram's re-send asks again).

The chat's key is the chat's id; an update with no chat (a button under an inline
message, an inline query, a poll answer) keys on its user's id, which is the id of the
user's private chat, so a user's presses and messages share one order. An update with
neither (the state of a poll) is a chat of its own.

Exactly once, whatever process dies when:

- ``put`` is idempotent (the update's id is the sorted set's member; its body is written
  only with it) and refuses an update already handled, so a re-sent update is one entry;
- the web process killed after ``put`` and before the drain was asked for: the update
  waits in the inbox and ``stalled`` names the chat to ``recover`` (beat, and every
  worker's start), which asks for its drain;
- a drainer killed: its lock is a lease (``lease`` seconds, renewed by a thread every
  third of it while it works), so it lapses and ``recover`` hands the chat to another;
- what was handled is recorded (``storyreel:update-done:{id}``, a day: Telegram stops
  re-sending an update within 24 hours) in the same transaction that takes it out of the
  inbox, and a drainer skips an update so recorded. The one window: a drainer killed
  after its handler returned and before that transaction handles that update again
  (the handlers make that harmless: a prompt's job id comes from its message).

Who retries what: nothing here retries. A handler that raises is logged and its update
counted as handled (so one bad update cannot stop a chat); a Redis error ends the drain,
the lease lapses and ``recover`` hands the chat over again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from .. import redis_keys as keys

log = structlog.get_logger(__name__)

#: what a handled update's record lives: Telegram gives up re-sending an update in a day
DONE_TTL_SECONDS = 86400
#: a drainer's lock lapses this long after its worker died (the worker passes its own)
LEASE_SECONDS = 60.0
#: how long ``stalled`` leaves a chat to the drain already asked for it
STALL_SECONDS = 2.0
#: the most chats one ``stalled`` call hands back (the rest wait for the next sweep)
STALLED_BATCH = 1000
#: a "drain asked for" mark whose drain never came lapses after this at the latest
#: (``stalled`` has asked again long before)
ASKED_TTL_SECONDS = 600
#: update_ids are sorted-set scores (doubles): exact below this
MAX_UPDATE_ID = 2**53
_MAX_CHAT_ID = 2**63

NEW, PENDING, DONE = "new", "pending", "done"

# KEYS: inbox, bodies, chats, done, asked. ARGV: update_id, body, chat key, asked's TTL.
# Returns {1 new | 0 already waiting | 2 already handled, 1 if the caller must ask for a drain}.
# The chat's stamp in the index is when a drain was last asked for.
_PUT = """
if redis.call('EXISTS', KEYS[4]) == 1 then return {2, 0} end
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[1])
if added == 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
local now = redis.call('TIME')
now = now[1] + now[2] / 1e6
if redis.call('SET', KEYS[5], 1, 'NX', 'EX', ARGV[4]) then
  redis.call('ZADD', KEYS[3], now, ARGV[3])
  return {added, 1}
end
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[3])
return {added, 0}
"""

# KEYS: lock, asked. ARGV: token, lease ms. The drain asked for has come: take the mark
# away, then try the lock (in this order; see the module's docstring).
_TAKE = """
redis.call('DEL', KEYS[2])
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

# KEYS: lock, inbox, chats. ARGV: token, chat key.
# 1: released (nothing waits); 0: updates wait, keep going; -1: the lock is not ours.
_RELEASE_IF_EMPTY = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: chats. ARGV: grace seconds, batch, lock key prefix.
# The chats waiting longer than the grace whose lock nobody holds; each is stamped again,
# so the next sweep leaves the drain asked for now its own grace.
_STALLED = """
local now = redis.call('TIME')
now = now[1] + now[2] / 1e6
local out = {}
for _, chat in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]),
                                 'LIMIT', 0, tonumber(ARGV[2]))) do
  if redis.call('EXISTS', ARGV[3] .. chat) == 0 then
    redis.call('ZADD', KEYS[1], now, chat)
    out[#out + 1] = chat
  end
end
return out
"""


@dataclass(frozen=True)
class Put:
    """Where ``put`` left an update: its chat's key; ``NEW``, ``PENDING`` (it was already
    waiting) or ``DONE`` (handled before); and ``ask``: whether the caller must ask for a
    drain of the chat (False: one was asked for and has not started, so it will see this
    update; or there is nothing to do)."""

    key: str
    state: str
    ask: bool


def chat_key(update: dict) -> str:
    """The key an update is ordered by: its chat's id, else its user's, else its own id."""
    for field, payload in update.items():
        if field == "update_id" or not isinstance(payload, dict):
            continue
        for path in (("chat",), ("message", "chat"), ("from",), ("user",), ("voter_chat",)):
            node: Any = payload
            for step in path:
                node = node.get(step) if isinstance(node, dict) else None
            ident = node.get("id") if isinstance(node, dict) else None
            if isinstance(ident, int) and not isinstance(ident, bool) and abs(ident) < _MAX_CHAT_ID:
                return str(ident)
    return f"update:{update['update_id']}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Inbox:
    """The inboxes in one Redis (a client with or without ``decode_responses``)."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self._put = redis.register_script(_PUT)
        self._take = redis.register_script(_TAKE)
        self._release_if_empty = redis.register_script(_RELEASE_IF_EMPTY)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._stalled = redis.register_script(_STALLED)

    def put(self, update: dict) -> Put:
        """Add ``update`` (with an integer ``update_id`` in [0, 2**53)) to its chat's inbox,
        unless it is there already or was handled; one round trip, atomic."""
        update_id = update["update_id"]
        key = chat_key(update)
        # ASCII JSON: a lone surrogate from a UTF-16 body is escaped, never an encode error
        body = json.dumps(update, separators=(",", ":"))
        state, ask = self._put(keys=[keys.inbox(key), keys.inbox_bodies(key), keys.INBOX_CHATS,
                                     keys.update_done(update_id), keys.inbox_asked(key)],
                               args=[update_id, body, key, ASKED_TTL_SECONDS])
        return Put(key, {1: NEW, 0: PENDING}.get(int(state), DONE), bool(ask))

    def unask(self, key: str) -> None:
        """The drain ``put`` said to ask for could not be asked for (the broker is down):
        the next ``put`` of the chat (Telegram's re-send) asks again."""
        self.redis.delete(keys.inbox_asked(key))

    def pending(self, key: str) -> list[int]:
        """The update_ids waiting in a chat's inbox, in the order they will be handled."""
        return [int(_text(m)) for m in self.redis.zrange(keys.inbox(key), 0, -1)]

    def handled(self, update_id: int) -> bool:
        return bool(self.redis.exists(keys.update_done(update_id)))

    def drain(self, key: str, handle: Callable[[dict], None], *, lease: float = LEASE_SECONDS,
              stop: Callable[[], bool] | None = None) -> bool:
        """Handle the chat's waiting updates in ``update_id`` order with ``handle``, if no
        one else is; return when nothing waits. False when ``stop()`` said stop with
        updates still waiting (ask for another drain), True otherwise."""
        lock = keys.inbox_lock(key)
        token = uuid.uuid4().hex
        if not self._take(keys=[lock, keys.inbox_asked(key)], args=[token, int(lease * 1000)]):
            log.debug("inbox_busy", chat=key)  # its holder looks again before letting go
            return True
        keeper = _Lease(self._renew, lock, token, lease)
        try:
            while not keeper.lost:
                first = self.redis.zrange(keys.inbox(key), 0, 0)
                if not first:
                    released = self._release_if_empty(keys=[lock, keys.inbox(key), keys.INBOX_CHATS],
                                                      args=[token, key])
                    if int(released) != 0:
                        return True
                    continue  # put while we looked: go on
                if stop is not None and stop():
                    log.info("inbox_left", chat=key)
                    return False
                keeper.start()
                self._handle(key, int(_text(first[0])), handle)
            log.error("inbox_lease_lost", chat=key)  # another drainer may have the chat now
            return True
        finally:
            keeper.stop()
            try:
                self._release(keys=[lock], args=[token])
            except Exception as exc:  # Redis gone: the lease lapses by itself
                log.warning("inbox_release_failed", chat=key, error=type(exc).__name__)

    def _handle(self, key: str, update_id: int, handle: Callable[[dict], None]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.inbox_bodies(key), update_id)
        pipe.exists(keys.update_done(update_id))
        raw, done = pipe.execute()
        if done or raw is None:
            log.info("inbox_skipped", chat=key, update_id=update_id, reason="handled" if done else "no_body")
        else:
            started = time.perf_counter()
            try:
                handle(json.loads(raw))
            except Exception:
                log.exception("update_failed", chat=key, update_id=update_id)
            else:
                log.info("update_handled", chat=key, update_id=update_id,
                         duration_ms=round((time.perf_counter() - started) * 1000, 2))
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(keys.update_done(update_id), 1, ex=DONE_TTL_SECONDS)
        pipe.zrem(keys.inbox(key), update_id)
        pipe.hdel(keys.inbox_bodies(key), update_id)
        pipe.execute()

    def stalled(self, grace: float = STALL_SECONDS) -> list[str]:
        """Chats with updates waiting for more than ``grace`` seconds and no drainer (its
        worker died, or the web process died before asking for the drain). Each is
        stamped as asked for: ask for a drain of every chat returned."""
        found = self._stalled(keys=[keys.INBOX_CHATS], args=[grace, STALLED_BATCH, keys.inbox_lock("")])
        return [_text(chat) for chat in found]


class _Lease:
    """Renews a drainer's lock every third of its lease, from a thread of its own, so a
    long handler keeps it and a dead worker loses it within one lease."""

    def __init__(self, renew, lock: str, token: str, lease: float) -> None:
        self._renew, self.lock, self.token, self.lease = renew, lock, token, lease
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def start(self) -> None:
        if self._thread is None:  # only a drain with work to do pays for the thread
            self._thread = threading.Thread(target=self._run, name="inbox-lease", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.lease / 3):
            try:
                if not self._renew(keys=[self.lock], args=[self.token, int(self.lease * 1000)]):
                    self.lost = True
                    return
            except Exception as exc:  # a Redis blip: the lease still runs; try again
                log.warning("inbox_renew_failed", lock=self.lock, error=type(exc).__name__)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
