"""Structured logs: events with fields; JSON in production, readable in development.

Secrets never reach a line: any field whose name looks like a credential is masked by
the ``_redact`` processor, whatever the caller passed, and credential-shaped text (a bot
token inside a Bot API URL, ``Bearer …``, ``sk-…``) is masked inside every value — and
inside the standard-library records of httpx, Celery and gunicorn too (``SecretFilter``).
"""

from __future__ import annotations

import logging
import re
import sys
import time

import structlog

# a field named like a credential is masked; "input_tokens" (a count) is not a credential
_SECRET_KEYS = re.compile(r"(secret|api_?key|password|authorization|(^|_)token$)", re.I)


_SECRET_TEXT = re.compile(r"(bot\d+:[A-Za-z0-9_-]+|Bearer\s+\S+|sk-[A-Za-z0-9_-]{6,}|key_[A-Za-z0-9]{16,})")


def ms_since(started: float) -> int:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading): every
    ``duration_ms`` field of every event is measured this way."""
    return round((time.perf_counter() - started) * 1000)


def scrub(text: str) -> str:
    """``text`` with credential-shaped substrings masked."""
    return _SECRET_TEXT.sub("***", text)


def _redact(_logger, _name, event: dict) -> dict:
    for key in list(event):
        if _SECRET_KEYS.search(key):
            event[key] = "***"
        elif isinstance(event[key], str):
            event[key] = scrub(event[key])
    return event


class SecretFilter(logging.Filter):
    """Masks credentials in standard-library log records (httpx logs whole URLs, and a
    Bot API URL carries the bot's token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def guard_stdlib_logging() -> None:
    """Install ``SecretFilter`` on the root logger's handlers (call again after a framework
    such as Celery adds its own) and quiet httpx's one-line-per-request INFO logs."""
    for name in ("httpx", "httpcore", "httpx2", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())


def configure_logging(fmt: str = "console", level: str = "INFO", stream=None) -> None:
    """Set up structlog once per process: ``fmt`` is "console" or "json"."""
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    guard_stdlib_logging()
