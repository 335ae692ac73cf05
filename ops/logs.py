"""Log records (V3): the request id on every line, and JSON lines when ``LOG_FORMAT=json``.

The filter sits on the handler, so records of every logger (Django's, libraries', ours) get
``request_id``. Secrets stay out by construction: the product never logs a token, and the
loggers that would (oauthlib at DEBUG) are pinned at INFO in settings; a test drives connect,
refresh and lookup against the emulator and scans what was written.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from . import requestid

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = requestid.current() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def logging_config(*, log_format: str, level: str) -> dict:
    """settings.LOGGING: plain lines (with the request id) or JSON lines, on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "ops.logs.RequestIdFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "ops.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "plain",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Never DEBUG: oauthlib prints token bodies at DEBUG (DECISIONS).
            "oauthlib": {"level": "INFO"},
            "requests_oauthlib": {"level": "INFO"},
            "urllib3": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
        },
    }
