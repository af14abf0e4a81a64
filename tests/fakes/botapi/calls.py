"""The log of Bot API calls and their outcomes, and the faults a test injects.

Every call the bot makes is kept as a ``BotCall`` (failed ones too, with their status and
the error envelope): ``calls(method, chat_id)``, ``texts`` and ``wait_for`` read the log;
``failed_calls()`` lists the calls answered with an error and ``assert_no_failed_calls``
fails a test on any it did not expect. ``fail_next`` and ``flood_limit`` make the server
answer errors on purpose; answering those (waiting out a 429…) is the bot's job.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable

from tests.fakes.botapi.wire import DESCRIPTIONS, ApiError, BotCall, CallLog, FailedCall

Allowed = str | int | tuple[str, str]  # what ``assert_no_failed_calls`` lets pass


class CallRecords:
    """The call log and injected faults of ``FakeTelegram``."""

    _lock: threading.Lock  # the server's lock
    _state: threading.RLock

    def _init_calls(self) -> None:
        self.calls = CallLog(self._select_calls)  # still the base class's raw request log
        self.sent: list[BotCall] = []
        self.flood_limit: tuple[int, float] | None = None  # (sends, seconds) per chat, then 429
        self._faults: dict[str, deque] = defaultdict(deque)
        self._flood: dict[int, deque] = defaultdict(deque)

    def _record(self, call: BotCall) -> None:
        with self._lock:
            self.sent.append(call)

    # ---- what the bot did ---------------------------------------------------------------------

    def _select_calls(self, method: str | None = None, chat_id: int | str | None = None,
                      since: int = 0) -> list[BotCall]:
        with self._lock:
            calls = self.sent[since:]
        if method:
            calls = [c for c in calls if c.method.lower() == method.lower()]
        if chat_id is not None:
            calls = [c for c in calls if str(c.params.get("chat_id")) == str(chat_id)]
        return calls

    def texts(self, chat_id: int | str) -> list[str]:
        """Texts of the successful sendMessage/editMessageText calls to ``chat_id``, in order."""
        return [c.params.get("text", "") for c in self.calls(chat_id=chat_id)
                if c.ok and c.method in ("sendMessage", "editMessageText")]

    def wait_for(self, predicate: Callable[[BotCall], bool] | str, timeout: float = 5.0) -> BotCall:
        """The first call matching ``predicate`` (or a method name), polling until ``timeout``;
        AssertionError listing every recorded call if none comes."""
        if isinstance(predicate, str):
            name = predicate.lower()
            predicate = lambda call: call.method.lower() == name
        deadline = time.monotonic() + timeout
        while True:
            found = next((c for c in self.calls() if predicate(c)), None)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                listing = "\n".join(f"  {c.method} {c.status} {c.params}" for c in self.calls()) or "  (none)"
                raise AssertionError(f"no matching Bot API call within {timeout}s; calls:\n{listing}")
            time.sleep(0.01)

    def failed_calls(self, method: str | None = None, chat_id: int | str | None = None,
                     since: int = 0) -> list[FailedCall]:
        """``(method, error_code, description)`` of every call answered with an error, in
        order; ``since``: only among the calls from that position of the log on."""
        return [FailedCall(c.method, c.status, c.description or "")
                for c in self._select_calls(method, chat_id, since) if not c.ok]

    def assert_no_failed_calls(self, allow: Iterable[Allowed] = (), since: int = 0) -> None:
        """AssertionError listing the failed calls ``allow`` does not cover. An entry of
        ``allow`` is a method name, an error code, a piece of the description (both ignoring
        case), or a ``(method, piece of the description)`` pair. ``since``: only the calls
        from that position of the log on (``len(fake.sent)`` when a scenario began)."""
        allow = list(allow)
        unexpected = [f for f in self.failed_calls(since=since) if not any(_covers(a, f) for a in allow)]
        if unexpected:
            listing = "\n".join(f"  {f.method} {f.error_code} {f.description}" for f in unexpected)
            raise AssertionError(f"{len(unexpected)} Bot API call(s) failed:\n{listing}")

    # ---- faults a test injects ----------------------------------------------------------------

    def fail_next(self, method: str, count: int = 1, retry_after: int = 1, *, error_code: int = 429,
                  description: str | None = None) -> None:
        """Answer the next ``count`` calls of ``method`` with an error, 429 unless told."""
        with self._state:
            self._faults[method.lower()].extend([(error_code, retry_after, description)] * count)

    def _fault(self, name: str, params: dict) -> ApiError | None:
        """The error to answer instead of running the method: an injected one, or a flood."""
        with self._state:
            queue = self._faults.get(name.lower())
            if queue:
                code, retry_after, description = queue.popleft()
                if code == 429:
                    return ApiError(429, description or f"Too Many Requests: retry after {retry_after}",
                                    {"retry_after": retry_after})
                return ApiError(code, description or DESCRIPTIONS.get(code, "Internal Server Error"))
            chat = params.get("chat_id")
            if self.flood_limit and isinstance(chat, int) and name.startswith(("send", "edit")):
                count, window = self.flood_limit
                stamps, now = self._flood[chat], time.monotonic()
                while stamps and now - stamps[0] >= window:
                    stamps.popleft()
                if len(stamps) >= count:
                    wait = max(1, math.ceil(window - (now - stamps[0])))
                    return ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
                stamps.append(now)
        return None


def _covers(allowed: Allowed, failed: FailedCall) -> bool:
    if isinstance(allowed, int):
        return failed.error_code == allowed
    if isinstance(allowed, tuple):
        method, piece = allowed
        return failed.method.lower() == method.lower() and piece.lower() in failed.description.lower()
    return allowed.lower() == failed.method.lower() or allowed.lower() in failed.description.lower()
