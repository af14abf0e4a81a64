"""The web process: Telegram's webhook in, into the chat's inbox; and a health check.

Run it under gunicorn with the factory-call syntax (gunicorn parses ``create_app()`` as a
call and serves what it returns; nothing is built at import)::

    gunicorn -w 2 -k gthread --threads 8 --timeout 300 -b 0.0.0.0:$PORT 'storyreel.web:create_app()'

``gthread`` (gevent and tornado are not installed; ``sync`` is the other choice) because
it keeps Telegram's connections alive and overlaps a request's two Redis round trips (the
inbox's write, the broker's ``LPUSH``) with other requests' work, where ``sync`` serves
one request per worker at a time and closes every connection after it. On 2 cores
``bench/webhook_ingest.py`` measured about 1,400 updates/s, p99 23 ms for gthread against
900/s, p99 46 ms for sync (before the inbox; with it, on the same 2 cores shared with
other work, 575/s, p99 89 ms against 281/s, p99 162 ms).

``POST /webhook``, in this order:

1. ``X-Telegram-Bot-Api-Secret-Token`` missing or wrong → 403 (compared in constant time;
   the body of a stranger is never read).
2. Body over ``MAX_BODY_BYTES`` → 413; nested deeper than ``MAX_DEPTH`` → 400, found by
   a scan that does not recurse (``nested_deeper_than``) before the JSON parser, which
   does, ever sees it; then not JSON, not an object, or no integer ``update_id`` in
   [0, 2**53) → 400.
3. Into the chat's inbox (``storyreel.bot.inbox``; one atomic Redis script): an update
   already handled → 200 and dropped, because Telegram delivers an update again after
   any non-2xx answer or a timeout; one already waiting stays one entry. The update is
   in Redis before Telegram hears 200, so a web process killed after this loses nothing.
4. Ask for a drain of the chat (``storyreel.worker.enqueuer``), unless one was asked for
   and has not started (it will see this update) → 200 ``{"ok": true}``. If the broker
   is down the answer is 503: the update waits in the inbox, ``recover`` hands it to a
   worker within ``RECOVER_SECONDS``, and Telegram's re-sent copy (which asks again) is
   the same entry, handled once.

``GET /health``: 200 while Redis answers, else 503; ``ffmpeg`` says whether the image has
it; ``warnings`` lists one line per configured OpenAI model near or past its shutdown
date or unknown to the server, read from the lookups cache the workers share (never a
request to OpenAI while the check waits).

Who retries what: this layer retries nothing. A failed delivery (Redis or the broker
down) is retried by Telegram, which re-sends the update after our 503. The Redis client
here is built with one immediate reconnect (a pooled socket that went stale after a
Redis restart) and short timeouts, so a dead Redis answers 503 within about a second
instead of behind redis-py's default ten retries with backoff. Celery's publish retry
(``apply_async``'s ``retry_policy``) belongs to ``storyreel.worker``.

The secret is required: with ``TELEGRAM_WEBHOOK_SECRET`` unset ``create_app`` raises
``ConfigError``; the webhook is never open. Logs carry one event per refused request
with its reason, never the secret and never the update itself (only its ``update_id``).
"""

from __future__ import annotations

import hmac
import json
import re
import time
from typing import Any, Callable

import flask
import structlog
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from .bot.inbox import DONE, MAX_UPDATE_ID, NEW, Inbox
from .errors import ConfigError, MediaError
from .log import configure_logging
from .media.ffmpeg import ffmpeg_binary
from .settings import Settings, get_settings
from .worker import create_celery, enqueuer

log = structlog.get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram's updates are a few kB; anything near this is not from Telegram
MAX_BODY_BYTES = 1024 * 1024
#: Telegram's updates nest about ten deep (a reply's keyboard's button); the JSON parser
#: recurses once per level, so a body may nest no deeper than this
MAX_DEPTH = 32
# what Telegram's setWebhook accepts as secret_token; anything else can never match
_SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _nesting_pattern(limit: int) -> re.Pattern[str]:
    """A regular expression matching exactly the texts whose brackets balance and nest at
    most ``limit`` deep, brackets inside JSON strings not counted (a string runs to its
    unescaped quote, as the parser reads it; an unclosed one to the end, where the parser
    stops too). Possessive throughout: nothing is tried twice, so matching is linear."""
    other = r'"(?:[^"\\]++|\\.)*+"?|[^\[\]{}"]++'
    level = f"(?:{other})*+"
    for _ in range(limit):
        level = f"(?:{other}|[\\[{{]{level}[\\]}}])*+"
    return re.compile(level, re.DOTALL)


_WITHIN_DEPTH = _nesting_pattern(MAX_DEPTH)


