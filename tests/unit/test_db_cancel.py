"""A write cancelled at any point (an activity cancelled at the deadline) must not leave the shared SQLite
connection inside a transaction (real SQLite; aiosqlite still runs a statement whose awaiting task was
cancelled)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from storage.db import Database


async def test_cancelled_writes_never_leave_a_transaction_open(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db", migrate=False)
    try:
        await db.execute("CREATE TABLE t (n INTEGER)")
        for steps in range(12):  # cancel after 0, 1, 2... event-loop turns: lands on BEGIN, INSERT or COMMIT
            task = asyncio.ensure_future(db.execute("INSERT INTO t(n) VALUES (?)", (steps,)))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.wait_for(db.execute("INSERT INTO t(n) VALUES (?)", (-1,)), timeout=5)
        rows = await db.fetchall("SELECT COUNT(*) AS c FROM t WHERE n = -1")
        assert rows[0]["c"] == 12
    finally:
        await db.close()
