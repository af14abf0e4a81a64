"""The OpenAI models we are configured to use, checked against OpenAI's shutdown dates.

OpenAI announces a date on which a model stops answering (``GET /v1/models/{id}``
carries it as ``shutdown_date``). ``ModelGuard`` looks up every model a stage actually
sends to OpenAI and judges it against today:

    ok         no date announced, or the date is more than ``MODEL_WARN_DAYS`` away
    warn       the date is within ``MODEL_WARN_DAYS``: the process starts, the log warns
    retired    the date is today or past (or the server no longer knows a model OpenAI
               has retired): jobs are refused before anything is paid
    unknown    the server answers 404 ``model_not_found``: a misspelt or foreign name
    unchecked  the server could not be asked (down, no such route, a refused key): this
               never stops anything, it is only reported

Each lookup is cached for ``MODEL_CHECK_HOURS`` — in Redis where the process has one
(``RedisLookupCache``), else in a JSON file in the user's cache folder
(``FileLookupCache``) — so a check made at every job costs nothing most of the time. The
cache holds the *date*, not the verdict: a process that runs across a shutdown date
refuses the next job without asking the server again. A failed lookup is remembered for
a few minutes so a dead server is not asked on every job.

Retries: none here. A lookup is one request with a short timeout and the SDK's retries
off; whatever fails is "unchecked" and asked again after ``_ERROR_BACKOFF`` seconds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from .. import redis_keys
from ..errors import ConfigError
from ..log import ms_since
from ..settings import Settings

if TYPE_CHECKING:
    import openai

log = structlog.get_logger(__name__)

#: OpenAI's announced replacement for each model being shut down
REPLACEMENTS: dict[str, str] = {
    "tts-1": "gpt-realtime-2.1-mini",
    "tts-1-hd": "gpt-realtime-2.1-mini",
    "gpt-4o-mini-tts": "gpt-realtime-2.1-mini",
    "gpt-4.1-mini": "gpt-6-luna",
    "gpt-4.1": "gpt-6-luna",
    "gpt-4o": "gpt-6-luna",
    "gpt-4o-mini": "gpt-6-luna",
    "gpt-4o-mini-transcribe": "gpt-transcribe",
    "gpt-4o-transcribe": "gpt-transcribe",
    "whisper-1": "gpt-transcribe",
}
#: stage → the setting naming its model
STAGE_SETTINGS = {"script": "openai_model", "speech": "openai_tts_model",
                  "transcription": "openai_transcribe_model"}
REDIS_PREFIX = redis_keys.MODEL_PREFIX
#: seconds a lookup may take: a check sits in front of job admission and start-up
LOOKUP_TIMEOUT = 5.0
#: seconds before a server that failed a lookup is asked again
_ERROR_BACKOFF = 300.0
#: an entry older than its freshness is still shown (by /health) until it is this old
_KEEP_SECONDS = 7 * 86400


class Status(StrEnum):
    """What a configured model's shutdown date means today."""

    OK = "ok"
    WARN = "warn"
    RETIRED = "retired"
    UNKNOWN = "unknown"
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class ModelStatus:
    """One configured model, judged: ``setting`` is its environment name (OPENAI_MODEL…)."""

    setting: str
    model: str
    status: Status
    shutdown_date: date | None = None
    days_left: int | None = None
    replacement: str | None = None
    server: str = "the OpenAI API"  # who was asked, as the line names it
    reason: str = ""  # why it is unchecked

    @property
    def blocking(self) -> bool:
        """True when a job using this model must be refused."""
        return self.status in (Status.RETIRED, Status.UNKNOWN)

    @property
    def problem(self) -> bool:
        """True when an operator should act (near, past or unknown); unchecked is not one."""
        return self.status in (Status.WARN, Status.RETIRED, Status.UNKNOWN)

    @property
    def line(self) -> str:
        """One line for an operator: the setting, the model, the date, what to use instead."""
        name, when = f"{self.setting}={self.model}", self.shutdown_date
        if self.status is Status.RETIRED:
            said = f"was shut down by OpenAI on {when}" if when else "is no longer served by OpenAI (shut down)"
            return f"{name} {said}; {self._instead()}"
        if self.status is Status.WARN:
            days = f"in {self.days_left} day{'s' if self.days_left != 1 else ''}"
            return f"{name} will be shut down by OpenAI on {when} ({days}); {self._instead()}"
        if self.status is Status.UNKNOWN:
            return f"{name} is not a model {self.server} knows; {self._instead()}"
        if self.status is Status.UNCHECKED:
            return f"{name}: shutdown date not checked ({self.reason})"
        return f"{name}: shuts down on {when} (in {self.days_left} days)" if when else \
            f"{name}: no shutdown date announced"

    def _instead(self) -> str:
        return f"use {self.replacement}" if self.replacement else f"set {self.setting} to a current model"

    def error(self) -> ConfigError:
        """The ``ConfigError`` that refuses a job (its detail is ``line``, for the log)."""
        code = "model_retired" if self.status is Status.RETIRED else "model_unknown"
        return ConfigError(self.line, code=code, setting=self.setting, model=self.model)

    def fields(self) -> dict[str, Any]:
        """The fields of a log event about this model."""
        return {"setting": self.setting, "model": self.model, "status": self.status.value,
                "date": self.shutdown_date.isoformat() if self.shutdown_date else None,
                "days_left": self.days_left, "replacement": self.replacement}


