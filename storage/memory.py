"""Shared memory (``agent_state``): per user, written by agents and the workflow, read by all of that user's agents."""

from __future__ import annotations

from storage.db import Database, utcnow
from storage.models import MemoryEntry

MAX_KEY = 128
MAX_VALUE = 16_000


class MemoryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: str, key: str) -> MemoryEntry | None:
        row = await self.db.fetchone(
            "SELECT * FROM agent_state WHERE user_id = ? AND state_key = ?", (user_id, key)
        )
        return MemoryEntry.model_validate(dict(row)) if row else None

    async def set(self, user_id: str, key: str, value: str, agent_id: str) -> MemoryEntry:
        if not key or len(key) > MAX_KEY:
            raise ValueError(f"memory key must be 1-{MAX_KEY} characters")
        if len(value) > MAX_VALUE:
            raise ValueError(f"memory value is {len(value)} characters; the limit is {MAX_VALUE}")
        now = utcnow()
        await self.db.execute(
            "INSERT INTO agent_state(user_id, state_key, state_value, agent_id, updated_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(user_id, state_key) DO UPDATE SET state_value = excluded.state_value,"
            " agent_id = excluded.agent_id, updated_at = excluded.updated_at",
            (user_id, key, value, agent_id, now),
        )
        return MemoryEntry(user_id=user_id, state_key=key, state_value=value, agent_id=agent_id, updated_at=now)

    async def all(self, user_id: str, limit: int = 200) -> list[MemoryEntry]:
        rows = await self.db.fetchall(
            "SELECT * FROM agent_state WHERE user_id = ? ORDER BY updated_at DESC LIMIT ?", (user_id, limit)
        )
        return [MemoryEntry.model_validate(dict(r)) for r in rows]

    async def delete(self, user_id: str, key: str) -> bool:
        return await self.db.execute(
            "DELETE FROM agent_state WHERE user_id = ? AND state_key = ?", (user_id, key)
        ) > 0
