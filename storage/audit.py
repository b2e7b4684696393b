"""Small append-only records: tool-call idempotency, permission denials, processed Slack events."""

from __future__ import annotations

import sqlite3

from storage.db import Database, utcnow
from storage.redaction import redact


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def tool_result(self, key: str) -> str | None:
        row = await self.db.fetchone("SELECT result FROM tool_calls WHERE idempotency_key = ?", (key,))
        return str(row["result"]) if row else None

    async def record_tool_result(self, key: str, user_id: str, tool: str, result: str) -> bool:
        """Record a side effect's result; False if the key was already recorded (the effect happened)."""
        try:
            await self.db.execute(
                "INSERT INTO tool_calls(idempotency_key, user_id, tool, result, created_at) VALUES (?,?,?,?,?)",
                (key, user_id, tool, redact(result), utcnow()),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def record_denial(self, user_id: str, task_id: str | None, tool: str, reason: str) -> None:
        await self.db.execute(
            "INSERT INTO denials(user_id, task_id, tool, reason, at) VALUES (?,?,?,?,?)",
            (user_id, task_id, tool, redact(reason), utcnow()),
        )

    async def denials(self, user_id: str, task_id: str | None = None) -> list[dict[str, str]]:
        if task_id is None:
            rows = await self.db.fetchall("SELECT * FROM denials WHERE user_id = ? ORDER BY denial_id", (user_id,))
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM denials WHERE user_id = ? AND task_id = ? ORDER BY denial_id", (user_id, task_id)
            )
        return [dict(r) for r in rows]

    async def first_time(self, event_key: str) -> bool:
        """True the first time an event key is seen (Slack delivers at least once)."""
        try:
            await self.db.execute(
                "INSERT INTO processed_events(event_key, seen_at) VALUES (?, ?)", (event_key, utcnow())
            )
        except sqlite3.IntegrityError:
            return False
        return True