def models_in_use(settings: Settings) -> list[tuple[str, str]]:
    """``(ENV_NAME, model)`` for each stage that sends its model to the OpenAI API.

    Nothing without an OpenAI key. Speech sent to its own server
    (``OPENAI_SPEECH_BASE_URL``) is left out: that server may list no models. Raises
    ``ConfigError`` when ``PROVIDERS`` is malformed.
    """
    from .factory import choose

    if settings.secret(settings.openai_api_key) is None:
        return []
    chosen = choose(settings)
    found: list[tuple[str, str]] = []
    for stage, field in STAGE_SETTINGS.items():
        if chosen.get(stage) != "openai" or (stage == "speech" and settings.openai_speech_base_url):
            continue
        pair = (field.upper(), getattr(settings, field))
        if pair not in found:
            found.append(pair)
    return found


# ---- caches ----------------------------------------------------------------------------
class LookupCache(Protocol):
    """Where lookups are kept between checks (and between processes)."""

    def get(self, key: str) -> dict | None: ...

    def put(self, key: str, entry: dict, ttl: float) -> None: ...


class RedisLookupCache:
    """Lookups in Redis under ``storyreel:model:{model}@{host}``, shared by every process."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def get(self, key: str) -> dict | None:
        raw = self.redis.get(REDIS_PREFIX + key)
        return json.loads(raw) if raw else None

    def put(self, key: str, entry: dict, ttl: float) -> None:
        self.redis.set(REDIS_PREFIX + key, json.dumps(entry), ex=max(1, int(ttl)))


class FileLookupCache:
    """Lookups in a small JSON file (the command line has no Redis); in memory only when
    ``path`` is None or cannot be written."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory: dict[str, dict] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            entry = self._read().get(key) or self._memory.get(key)
        return entry if entry and entry.get("expires_at", 0) > time.time() else None

    def put(self, key: str, entry: dict, ttl: float) -> None:
        with self._lock:
            self._memory[key] = {**entry, "expires_at": time.time() + ttl}
            if self.path is None:
                return
            now = time.time()
            data = {k: v for k, v in self._read().items() if v.get("expires_at", 0) > now}
            data[key] = self._memory[key]
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as exc:
                log.info("model_cache_unwritable", path=str(self.path), error=type(exc).__name__)
                self.path = None

    def _read(self) -> dict:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def user_cache_file() -> Path | None:
    """``$XDG_CACHE_HOME/storyreel/model-dates.json`` (else ``~/.cache/…``); None without a home."""
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home directory (a bare container user)
        return None
    return root / "storyreel" / "model-dates.json"


