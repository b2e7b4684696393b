"""One row per user-day window: thread coordinates, report and its delivery, last checkpoint snapshot."""

from __future__ import annotations

from typing import Any

from storage.db import Database, utcnow
from storage.models import SlackPost, WorkflowRun

_SETTABLE = frozenset(
    {"start_time", "end_time", "deadline", "status", "main_agent_id", "thread_channel", "thread_ts", "status_ts",
     "report_json", "report_delivered", "report_ts", "snapshot_json"}
)


class RunRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, user_id: str, workflow_id: str, day: str, *, start_time: str, deadline: str,
                   main_agent_id: str | None = None) -> WorkflowRun:
        """Record the window (idempotent: a replayed activity finds its own row)."""
        await self.db.execute(
            "INSERT INTO workflows(workflow_id, user_id, day, start_time, deadline, status, main_agent_id,"
            " updated_at) VALUES (?,?,?,?,?, 'running', ?, ?) ON CONFLICT(workflow_id) DO NOTHING",
            (workflow_id, user_id, day, start_time, deadline, main_agent_id, utcnow()),
        )
        run = await self.get(user_id, workflow_id)
        assert run is not None
        return run

    async def get(self, user_id: str, workflow_id: str) -> WorkflowRun | None:
        row = await self.db.fetchone(
            "SELECT * FROM workflows WHERE user_id = ? AND workflow_id = ?", (user_id, workflow_id)
        )
        return WorkflowRun.model_validate(dict(row)) if row else None

    async def update(self, user_id: str, workflow_id: str, **fields: Any) -> None:
        bad = set(fields) - _SETTABLE
        if bad:
            raise ValueError(f"not settable: {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        await self.db.execute(
            f"UPDATE workflows SET {sets}, updated_at = ? WHERE user_id = ? AND workflow_id = ?",
            [*fields.values(), utcnow(), user_id, workflow_id],
        )

    async def latest(self, user_id: str) -> WorkflowRun | None:
        row = await self.db.fetchone(
            "SELECT * FROM workflows WHERE user_id = ? ORDER BY COALESCE(start_time, updated_at) DESC LIMIT 1",
            (user_id,),
        )
        return WorkflowRun.model_validate(dict(row)) if row else None

    async def recent(self, user_id: str, limit: int = 30) -> list[WorkflowRun]:
        rows = await self.db.fetchall(
            "SELECT * FROM workflows WHERE user_id = ? ORDER BY day DESC, start_time DESC LIMIT ?", (user_id, limit)
        )
        return [WorkflowRun.model_validate(dict(r)) for r in rows]

    async def undelivered_reports(self) -> list[WorkflowRun]:
        """Reports that a Slack outage kept from landing; the bot re-delivers them when Slack is back."""
        rows = await self.db.fetchall(
            "SELECT * FROM workflows WHERE report_json IS NOT NULL AND report_delivered = 0 ORDER BY day"
        )
        return [WorkflowRun.model_validate(dict(r)) for r in rows]

    async def running(self, user_id: str) -> list[WorkflowRun]:
        """The user's days whose window is (as far as SQLite knows) still open, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM workflows WHERE user_id = ? AND status = 'running'"
            " ORDER BY COALESCE(start_time, updated_at) DESC LIMIT 5",
            (user_id,),
        )
        return [WorkflowRun.model_validate(dict(r)) for r in rows]

    # ---- Slack posts: the intent is stored before posting, the ts right after -----------------------

    async def post(self, user_id: str, post_key: str) -> SlackPost | None:
        row = await self.db.fetchone(
            "SELECT * FROM slack_posts WHERE user_id = ? AND post_key = ?", (user_id, post_key)
        )
        return SlackPost.model_validate(dict(row)) if row else None

    async def intend_post(self, user_id: str, post_key: str, channel: str, thread_ts: str | None) -> SlackPost:
        """Record that ``post_key`` is about to be posted (idempotent: an earlier intent wins)."""
        await self.db.execute(
            "INSERT INTO slack_posts(post_key, user_id, channel, thread_ts, created_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(post_key) DO NOTHING",
            (post_key, user_id, channel, thread_ts, utcnow()),
        )
        found = await self.post(user_id, post_key)
        if found is None:  # the key exists under another user: never share or reveal it
            raise ValueError(f"post key {post_key!r} belongs to another user")
        return found

    async def posted(self, user_id: str, post_key: str, channel: str, ts: str) -> None:
        await self.db.execute(
            "UPDATE slack_posts SET channel = ?, ts = ?, posted_at = ? WHERE user_id = ? AND post_key = ?",
            (channel, ts, utcnow(), user_id, post_key),
        )

    async def open_runs(self) -> list[WorkflowRun]:
        """Runs not closed yet (running, or reported but not archived): the bot checks that their workflow
        still runs, so a terminated or timed-out day does not strand its tasks."""
        rows = await self.db.fetchall("SELECT * FROM workflows WHERE status IN ('running', 'reported') ORDER BY day")
        return [WorkflowRun.model_validate(dict(r)) for r in rows]
