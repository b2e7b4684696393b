"""One SQLite database per process: WAL, foreign keys, busy timeout, versioned migrations.

Writers share one connection guarded by an asyncio lock and take ``BEGIN IMMEDIATE`` so that a
second process (an extra ``dayshift worker``) waits on the busy timeout instead of failing with
"database is locked" on a read-to-write upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 10_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def utcnow() -> str:
    """ISO-8601 UTC timestamp with microseconds; sorts lexically."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file shipped in ``storage/migrations``."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    """An open SQLite database with a serialised write path."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True) -> Database:
        """Open (creating if needed) and bring the schema up to date."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await _switch_to_wal(conn)
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        db = cls(conn, path)
        if migrate:
            await db.migrate()
        return db

    async def close(self) -> None:
        await self._conn.close()

    async def migrate(self) -> list[int]:
        """Apply every migration not yet recorded; each in its own transaction. Returns the applied versions.

        Check-and-apply happens inside ``BEGIN IMMEDIATE`` (SQLite's write lock), so when the bot and a
        worker start together on a fresh database, one applies a migration and the other sees it recorded.
        """
        async with self._write_lock:
            await self._begin()
            try:
                await self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            applied = []
            for version, name, sql in available_migrations():
                await self._begin()
                try:
                    async with self._conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?",
                                                  (version,)) as cur:
                        if await cur.fetchone() is not None:  # already there, or another process just did it
                            await self._conn.execute("ROLLBACK")
                            continue
                    for statement in _split_sql(sql):
                        await self._conn.execute(statement)
                    await self._conn.execute(
                        "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                        (version, name, utcnow()),
                    )
                    await self._conn.execute("COMMIT")
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                applied.append(version)
            return applied

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        return int(row["v"]) if row else 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction; commits on success, rolls back on any exception."""
        async with self._write_lock:
            await self._begin_or_undo()
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _begin_or_undo(self) -> None:
        """BEGIN; if the caller is cancelled meanwhile (an activity cancelled at the deadline), undo it.

        aiosqlite runs queued statements in order even when the task awaiting one was cancelled, so the
        BEGIN may still run after we stop waiting; a ROLLBACK queued behind it keeps the shared connection
        out of a transaction nobody owns ("cannot start a transaction within a transaction" for every
        later writer).
        """
        try:
            await self._begin()
        except asyncio.CancelledError:
            with contextlib.suppress(sqlite3.OperationalError):  # no transaction began: nothing to undo
                await self._conn.execute("ROLLBACK")
            raise

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting out another process's writer.

        SQLite's busy handler covers most waits, but a WAL snapshot conflict (SQLITE_BUSY_SNAPSHOT) is
        reported at once; it clears as soon as the other writer commits, so retry with a short backoff.
        """
        delay = 0.005
        waited = 0.0
        while True:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                transient = "locked" in str(exc) or "busy" in str(exc)
                if not transient or waited > BUSY_TIMEOUT_MS / 1000:
                    raise
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.2)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the affected row count."""
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        # Closing the cursor ends the implicit read transaction, so this connection never writes
        # from a stale WAL snapshot later.
        async with self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self._conn.execute(sql, params) as cur:
            row: aiosqlite.Row | None = await cur.fetchone()
            return row


def _split_sql(sql: str) -> list[str]:
    """Split a migration into statements (migrations hold no triggers or string semicolons)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


async def _switch_to_wal(conn: aiosqlite.Connection) -> None:
    """Switching a fresh file to WAL needs a lock SQLite does not wait for (no busy handler), so two processes
    opening one new database together retry here instead of failing with "database is locked"."""
    delay, waited = 0.01, 0.0
    while True:
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or waited > BUSY_TIMEOUT_MS / 1000:
                raise
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.2)
