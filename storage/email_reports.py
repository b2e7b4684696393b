"""The e-mail copy of each day's report: sent once, and a failure kept for Home to show."""

from __future__ import annotations

from datetime import date, timedelta

from storage.db import Database, utcnow
from storage.models import EmailReport
from storage.redaction import redact


class EmailReportRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: str, workflow_id: str) -> EmailReport | None:
        row = await self.db.fetchone("SELECT * FROM email_reports WHERE user_id = ? AND workflow_id = ?",
                                     (user_id, workflow_id))
        return EmailReport.model_validate(dict(row)) if row else None

    async def intend(self, user_id: str, workflow_id: str, day: str, address: str, message_id: str) -> EmailReport:
        """Record the send before it happens (an earlier attempt's Message-ID wins, so a resend is the same mail)."""
        await self.db.execute(
            "INSERT INTO email_reports(user_id, workflow_id, day, address, message_id, status, updated_at)"
            " VALUES (?,?,?,?,?, 'sending', ?) ON CONFLICT(user_id, workflow_id) DO UPDATE SET"
            " status = CASE WHEN email_reports.status = 'sent' THEN 'sent' ELSE 'sending' END,"
            " address = excluded.address, updated_at = excluded.updated_at",
            (user_id, workflow_id, day, address, message_id, utcnow()))
        found = await self.get(user_id, workflow_id)
        assert found is not None
        return found

    async def finish(self, user_id: str, workflow_id: str, error: str | None) -> None:
        await self.db.execute(
            "UPDATE email_reports SET status = ?, error = ?, updated_at = ? WHERE user_id = ? AND workflow_id = ?",
            ("failed" if error else "sent", redact(error)[:300] if error else None, utcnow(), user_id, workflow_id))

    async def latest(self, user_id: str) -> EmailReport | None:
        row = await self.db.fetchone("SELECT * FROM email_reports WHERE user_id = ? ORDER BY day DESC, updated_at"
                                     " DESC LIMIT 1", (user_id,))
        return EmailReport.model_validate(dict(row)) if row else None

    async def purge(self, today: date, keep_days: int) -> int:
        cutoff = (today - timedelta(days=keep_days)).isoformat()
        return await self.db.execute("DELETE FROM email_reports WHERE day < ?", (cutoff,))
