"""Structured JSON logs, one line per event, with secrets scrubbed before anything is written."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.redaction import redact, register_secret

__all__ = ["JsonFormatter", "configure_logging", "redact", "register_secret"]

_FIELDS = ("workflow_id", "user_id", "task_id", "event")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        message = record.getMessage()
        if message != payload["event"]:
            payload["message"] = message
        for name in _FIELDS[:-1]:
            value = getattr(record, name, None)
            if value is not None:
                payload[name] = value
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            payload.update({k: v for k, v in extra.items() if k not in payload})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


EVENTS_LOGGER = "dayshift.events"  # workflows/events.py and agents/runtime.py log the spec's events here


def _not_a_dropped_client(record: logging.LogRecord) -> bool:
    """aiohttp.server logs an ERROR when a client hangs up mid-response (an agent CLI cancelled at the
    deadline, by design); it is noise, not a failure."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (record.name == "aiohttp.server" and isinstance(exc, ConnectionResetError | ConnectionError)
                and "closing transport" in str(exc))


def configure_logging(level: str = "INFO", stream: Any = None, *, log_file: Path | None = None,
                      events_on_stream: bool = True) -> None:
    """JSON lines to stderr (and DAYSHIFT_LOG_FILE). Filtering is per handler: the events logger always
    produces its records, so the metrics handler counts them whatever the console shows."""
    numeric = logging.getLevelName(level.upper())
    numeric = numeric if isinstance(numeric, int) else logging.INFO
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(numeric)
    handler.addFilter(_not_a_dropped_client)
    if not events_on_stream:  # the demo's board tells the story; the file still gets every event
        handler.addFilter(lambda record: not record.name.startswith(EVENTS_LOGGER))
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(JsonFormatter())
        to_file.setLevel(min(numeric, logging.INFO))
        handlers.append(to_file)
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.FileHandler):
            old.close()
    root.handlers[:] = handlers
    root.setLevel(min(numeric, logging.INFO) if log_file is not None else numeric)
    logging.getLogger(EVENTS_LOGGER).setLevel(logging.INFO)
    for noisy in ("aiohttp.access", "slack_sdk.socket_mode", "temporalio.activity", "temporalio.workflow"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, numeric))
    # APScheduler logs every job run at INFO ("Running job ..."): that chatter only shows at DEBUG.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
