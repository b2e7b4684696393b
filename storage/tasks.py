"""The live task list. Every function takes the owner's ``user_id`` and filters by it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from storage.db import Database, Row, Tx, could_be_key, utcnow
from storage.models import Task, TaskEvent, TaskMirror, TaskStatus
from storage.redaction import redact, redact_opt

# Text that agents produce (it may quote a secret): redacted before it is written.
_AGENT_TEXT = ("output", "error_message", "progress_note")
# How a mirror merges with what the row already holds: progress only grows, and the workflow's note (it hears
# progress throttled; the row has every report) replaces the row's only with a higher value. The executor's own
# reports (``set_progress``) are the newest, so theirs also wins at an equal value.
_MERGE = {
    "progress": "progress = MAX(tasks.progress, excluded.progress)",
    "progress_note": "progress_note = CASE WHEN excluded.progress > tasks.progress"
                     " THEN COALESCE(excluded.progress_note, tasks.progress_note) ELSE tasks.progress_note END",
}

_UPDATABLE = frozenset(
    {
        "assigned_to", "description", "capabilities", "category", "status", "start_time", "end_time",
        "output", "error_message", "retry_count", "workflow_id", "progress", "progress_note",
        "cost_usd", "input_tokens", "output_tokens",
    }
)


class NotFound(LookupError):
    """No such task for this user (also what another user's task looks like)."""


def new_task_id() -> str:
    return str(uuid.uuid4())


def short_id_of(task_id: str) -> str:
    """The 6 characters users type in ``/dayshift edit``; unique enough within one user's tasks."""
    return task_id.replace("-", "")[:6]


def _to_task(row: Row) -> Task:
    data = dict(row)
    data["capabilities"] = json.loads(data.get("capabilities") or "[]")
    return Task.model_validate(data)


def _encode(field: str, value: Any) -> Any:
    if field in _AGENT_TEXT and isinstance(value, str):
        return redact(value)
    if field == "capabilities":
        return json.dumps(list(value))
    if isinstance(value, TaskStatus):
        return value.value
    return value


class TaskRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        user_id: str,
        description: str,
        *,
        generated_by: str,
        capabilities: Iterable[str] = (),
        category: str = "general",
        status: TaskStatus = TaskStatus.PENDING,
        workflow_id: str | None = None,
        source_ref: str | None = None,
        task_id: str | None = None,
    ) -> tuple[Task, bool]:
        """Insert a task; returns (task, created). Idempotent on ``task_id`` and on (user, source_ref)."""
        task_id = task_id or new_task_id()
        now = utcnow()
        async with self.db.transaction() as conn:
            await conn.lock("task", task_id)
            if source_ref is not None:
                await conn.lock("task-source", user_id, source_ref)
                cur = await conn.execute(
                    "SELECT * FROM tasks WHERE user_id = ? AND source_ref = ?", (user_id, source_ref)
                )
                existing = await cur.fetchone()
                if existing is not None:
                    return _to_task(existing), False
            cur = await conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
            existing = await cur.fetchone()
            if existing is not None:
                if existing["user_id"] != user_id:
                    raise NotFound(task_id)
                return _to_task(existing), False
            await conn.execute(
                "INSERT INTO tasks(task_id, user_id, short_id, created_at, generated_by, description,"
                " capabilities, category, status, workflow_id, source_ref, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    task_id, user_id, short_id_of(task_id), now, generated_by, description,
                    json.dumps(list(capabilities)), category, status.value, workflow_id, source_ref, now,
                ),
            )
            await _event(conn, task_id, user_id, workflow_id, "created", None, status.value, None,
                         f"created by {generated_by}")
        task = await self.get(user_id, task_id)
        return task, True

    async def get(self, user_id: str, task_id: str) -> Task:
        if not could_be_key(task_id):
            raise NotFound(task_id)
        row = await self.db.fetchone(
            "SELECT * FROM tasks WHERE user_id = ? AND task_id = ?", (user_id, task_id)
        )
        if row is None:
            raise NotFound(task_id)
        return _to_task(row)

    async def find(self, user_id: str, ref: str) -> Task:
        """Look a task up by full id or short id, within this user's tasks only."""
        ref = ref.strip().lower()
        if not ref or len(ref) > 64 or not could_be_key(ref):
            raise NotFound(ref)
        rows = await self.db.fetchall(
            "SELECT * FROM tasks WHERE user_id = ? AND (task_id = ? OR short_id = ?)"
            " ORDER BY created_at DESC",
            (user_id, ref, ref),
        )
        if not rows:
            raise NotFound(ref)
        return _to_task(rows[0])

    async def for_user(
        self,
        user_id: str,
        *,
        statuses: Iterable[TaskStatus] | None = None,
        workflow_id: str | None = None,
    ) -> list[Task]:
        sql = "SELECT * FROM tasks WHERE user_id = ?"
        params: list[Any] = [user_id]
        if statuses is not None:
            wanted = [s.value for s in statuses]
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            params += wanted
        if workflow_id is not None:
            sql += " AND workflow_id = ?"
            params.append(workflow_id)
        sql += " ORDER BY created_at"
        return [_to_task(r) for r in await self.db.fetchall(sql, params)]

    async def pending_unassigned(self, user_id: str) -> list[Task]:
        """User-added tasks waiting for the next window (no workflow has claimed them)."""
        rows = await self.db.fetchall(
            "SELECT * FROM tasks WHERE user_id = ? AND status = 'pending' AND workflow_id IS NULL"
            " ORDER BY created_at",
            (user_id,),
        )
        return [_to_task(r) for r in rows]

    async def assigned(self, user_id: str) -> list[Task]:
        rows = await self.db.fetchall(
            "SELECT * FROM tasks WHERE user_id = ? AND assigned_to IS NOT NULL AND status = 'in_progress'"
            " ORDER BY start_time",
            (user_id,),
        )
        return [_to_task(r) for r in rows]

    async def claim_pending(self, user_id: str, workflow_id: str) -> list[Task]:
        """Hand the waiting user-added tasks to today's window (idempotent for the same workflow)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE tasks SET workflow_id = ?, updated_at = ? WHERE user_id = ? AND status = 'pending'"
                " AND workflow_id IS NULL",
                (workflow_id, utcnow(), user_id),
            )
        return await self.for_user(user_id, workflow_id=workflow_id, statuses=[TaskStatus.PENDING])

    async def mirror(self, task: TaskMirror, *, kind: str = "status", message: str | None = None,
                     attempt: int | None = None, create: bool = True) -> str | None:
        """Upsert the workflow's columns of a task and audit the change, in one transaction.

        Only ``TaskMirror``'s columns are written, so the whole output, cost and tokens that the executor
        stored stay as they are (the workflow only holds a summary of the output). ``create=False`` writes
        only a row that still exists: a late write (an executor finishing after its day was archived) must
        not bring the task back. A completed row is final: an older view that would move it elsewhere is
        refused (nothing written). Returns the status before, or None when there was no row.
        """
        async with self.db.transaction() as conn:
            return await self._mirror_in(conn, task, kind, message, attempt, create)

    async def complete(self, task: TaskMirror, *, output: str, cost_usd: float, input_tokens: int,
                       output_tokens: int, message: str = "completed") -> str | None:
        """An executor's success in one write: the workflow's completed row, the whole output and the usage.

        One transaction instead of three, and no round trip through the workflow first: the completion is
        recorded the moment the agent returns. A row that is gone (the day was archived) is left gone.
        """
        async with self.db.transaction() as conn:
            await conn.lock("task", task.task_id)
            cur = await conn.execute("SELECT status, assigned_to FROM tasks WHERE task_id = ? AND user_id = ?",
                                     (task.task_id, task.user_id))
            now = await cur.fetchone()
            if now is not None and now["status"] == TaskStatus.COMPLETED.value and \
                    now["assigned_to"] == task.assigned_to:
                # This round's success is on record already (two attempts ran the agent at once): the record and
                # its output stay, but this run's usage was real and is added.
                await conn.execute(
                    "UPDATE tasks SET cost_usd = cost_usd + ?, input_tokens = input_tokens + ?,"
                    " output_tokens = output_tokens + ? WHERE user_id = ? AND task_id = ?",
                    (cost_usd, input_tokens, output_tokens, task.user_id, task.task_id))
                return str(now["status"])
            before = await self._mirror_in(conn, task, "status", message, None, False)
            if before is not None:
                await conn.execute(
                    "UPDATE tasks SET output = ?, cost_usd = cost_usd + ?, input_tokens = input_tokens + ?,"
                    " output_tokens = output_tokens + ? WHERE user_id = ? AND task_id = ?",
                    (redact(output), cost_usd, input_tokens, output_tokens, task.user_id, task.task_id))
            return before

    async def _mirror_in(self, conn: Tx, task: TaskMirror, kind: str, message: str | None, attempt: int | None,
                         create: bool) -> str | None:
        data = task.model_dump(include=set(TaskMirror.model_fields))
        data.update({f: redact(data[f]) for f in _AGENT_TEXT if isinstance(data.get(f), str)})
        data["capabilities"] = json.dumps(task.capabilities)
        data["status"] = task.status.value
        data["updated_at"] = utcnow()
        cols = list(data)
        updates = ", ".join(_MERGE.get(c, f"{c} = excluded.{c}")
                            for c in cols if c not in ("task_id", "user_id", "created_at", "source_ref"))
        await conn.lock("task", task.task_id)  # PostgreSQL: the before-status read and the upsert are one step
        cur = await conn.execute("SELECT user_id, status FROM tasks WHERE task_id = ?", (task.task_id,))
        before = await cur.fetchone()
        if before is not None and before["user_id"] != task.user_id:
            raise NotFound(task.task_id)
        if before is None and not create:
            return None
        if before is not None and before["status"] == TaskStatus.COMPLETED.value and data["status"] != \
                TaskStatus.COMPLETED.value:
            # Completed is final: the executor records it the moment it happens, and an older view of the task
            # (a delayed "ready" record, the deadline's view of an abandoned runner) must not undo it.
            return str(before["status"])
        await conn.execute(
            f"INSERT INTO tasks({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            f" ON CONFLICT(task_id) DO UPDATE SET {updates} WHERE tasks.user_id = excluded.user_id",
            [data[c] for c in cols],
        )
        from_status: str | None = before["status"] if before is not None else None
        if from_status != data["status"] or kind != "status":
            await _event(conn, task.task_id, task.user_id, task.workflow_id, kind, from_status, data["status"],
                         attempt, message)
        return from_status

    async def update_fields(self, user_id: str, task_id: str, fields: Mapping[str, Any]) -> Task:
        bad = set(fields) - _UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        params = [_encode(k, v) for k, v in fields.items()]
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE user_id = ? AND task_id = ?",
                [*params, utcnow(), user_id, task_id],
            )
            if cur.rowcount == 0:
                raise NotFound(task_id)
        return await self.get(user_id, task_id)

    async def transition(
        self,
        user_id: str,
        task_id: str,
        to_status: TaskStatus,
        *,
        message: str | None = None,
        attempt: int | None = None,
        kind: str = "status",
        fields: Mapping[str, Any] | None = None,
    ) -> Task:
        """Change status and write the audit event in the same transaction."""
        fields = dict(fields or {})
        bad = set(fields) - _UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT status, workflow_id FROM tasks WHERE user_id = ? AND task_id = ?", (user_id, task_id)
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(task_id)
            fields["status"] = to_status
            sets = ", ".join(f"{k} = ?" for k in fields)
            await conn.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE user_id = ? AND task_id = ?",
                [*(_encode(k, v) for k, v in fields.items()), utcnow(), user_id, task_id],
            )
            await _event(conn, task_id, user_id, fields.get("workflow_id", row["workflow_id"]), kind,
                         row["status"], to_status.value, attempt, message)
        return await self.get(user_id, task_id)

    async def edit_pending(self, user_id: str, task_id: str, description: str) -> Task:
        """Edit a waiting task's text; refuses anything that is no longer pending."""
        task = await self.get(user_id, task_id)
        if task.status is not TaskStatus.PENDING:
            raise ValueError(f"task {task.short_id} is {task.status.value}; only pending tasks can be edited")
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE tasks SET description = ?, updated_at = ? WHERE user_id = ? AND task_id = ?"
                " AND status = 'pending'",
                (description, utcnow(), user_id, task_id),
            )
            await _event(conn, task_id, user_id, task.workflow_id, "edited", "pending", "pending", None,
                         "description edited")
        return await self.get(user_id, task_id)

    async def cancel_pending(self, user_id: str, task_id: str, reason: str = "cancelled by user") -> Task:
        task = await self.get(user_id, task_id)
        if task.status is not TaskStatus.PENDING:
            raise ValueError(f"task {task.short_id} is {task.status.value}; only pending tasks can be cancelled")
        return await self.transition(user_id, task_id, TaskStatus.CANCELLED, message=reason,
                                     fields={"end_time": utcnow()})

    async def set_progress(self, user_id: str, task_id: str, percent: int, note: str | None = None) -> None:
        percent = max(0, min(100, int(percent)))
        await self.db.execute(
            "UPDATE tasks SET progress = MAX(progress, ?),"
            " progress_note = CASE WHEN ? >= progress THEN COALESCE(?, progress_note) ELSE progress_note END,"
            " updated_at = ? WHERE user_id = ? AND task_id = ?",
            (percent, percent, note, utcnow(), user_id, task_id),
        )

    async def add_usage(self, user_id: str, task_id: str, cost_usd: float, input_tokens: int,
                        output_tokens: int) -> None:
        await self.db.execute(
            "UPDATE tasks SET cost_usd = cost_usd + ?, input_tokens = input_tokens + ?,"
            " output_tokens = output_tokens + ?, updated_at = ? WHERE user_id = ? AND task_id = ?",
            (cost_usd, input_tokens, output_tokens, utcnow(), user_id, task_id),
        )

    async def add_event(self, user_id: str, task_id: str, kind: str, message: str, *,
                        attempt: int | None = None, workflow_id: str | None = None) -> None:
        async with self.db.transaction() as conn:
            await _event(conn, task_id, user_id, workflow_id, kind, None, None, attempt, message)

    async def events(self, user_id: str, task_id: str) -> list[TaskEvent]:
        rows = await self.db.fetchall(
            "SELECT * FROM task_events WHERE user_id = ? AND task_id = ? ORDER BY event_id", (user_id, task_id)
        )
        return [TaskEvent.model_validate(dict(r)) for r in rows]


async def _event(conn: Tx, task_id: str, user_id: str, workflow_id: str | None, kind: str,
                 from_status: str | None, to_status: str | None, attempt: int | None,
                 message: str | None) -> None:
    await conn.execute(
        "INSERT INTO task_events(task_id, user_id, workflow_id, at, kind, from_status, to_status, attempt,"
        " message) VALUES (?,?,?,?,?,?,?,?,?)",
        (task_id, user_id, workflow_id, utcnow(), kind, from_status, to_status, attempt, redact_opt(message)),
    )
