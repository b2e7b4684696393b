"""Past days written through the real repositories (tasks -> run -> archive), as a finished shift leaves them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from storage.models import TaskStatus
from storage.store import Store
from workflows.models import day_workflow_id

# (description, final status, category, minutes, cost, error)
YESTERDAY = [
    ("Summarise yesterday's changes", TaskStatus.COMPLETED, "docs", 12.0, 0.04, None),
    ("Group the open TODO notes", TaskStatus.COMPLETED, "planning", 30.0, 0.07, None),
    ("Fetch the release dashboard", TaskStatus.FAILED, "research", 5.0, 0.02, "offline model told to fail (400)"),
]


async def seed_day(store: Store, user_id: str, day: date,
                   tasks: list[tuple[str, TaskStatus, str, float, float, str | None]],
                   start: datetime | None = None) -> list[str]:
    """Archive a finished day for ``user_id`` (window 08:00-11:00 UTC unless ``start``); returns the task ids."""
    wf = day_workflow_id(user_id, day.isoformat())
    start = start or datetime.combine(day, time(8, 0), tzinfo=UTC)
    await store.users.ensure(user_id)
    await store.runs.open(user_id, wf, day.isoformat(), start_time=start.isoformat(),
                          deadline=(start + timedelta(hours=3)).isoformat())
    ids = []
    at = start
    for desc, status, category, minutes, cost, error in tasks:
        task, _ = await store.tasks.create(user_id, desc, generated_by="orchestrator", category=category,
                                           workflow_id=wf, status=TaskStatus.PENDING)
        end = at + timedelta(minutes=minutes)
        await store.tasks.transition(user_id, task.task_id, status, message="seeded", fields={
            "start_time": at.isoformat(), "end_time": end.isoformat(), "cost_usd": cost,
            "progress": 100 if status is TaskStatus.COMPLETED else 40, "error_message": error,
            "assigned_to": f"executor-{task.short_id}-r1"})
        entry = uuid.uuid4().hex
        await store.ledger.reserve(user_id, day.isoformat(), entry, amount_usd=1.0, daily_cap_usd=100.0,
                                   agent_kind="executor", task_id=task.task_id)
        await store.ledger.settle(user_id, entry, actual_usd=cost)
        ids.append(task.task_id)
        at = end
    await store.runs.update(user_id, wf, status="completed", end_time=(start + timedelta(hours=3)).isoformat())
    await store.history.archive_day(user_id, wf, day.isoformat())
    return ids
