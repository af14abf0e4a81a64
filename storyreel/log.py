"""Structured logs (R27): events with fields; JSON in production, readable in development.

Secrets never reach a line: any field whose name looks like a credential is masked by
the ``_redact`` processor, whatever the caller passed.
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|api_?key|password|authorization)", re.I)


def _redact(_logger, _name, event: dict) -> dict:
    for key in list(event):
        if _SECRET_KEYS.search(key):
            event[key] = "***"
    return event


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