def create_app(
    settings: Settings | None = None,
    *,
    redis: Any = None,
    enqueue: Callable[[str], None] | None = None,
) -> flask.Flask:
    """Build the web app; raises ``ConfigError`` when the webhook secret is unset or malformed.

    ``redis`` defaults to a client for ``settings.redis_url`` and ``enqueue`` (given a
    chat's inbox key, asks for its drain) to a Celery publish through an app made for
    ``settings`` (``storyreel.worker.enqueuer``).
    """
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    secret = webhook_secret(settings)
    if redis is None:
        redis = _redis_client(settings.redis_url)
    models = _model_guard(settings, redis)
    inbox = Inbox(redis)
    if enqueue is None:
        enqueue = enqueuer(create_celery(settings))

    app = flask.Flask(__name__)
    # werkzeug enforces this on the stream too, so a chunked body cannot get around it
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.post("/webhook")
    def webhook() -> ResponseReturnValue:
        started = time.perf_counter()
        given = flask.request.headers.get(SECRET_HEADER)
        if given is None:
            return _refuse(403, "secret_missing")
        if not hmac.compare_digest(given.encode("latin-1"), secret):
            return _refuse(403, "secret_wrong")
        try:
            body = flask.request.get_data(cache=False)
        except RequestEntityTooLarge:
            return _refuse(413, "body_too_large", length=flask.request.content_length)
        update, reason = _parse_update(body)
        if update is None:
            return _refuse(400, reason, length=len(body))
        update_id = update["update_id"]
        try:
            put = inbox.put(update)
        except Exception as exc:  # any Redis failure: Telegram will deliver again
            return _refuse(503, "redis_down", update_id=update_id, error=type(exc).__name__)
        if put.ask:  # else a drain of the chat was asked for and has not started: it sees this one
            try:
                enqueue(put.key)
            except Exception as exc:  # the broker (kombu, redis, OSError…): the update waits
                # in the inbox for ``recover``; the 503 has Telegram ask again sooner
                _unask(inbox, put.key)
                return _refuse(503, "enqueue_failed", update_id=update_id, error=type(exc).__name__)
        if put.state == NEW:
            log.info("webhook_accepted", update_id=update_id, drain_asked=put.ask,
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))
        else:
            log.info("webhook_duplicate", update_id=update_id, handled=put.state == DONE)
        return _ok()

    @app.get("/health")
    def health() -> ResponseReturnValue:
        report: dict[str, Any] = {"status": "ok", "redis": "ok", "ffmpeg": "ok", "warnings": []}
        try:
            redis.ping()
        except Exception as exc:
            log.warning("health_redis_down", error=type(exc).__name__)
            report["status"] = report["redis"] = "down"
        else:
            report["warnings"] = _model_warnings(models)
        try:
            # the web process never runs FFmpeg; this tells a broken image apart early,
            # but only Redis decides whether this process can do its job
            ffmpeg_binary(settings.ffmpeg_binary)
        except MediaError:
            report["ffmpeg"] = "missing"
        return flask.jsonify(report), (200 if report["redis"] == "ok" else 503)

    return app


def webhook_secret(settings: Settings) -> bytes:
    """The webhook secret; raises ``ConfigError`` when it is unset or malformed."""
    secret = Settings.secret(settings.telegram_webhook_secret)
    if secret is None:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is not set; the webhook is never served open",
                          reason="TELEGRAM_WEBHOOK_SECRET is not set")
    if not _SECRET_FORMAT.fullmatch(secret):
        # Telegram's setWebhook refuses such a secret, so no request could ever match it
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
                          reason="TELEGRAM_WEBHOOK_SECRET is malformed")
    return secret.encode()


def _model_guard(settings: Settings, redis):
    from .providers.model_guard import ModelGuard, RedisLookupCache

    return ModelGuard(settings, cache=RedisLookupCache(redis))


def _model_warnings(models) -> list[str]:
    """The model lines from the cache shared with the workers: never a wait on OpenAI
    (what is missing or stale is looked up in the background for the next /health)."""
    try:
        return models.warnings()
    except Exception as exc:  # a malformed PROVIDERS, Redis gone mid-request: say nothing here
        log.warning("health_models_failed", error=type(exc).__name__)
        return []


def _redis_client(url: str):
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0,
                          retry=Retry(NoBackoff(), 1), health_check_interval=30)


def _parse_update(body: bytes) -> tuple[dict | None, str]:
    """The update, or None and the reason it is refused."""
    try:
        # what json.loads does with bytes (UTF-8, -16 or -32, by the first bytes), done
        # here so the depth scan reads the very characters the parser will
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        return None, "body_not_json"
    if nested_deeper_than(text):
        return None, "body_too_deep"
    try:
        update = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: never, after the scan
        return None, "body_not_json"
    if not isinstance(update, dict):
        return None, "body_not_object"
    update_id = update.get("update_id")
    # bool is an int in Python, but `true` is not an update id
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id < MAX_UPDATE_ID:
        return None, "update_id_missing"
    return update, ""


def nested_deeper_than(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON ``text`` nests arrays and objects more than ``limit`` deep
    (brackets inside strings not counted); also for unbalanced brackets beyond ``limit``
    of them, which are invalid JSON anyway and may have the parser deep before it finds
    out. False means the parser never goes deeper than ``limit``.

    One left-to-right pass of a finite automaton (a regular expression: bounded depth is
    a regular language), never a recursion; about 45 ms for a megabyte of brackets, and
    nothing for an ordinary update, which has too few brackets to need it."""
    if text.count("[") + text.count("{") <= limit:  # most updates: too few to nest deeper
        return False
    pattern = _WITHIN_DEPTH if limit == MAX_DEPTH else _nesting_pattern(limit)
    return pattern.fullmatch(text) is None


def _unask(inbox: Inbox, key: str) -> None:
    try:
        inbox.unask(key)
    except Exception as exc:  # Redis went too: ``recover`` asks for the drain instead
        log.warning("webhook_unask_failed", error=type(exc).__name__)


def _ok() -> flask.Response:
    return flask.jsonify(ok=True)


def _refuse(status: int, reason: str, **fields: Any) -> ResponseReturnValue:
    request = flask.request
    log.warning("webhook_refused", status=status, reason=reason, remote=request.remote_addr, **fields)
    return flask.jsonify(ok=False, error=reason), status