# ---- the guard -------------------------------------------------------------------------
class ModelGuard:
    """Checks the configured OpenAI models; one per process (it is thread-safe).

    ``cache`` defaults to memory only; ``client`` to ``make_openai_client(settings)`` with
    a short timeout and no retries. ``today`` (every method) is the UTC date unless given.
    """

    def __init__(self, settings: Settings, *, cache: LookupCache | None = None, client: Any = None) -> None:
        self.settings = settings
        self.cache: LookupCache = cache if cache is not None else FileLookupCache(None)
        self._client = client
        self._client_lock = threading.Lock()
        self._refreshing = threading.Lock()

    def check(self, *, today: date | None = None, refresh: bool = True) -> list[ModelStatus]:
        """Every model in use, judged. ``refresh=False`` reads only the cache (a model never
        looked up is "unchecked"). Raises ``ConfigError`` only for a malformed ``PROVIDERS``."""
        return [status for status, _fresh in self._judge(today, refresh)]

    def admit(self, *, today: date | None = None) -> list[ModelStatus]:
        """Raise ``ConfigError`` (code "model_retired" or "model_unknown") when a job must be
        refused because of a model; otherwise return the statuses (warnings included)."""
        statuses = self.check(today=today)
        for status in statuses:
            if status.blocking:
                raise status.error()
        return statuses

    def warnings(self, *, today: date | None = None) -> list[str]:
        """The problem lines from the cache alone, never waiting on the network: what is
        missing or stale is looked up on a background thread for the next call."""
        judged = self._judge(today, refresh=False)
        if any(not fresh for _status, fresh in judged):
            self._refresh_in_background()
        return [status.line for status, _fresh in judged if status.problem]

    # ---- internals ----
    def _judge(self, today: date | None, refresh: bool) -> list[tuple[ModelStatus, bool]]:
        pairs = models_in_use(self.settings)
        if not pairs:
            return []
        today = today or datetime.now(timezone.utc).date()
        server = self._server()
        judged, down = [], None
        for setting, model in pairs:
            key = f"{model}@{server}"
            entry = self._cached(key)
            fresh = _fresh(entry, self.settings.model_check_hours)
            if refresh and not fresh:
                # a server that could not be reached for one model is not waited on again
                entry = _failed(entry, model, down, time.time()) if down else self._lookup(model, entry, server)
                if entry.pop("unreachable", False):
                    down = entry["error"]
                self._store(key, entry)
                fresh = True
            judged.append((_evaluate(setting, model, entry, today, self.settings.model_warn_days, server), fresh))
        return judged

    def _client_for_lookups(self) -> Any:
        with self._client_lock:
            if self._client is None:
                from .openai_common import make_openai_client

                timeout = min(LOOKUP_TIMEOUT, self.settings.openai_timeout)
                self._client = make_openai_client(self.settings).with_options(timeout=timeout, max_retries=0)
            return self._client

    def _server(self) -> str:
        """host[:port] of the API the models are asked of (never its credentials)."""
        url = self._client_for_lookups().base_url
        return f"{url.host}:{url.port}" if url.port else str(url.host)

    def _lookup(self, model: str, previous: dict | None, server: str) -> dict:
        """One ``GET /v1/models/{model}``; the new cache entry."""
        import openai  # here: a process with no OpenAI stage never pays for importing the SDK

        now = time.time()
        started = time.perf_counter()
        try:
            found = self._client_for_lookups().models.retrieve(model)
        except openai.NotFoundError as exc:
            if not _names_the_model(exc, model):  # a server without the route: cannot tell
                return _failed(previous, model, f"{server} does not list models", now)
            log.debug("model_checked", model=model, found=False, server=server)
            # keep a date learned before: a model may vanish from the server once past it
            known = (previous or {}).get("shutdown_date") if (previous or {}).get("found") is not None else None
            return {"found": False, "shutdown_date": known, "checked_at": now}
        except openai.APIConnectionError as exc:  # timeouts included
            entry = _failed(previous, model, f"cannot reach {server}: {type(exc).__name__}", now)
            return {**entry, "unreachable": True}
        except openai.APIStatusError as exc:
            return _failed(previous, model, f"{server} answered HTTP {exc.status_code}", now)
        except Exception as exc:  # an answer we cannot read: never stop anything for it
            return _failed(previous, model, f"lookup failed: {type(exc).__name__}", now)
        shutdown = getattr(found, "shutdown_date", None)
        log.debug("model_checked", model=model, found=True, shutdown_date=shutdown, server=server,
                 duration_ms=ms_since(started))
        return {"found": True, "shutdown_date": shutdown, "checked_at": now}

    def _cached(self, key: str) -> dict | None:
        try:
            return self.cache.get(key)
        except Exception as exc:  # Redis down: look the model up instead
            log.warning("model_cache_failed", op="get", error=type(exc).__name__)
            return None

    def _store(self, key: str, entry: dict) -> None:
        try:
            self.cache.put(key, entry, _KEEP_SECONDS)
        except Exception as exc:
            log.warning("model_cache_failed", op="put", error=type(exc).__name__)

    def _refresh_in_background(self) -> None:
        if not self._refreshing.acquire(blocking=False):
            return  # one refresh at a time is enough

        def run() -> None:
            try:
                self.check()
            except Exception as exc:
                log.warning("model_refresh_failed", error=type(exc).__name__)
            finally:
                self._refreshing.release()

        threading.Thread(target=run, name="model-refresh", daemon=True).start()


