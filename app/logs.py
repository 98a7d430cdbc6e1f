"""Structured (one JSON object per line) logging; `extra={"job_id": ...}` puts the job id on a line."""

from __future__ import annotations

import json
import logging
import secrets
import time

_EXTRA_FIELDS = ("job_id", "kind", "attempt", "worker", "status")


def new_error_id() -> str:
    """A short random id that ties an `internal_error` answer to its log line (which has the details)."""
    return "err_" + secrets.token_hex(6)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in _EXTRA_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
