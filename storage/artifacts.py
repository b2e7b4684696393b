"""The files executors produce: collected into the database when an executor ends, uploaded with the report.

The bytes are read from the workspace by the worker that ran the executor and kept here (redacted, capped),
because the report may be delivered by another worker on another host whose disk never saw the workspace.
The caps bound the table: a file past the size cap, of a type not allowed, or past the day's count is kept
as a name and a size only, and the report lists it instead of uploading it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from storage.db import Database, utcnow
from storage.models import Artifact, human_size
from storage.redaction import redact

# The type names settings use, and what they cover (by file name extension: executors write plain files).
TYPES: dict[str, dict[str, str]] = {
    "text": {".txt": "text/plain", ".log": "text/plain"},
    "markdown": {".md": "text/markdown", ".markdown": "text/markdown"},
    "csv": {".csv": "text/csv"},
    "json": {".json": "application/json"},
    "png": {".png": "image/png"},
    "pdf": {".pdf": "application/pdf"},
}
_BINARY = frozenset({"image/png", "application/pdf"})


def unknown_types(names: Iterable[str]) -> list[str]:
    return sorted({n for n in names if n not in TYPES})


@dataclass(frozen=True)
class ArtifactCaps:
    max_bytes: int = 1_000_000
    max_files: int = 10
    types: frozenset[str] = field(default_factory=lambda: frozenset(TYPES))

    def mime(self, name: str) -> str | None:
        suffix = Path(name).suffix.lower()
        for kind in self.types:
            if suffix in TYPES.get(kind, {}):
                return TYPES[kind][suffix]
        return None


def _redacted(data: bytes, mime: str) -> tuple[bytes | None, str | None]:
    """The bytes to keep, or None and why: text is masked like everything else that leaves the server; a
    binary file cannot be masked in place, so one that quotes a secret is held back whole."""
    if mime in _BINARY:
        as_text = data.decode("latin-1")
        return (data, None) if redact(as_text) == as_text else (None, "held back: it contains a secret")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    return redact(text).encode("utf-8"), None


class ArtifactRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def collect(self, user_id: str, task_id: str, workflow_id: str, day: str, workspace: Path,
                      names: list[str], caps: ArtifactCaps) -> list[Artifact]:
        """Keep this task's files (a retried executor's replace an earlier attempt's not yet uploaded)."""
        read = await asyncio.to_thread(_read_workspace, workspace, names, caps)
        async with self.db.transaction() as conn:
            await conn.lock("artifacts", user_id, day)  # PostgreSQL: the count and the inserts are one step per day
            await conn.execute("DELETE FROM artifacts WHERE user_id = ? AND task_id = ? AND file_id IS NULL",
                               (user_id, task_id))
            cur = await conn.execute(
                "SELECT COUNT(*) FROM artifacts WHERE user_id = ? AND day = ? AND content IS NOT NULL",
                (user_id, day))
            row = await cur.fetchone()
            kept = int(row[0]) if row else 0
            now = utcnow()
            for name, size, mime, content, why in read:
                if content is not None and kept >= caps.max_files:
                    content, why = None, f"past the day's {caps.max_files} files"
                kept += content is not None
                await conn.execute(
                    "INSERT INTO artifacts(user_id, task_id, name, workflow_id, day, size, mime, content, skipped,"
                    " created_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(user_id, task_id, name) DO NOTHING",
                    (user_id, task_id, name, workflow_id, day, size, mime, content, why, now))
        return await self.for_run(user_id, workflow_id, task_id=task_id)

    async def for_run(self, user_id: str, workflow_id: str, *, task_id: str | None = None) -> list[Artifact]:
        sql = "SELECT * FROM artifacts WHERE user_id = ? AND workflow_id = ?"
        params: list[str] = [user_id, workflow_id]
        if task_id is not None:
            sql += " AND task_id = ?"
            params.append(task_id)
        rows = await self.db.fetchall(sql + " ORDER BY created_at, task_id, name", params)
        return [Artifact.model_validate(dict(r)) for r in rows]

    async def for_day(self, user_id: str, day: str) -> list[Artifact]:
        """The day's artifacts without their bytes (for Home)."""
        rows = await self.db.fetchall(
            "SELECT user_id, task_id, name, workflow_id, day, size, mime, skipped, file_id, shared_at, created_at"
            " FROM artifacts WHERE user_id = ? AND day = ? ORDER BY created_at, task_id, name", (user_id, day))
        return [Artifact.model_validate(dict(r)) for r in rows]

    async def uploaded(self, user_id: str, task_id: str, name: str, file_id: str) -> None:
        """Slack holds the bytes under ``file_id`` (not yet shared): a retry completes this one."""
        await self.db.execute("UPDATE artifacts SET file_id = ? WHERE user_id = ? AND task_id = ? AND name = ?",
                              (file_id, user_id, task_id, name))

    async def shared(self, user_id: str, task_id: str, name: str) -> None:
        await self.db.execute("UPDATE artifacts SET shared_at = ? WHERE user_id = ? AND task_id = ? AND name = ?",
                              (utcnow(), user_id, task_id, name))

    async def refused(self, user_id: str, task_id: str, name: str, why: str) -> None:
        """Slack would not take the file: the report lists it with the reason instead."""
        await self.db.execute("UPDATE artifacts SET skipped = ? WHERE user_id = ? AND task_id = ? AND name = ?",
                              (why, user_id, task_id, name))

    async def purge(self, today: date, keep_days: int) -> int:
        cutoff = (today - timedelta(days=keep_days)).isoformat()
        return await self.db.execute("DELETE FROM artifacts WHERE day < ?", (cutoff,))


_Read = tuple[str, int, str, bytes | None, str | None]


def _read_workspace(workspace: Path, names: list[str], caps: ArtifactCaps) -> list[_Read]:
    root = workspace.resolve()
    read: list[_Read] = []
    for name in names:
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file() or (root / name).is_symlink():
            continue  # a link out of the workspace is never followed
        size = path.stat().st_size
        mime = caps.mime(name)
        if mime is None:
            read.append((name, size, "application/octet-stream", None, "type not allowed"))
        elif size > caps.max_bytes:
            read.append((name, size, mime, None, f"larger than {human_size(caps.max_bytes)}"))
        else:
            content, why = _redacted(path.read_bytes(), mime)
            read.append((name, size, mime, content, why))
    return read


def purge_workspaces(workspaces: Path, today: date, keep_days: int) -> int:
    """Remove day folders (``<user>/<YYYY-MM-DD>/``) older than the history retention; returns how many."""
    cutoff = (today - timedelta(days=keep_days)).isoformat()
    removed = 0
    if not workspaces.is_dir():
        return 0
    for user_dir in workspaces.iterdir():
        if not user_dir.is_dir() or user_dir.is_symlink():
            continue
        for day_dir in user_dir.iterdir():
            if day_dir.is_dir() and not day_dir.is_symlink() and _is_day(day_dir.name) and day_dir.name < cutoff:
                shutil.rmtree(day_dir, ignore_errors=True)
                removed += 1
    return removed


def _is_day(name: str) -> bool:
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return True