def _failed(previous: dict | None, model: str, reason: str, now: float) -> dict:
    """The entry after a failed lookup: what was known before stays (it is still the best
    answer), and the failure is remembered so the server is not asked again at once."""
    log.warning("model_check_failed", model=model, reason=reason)
    known = previous if previous and previous.get("found") is not None else {}
    return {**known, "error": reason, "error_at": now}


def _names_the_model(exc: openai.NotFoundError, model: str) -> bool:
    """True when a 404 is about the model (OpenAI's ``model_not_found``, or a compatible
    server naming it), not about a route the server does not have."""
    if getattr(exc, "code", None) == "model_not_found":
        return True
    body = exc.body if isinstance(exc.body, dict) else {}
    message = str(body.get("message") or "")
    return model in message and ("not found" in message.lower() or "does not exist" in message.lower())


def _fresh(entry: dict | None, hours: float) -> bool:
    if not entry:
        return False
    now = time.time()
    if entry.get("error_at") and now - entry["error_at"] < min(_ERROR_BACKOFF, hours * 3600):
        return True
    return entry.get("found") is not None and now - entry.get("checked_at", 0) < hours * 3600


def _evaluate(setting: str, model: str, entry: dict | None, today: date, warn_days: int,
              server: str) -> ModelStatus:
    replacement = REPLACEMENTS.get(model)
    base = {"setting": setting, "model": model, "replacement": replacement,
            "server": "the OpenAI API" if server == "api.openai.com" else f"the server at {server}"}
    entry = entry or {}
    shutdown = _date(entry.get("shutdown_date"))
    days = (shutdown - today).days if shutdown else None
    if entry.get("found") is None:
        return ModelStatus(status=Status.UNCHECKED, reason=entry.get("error") or "not looked up yet", **base)
    if shutdown and days <= 0:
        return ModelStatus(status=Status.RETIRED, shutdown_date=shutdown, days_left=days, **base)
    if not entry["found"]:
        # a model OpenAI has announced a replacement for, gone from the server: shut down
        status = Status.RETIRED if replacement else Status.UNKNOWN
        return ModelStatus(status=status, shutdown_date=shutdown, days_left=days, **base)
    status = Status.WARN if shutdown and days <= warn_days else Status.OK
    return ModelStatus(status=status, shutdown_date=shutdown, days_left=days, **base)


def _date(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        log.warning("model_date_unreadable", value=str(text)[:40])
        return None
