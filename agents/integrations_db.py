"""The ``database`` capability: one scratch SQLite file per user, kept across days (issue 13 item 4).

Dayshift's own tools rather than ``mcp-server-sqlite``: that server runs any SQL it is given, and
``ATTACH DATABASE '<path of dayshift.db>'`` or ``VACUUM INTO '<path>'`` would let the model read the application's
database or write files anywhere the service user can. Here an SQLite authorizer refuses ATTACH, DETACH and
pragmas, no other database can ever be attached, extensions stay off, and the file has a size cap.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

MAX_ROWS = 200
_SAFE_PRAGMAS = frozenset({"table_info", "table_list", "index_list", "index_info", "foreign_key_list"})
_VACUUM = re.compile(r"^\s*vacuum\b", re.IGNORECASE)


class ScratchRefused(Exception):
    """The statement is not allowed, or failed; the message goes back to the model."""


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() not in _SAFE_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@dataclass(frozen=True)
class ScratchDatabases:
    root: Path
    max_bytes: int = 50_000_000

    def path(self, user_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", user_id) or "_"
        return self.root / f"{safe}.sqlite"

    def _run(self, user_id: str, sql: str, params: list[Any], write: bool) -> dict[str, Any]:
        if _VACUUM.match(sql):
            raise ScratchRefused("VACUUM is not allowed on the scratch database")
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(user_id)
        if not write and not path.exists():
            sqlite3.connect(path).close()
        # A read opens the file read-only: "WITH ... DELETE" cannot pass as a query.
        conn = sqlite3.connect(f"file:{pathname2url(str(path))}?mode={'rwc' if write else 'ro'}", uri=True, timeout=5,
                               isolation_level=None)
        try:
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            conn.execute(f"PRAGMA max_page_count = {max(1, self.max_bytes // page_size)}")
            conn.set_authorizer(_authorizer)
            cur = conn.execute(sql, params)
            if write:
                return {"rows_affected": cur.rowcount, "last_row_id": cur.lastrowid}
            cols = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(MAX_ROWS + 1)
            return {"columns": cols, "rows": [list(r) for r in rows[:MAX_ROWS]], "truncated": len(rows) > MAX_ROWS}
        except sqlite3.Error as exc:
            raise ScratchRefused(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()

    async def query(self, user_id: str, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
        """A read: the statement must be a SELECT (or WITH ... SELECT)."""
        if not re.match(r"^\s*(select|with)\b", sql, re.IGNORECASE):
            raise ScratchRefused("db_query runs SELECT statements; use db_execute to change data")
        return await asyncio.to_thread(self._run, user_id, sql, params or [], False)

    async def execute(self, user_id: str, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
        """One statement that creates tables or inserts, updates or deletes rows."""
        return await asyncio.to_thread(self._run, user_id, sql, params or [], True)
