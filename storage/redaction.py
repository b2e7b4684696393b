"""The one redaction for the whole product: logs, stored agent text and everything sent to Slack.

Configured secrets are registered at start-up (whatever their shape) and token patterns catch the
rest. Storage and the Slack client call ``redact`` at their write boundary, so a secret that reached
an agent's output by any path is masked before it is kept or shown.
"""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "[REDACTED]"
_PATTERNS = [
    re.compile(r"xox[abposre]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"sk-ant-[A-Za-z0-9_-]+"),
    re.compile(r"dsgw-[A-Za-z0-9_-]{16,}"),  # the model gateway's per-run tokens
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]
# A value after a secret-sounding key: "KEY=v", "key: v", '"password": "v"'. The separator must hold ':' or '='
# so prose ("the password reminders", "a secret deployment") is left alone.
_KEYED = re.compile(
    r"(?i)\b([a-z_]*(?:api[_-]?key|authorization|token|secret|password|passwd)[a-z_]*)"
    r"(\s*[\"']?\s*[:=]\s*[\"']?\s*)(bearer\s+)?[A-Za-z0-9._~+/-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]{16,}")
# postgresql://user:PASSWORD@host: userinfo only, so "http://127.0.0.1:8080\\@host" keeps its port.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/?#\\\s@]+:)[^@/?#\\\s]+@")
_lock = threading.Lock()
_known: frozenset[str] = frozenset()


def register_secret(value: str | None) -> None:
    """Make a configured secret (token, key, password) unprintable, whatever its shape."""
    global _known
    if value and len(value) >= 6:
        with _lock:
            _known = _known | {value}


def forget_secret(value: str) -> None:
    """Drop a short-lived secret (a per-run gateway token) once it is useless."""
    global _known
    with _lock:
        _known = _known - {value}


def redact(text: str) -> str:
    if not text:
        return text
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def redact_opt(text: str | None) -> str | None:
    return None if text is None else redact(text)


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value (dicts, lists), keeping its shape."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
