"""Escalations sent to a user after a task's last failed attempt, and what the user answered."""

from __future__ import annotations

from storage.db import Database, utcnow
from storage.models import Escalation
from storage.redaction import redact, redact_opt


class EscalationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, user_id: str, task_id: str, workflow_id: str, *, escalation_id: str, reason: str,
                     suggestion: str | None, attempts: int) -> Escalation:
        """Idempotent on ``escalation_id`` so a retried activity does not escalate twice."""
        await self.db.execute(
            "INSERT INTO escalations(escalation_id, task_id, user_id, workflow_id, created_at, reason, suggestion,"
            " attempts) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(escalation_id) DO NOTHING",
            (escalation_id, task_id, user_id, workflow_id, utcnow(), redact(reason), redact_opt(suggestion), attempts),
        )
        found = await self.get(user_id, escalation_id)
        assert found is not None
        return found

    async def get(self, user_id: str, escalation_id: str) -> Escalation | None:
        row = await self.db.fetchone(
            "SELECT * FROM escalations WHERE user_id = ? AND escalation_id = ?", (user_id, escalation_id)
        )
        return Escalation.model_validate(dict(row)) if row else None

    async def open_for_task(self, user_id: str, task_id: str) -> Escalation | None:
        row = await self.db.fetchone(
            "SELECT * FROM escalations WHERE user_id = ? AND task_id = ? AND resolution IS NULL"
            " ORDER BY created_at DESC LIMIT 1",
            (user_id, task_id),
        )
        return Escalation.model_validate(dict(row)) if row else None

    async def mark_delivered(self, user_id: str, escalation_id: str, dm_channel: str | None, dm_ts: str | None) -> None:
        await self.db.execute(
            "UPDATE escalations SET delivered = 1, dm_channel = COALESCE(?, dm_channel), dm_ts = COALESCE(?, dm_ts)"
            " WHERE user_id = ? AND escalation_id = ?",
            (dm_channel, dm_ts, user_id, escalation_id),
        )

    async def resolve(self, user_id: str, task_id: str, resolution: str) -> bool:
        """Close the open escalation of a task; False when there was none (already answered)."""
        return await self.db.execute(
            "UPDATE escalations SET resolution = ?, resolved_at = ? WHERE user_id = ? AND task_id = ?"
            " AND resolution IS NULL",
            (resolution, utcnow(), user_id, task_id),
        ) > 0

    async def for_user(self, user_id: str, limit: int = 50) -> list[Escalation]:
        rows = await self.db.fetchall(
            "SELECT * FROM escalations WHERE user_id = ? ORDER BY created_at DESC LIMIT ?", (user_id, limit)
        )
        return [Escalation.model_validate(dict(r)) for r in rows]
