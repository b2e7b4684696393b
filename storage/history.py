"""Archived days: the read-only past that agents learn from, and the retention purge."""

from __future__ import annotations

import json
from datetime import date, timedelta

from storage.db import Database, Row, could_be_key, utcnow
from storage.models import CategoryCount, FailurePattern, HistoryTask, TaskStatus
from storage.tasks import new_task_id, short_id_of

_HISTORY_COLS = (
    "task_id, user_id, short_id, created_at, generated_by, assigned_to, description, capabilities, category,"
    " status, start_time, end_time, output, error_message, retry_count, workflow_id, progress, cost_usd,"
    " input_tokens, output_tokens"
)


def _to_history(row: Row) -> HistoryTask:
    data = dict(row)
    data["capabilities"] = json.loads(data.get("capabilities") or "[]")
    return HistoryTask.model_validate(data)


def _float(value: object) -> float | None:
    return None if value is None else float(str(value))


def _since(today: date, days: int) -> str:
    return (today - timedelta(days=max(0, days - 1))).isoformat()


class HistoryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def archive_day(self, user_id: str, workflow_id: str, day: str) -> tuple[int, int]:
        """Move the day's tasks to task_history; unfinished user-added tasks come back as pending.

        Returns (archived, carried_over). Idempotent: a second call finds nothing left to move.
        """
        now = utcnow()
        async with self.db.transaction() as conn:
            # The same per-task locks the mirror and an executor's record take (PostgreSQL; SQLite's writer is
            # already alone): a late write either lands before the day is moved or finds its row gone, never in
            # between (where it would revive an archived task, or carry a task over that had just completed).
            cur = await conn.execute("SELECT task_id FROM tasks WHERE user_id = ? AND workflow_id = ?"
                                     " ORDER BY task_id", (user_id, workflow_id))
            for row in await cur.fetchall():
                await conn.lock("task", row["task_id"])
            cur = await conn.execute(
                "SELECT task_id, description, capabilities, category, source_ref FROM tasks"
                " WHERE user_id = ? AND workflow_id = ? AND generated_by = 'user'"
                " AND status IN ('generated', 'pre_validated', 'pending', 'in_progress')",
                (user_id, workflow_id),
            )
            carry = list(await cur.fetchall())
            cur = await conn.execute(
                f"INSERT OR IGNORE INTO task_history({_HISTORY_COLS}, day, archived_at)"
                f" SELECT {_HISTORY_COLS}, ?, ? FROM tasks WHERE user_id = ? AND workflow_id = ?",
                (day, now, user_id, workflow_id),
            )
            archived = cur.rowcount
            await conn.execute("DELETE FROM tasks WHERE user_id = ? AND workflow_id = ?", (user_id, workflow_id))
            for row in carry:
                task_id = new_task_id()
                await conn.execute(
                    "INSERT INTO tasks(task_id, user_id, short_id, created_at, generated_by, description,"
                    " capabilities, category, status, source_ref, updated_at)"
                    " VALUES (?,?,?,?, 'user', ?,?,?, 'pending', ?, ?)",
                    (task_id, user_id, short_id_of(task_id), now, row["description"], row["capabilities"],
                     row["category"], row["source_ref"], now),
                )
                await conn.execute(
                    "INSERT INTO task_events(task_id, user_id, workflow_id, at, kind, from_status, to_status,"
                    " message) VALUES (?,?,?,?, 'carried_over', NULL, 'pending', ?)",
                    (task_id, user_id, None, now, f"carried over from {day} (was {row['task_id'][:8]})"),
                )
        return archived, len(carry)

    async def last_days(self, user_id: str, days: int, today: date) -> list[HistoryTask]:
        """All archived tasks of the last ``days`` days (today included), newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM task_history WHERE user_id = ? AND day >= ? ORDER BY day DESC, created_at",
            (user_id, _since(today, days)),
        )
        return [_to_history(r) for r in rows]

    async def day(self, user_id: str, day: str) -> list[HistoryTask]:
        rows = await self.db.fetchall(
            "SELECT * FROM task_history WHERE user_id = ? AND day = ? ORDER BY created_at", (user_id, day)
        )
        return [_to_history(r) for r in rows]

    async def get(self, user_id: str, task_id: str) -> HistoryTask | None:
        """One archived task of this user by its full id; None for another user's (or no) task."""
        if not could_be_key(task_id):
            return None
        row = await self.db.fetchone(
            "SELECT * FROM task_history WHERE user_id = ? AND task_id = ?", (user_id, task_id)
        )
        return _to_history(row) if row else None

    async def completed_by_category(self, user_id: str, days: int, today: date) -> list[CategoryCount]:
        rows = await self.db.fetchall(
            "SELECT category, COUNT(*) AS count,"
            " AVG((julianday(end_time) - julianday(start_time)) * 1440) AS avg_minutes"
            " FROM task_history WHERE user_id = ? AND status = ?"
            " AND day >= ? GROUP BY category ORDER BY count DESC, category",
            (user_id, TaskStatus.COMPLETED.value, _since(today, days)),
        )
        return [CategoryCount.model_validate(dict(r)) for r in rows]

    async def failure_patterns(self, user_id: str, days: int, today: date, limit: int = 10) -> list[FailurePattern]:
        rows = await self.db.fetchall(
            "SELECT COALESCE(error_message, 'unknown') AS error_message, COUNT(*) AS count, MAX(day) AS last_seen,"
            " GROUP_CONCAT(DISTINCT category) AS categories FROM task_history"
            " WHERE user_id = ? AND status = 'failed' AND day >= ?"
            " GROUP BY COALESCE(error_message, 'unknown') ORDER BY count DESC LIMIT ?",
            (user_id, _since(today, days), limit),
        )
        return [FailurePattern.model_validate(dict(r)) for r in rows]

    async def day_totals(self, user_id: str, days: int, today: date) -> list[dict[str, object]]:
        """Per-day counts for dashboards: day, total, completed, failed, avg_seconds, cost_usd."""
        rows = await self.db.fetchall(
            "SELECT day, COUNT(*) AS total, SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,"
            " SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,"
            " AVG(CASE WHEN status = 'completed' AND start_time IS NOT NULL AND end_time IS NOT NULL"
            "   THEN (julianday(end_time) - julianday(start_time)) * 86400 END) AS avg_seconds,"
            " SUM(cost_usd) AS cost_usd FROM task_history WHERE user_id = ? AND day >= ?"
            " GROUP BY day ORDER BY day DESC",
            (user_id, _since(today, days)),
        )
        # Same types from both backends (PostgreSQL's SUM/AVG/EXTRACT are NUMERIC, whatever the pool decodes
        # them to): counts are ints, the rest floats or None.
        return [{"day": str(r["day"]), "total": int(r["total"]), "completed": int(r["completed"] or 0),
                 "failed": int(r["failed"] or 0), "avg_seconds": _float(r["avg_seconds"]),
                 "cost_usd": _float(r["cost_usd"])} for r in rows]

    async def purge(self, today: date, keep_days: int = 90) -> int:
        """Delete history (and its audit trail) older than ``keep_days``; returns the rows removed."""
        if keep_days < 1:
            raise ValueError("keep_days must be at least 1")
        cutoff = (today - timedelta(days=keep_days)).isoformat()
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM task_events WHERE task_id IN (SELECT task_id FROM task_history WHERE day < ?)",
                (cutoff,),
            )
            cur = await conn.execute("DELETE FROM task_history WHERE day < ?", (cutoff,))
            removed = cur.rowcount
            await conn.execute("DELETE FROM cost_ledger WHERE day < ?", (cutoff,))
            await conn.execute("DELETE FROM workflows WHERE day < ?", (cutoff,))
            await conn.execute("DELETE FROM processed_events WHERE seen_at < ?", (cutoff,))
            await conn.execute("DELETE FROM slack_posts WHERE created_at < ?", (cutoff,))
        return removed
