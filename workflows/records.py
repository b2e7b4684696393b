"""The one place where task shapes are converted into each other.

The task row (``storage.models.TaskFields``) is the canonical record. The workflow's ``TaskState``, the
agents' ``TaskBrief`` / ``TaskDraft`` and the report's ``ReportItem`` share its bases (``TaskSpec`` ->
``TaskLabel`` -> ``TaskIdentity``), and the shared fields are carried over by those bases, never listed by
hand here; only the fields whose meaning differs between shapes are mapped below. Deterministic and pure,
so workflow code may call it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from agents.contracts import TaskBrief
from storage.models import Task, TaskIdentity, TaskLabel, TaskMirror, TaskStatus
from workflows.models import OUTPUT_SUMMARY_CHARS, ReportItem, TaskState


def shared(source: BaseModel, base: type[BaseModel]) -> dict[str, Any]:
    """The fields ``source`` has through the common base ``base`` (what two shapes agree on)."""
    return source.model_dump(include=set(base.model_fields))


def summary(output: str) -> str:
    """The workflow's (and Slack's) view of an output: a prefix, never stored back over the whole."""
    return output if len(output) <= OUTPUT_SUMMARY_CHARS else output[: OUTPUT_SUMMARY_CHARS - 1] + "…"


def state_from_row(row: Task) -> TaskState:
    """A stored task (a user's waiting task) entering a day's workflow."""
    return TaskState(**shared(row, TaskIdentity), generated_by=row.generated_by, status=row.status,
                     source_ref=row.source_ref)


def to_row(user_id: str, workflow_id: str, t: TaskState, now: datetime | None = None) -> TaskMirror:
    """The columns of the task row the workflow owns. Output, cost and tokens are not among them."""
    created = t.start_time or now or datetime.fromisoformat("1970-01-01T00:00:00+00:00")
    return TaskMirror(
        **shared(t, TaskIdentity), user_id=user_id, workflow_id=workflow_id, created_at=created.isoformat(),
        generated_by=t.generated_by, assigned_to=t.assigned_to, status=t.status,
        start_time=t.start_time.isoformat() if t.start_time else None,
        end_time=t.end_time.isoformat() if t.end_time else None,
        error_message=t.error or t.blocked_reason, retry_count=max(0, t.attempts - 1),
        progress=t.progress, progress_note=t.progress_note, source_ref=t.source_ref,
    )


def complete(t: TaskState, output: str, cost_usd: float, now: datetime) -> None:
    """A successful run, in place: the one rule the workflow applies to its state and the executor activity to
    the row it records (``output`` is the summary; the whole output is stored beside it)."""
    t.status = TaskStatus.COMPLETED
    t.progress = 100
    t.output = output
    t.cost_usd += cost_usd
    t.attempts += 1
    t.end_time = now


def brief(t: TaskState) -> TaskBrief:
    """What an agent is told about a task."""
    return TaskBrief(**shared(t, TaskIdentity), status=t.status.value, note=t.error or t.blocked_reason)


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60, 2)


def report_item(t: TaskState, now: datetime) -> ReportItem:
    """One report line; ``output`` is the workflow's summary (the whole output stays in the task row)."""
    reason = t.error or t.blocked_reason
    if reason is None and t.status in (TaskStatus.GENERATED, TaskStatus.PRE_VALIDATED, TaskStatus.PENDING):
        reason = "Not yet assigned"
    return ReportItem(
        **shared(t, TaskLabel), task_id=t.task_id, status=t.status.value, generated_by=t.generated_by,
        duration_minutes=_minutes(t.start_time, t.end_time), elapsed_minutes=_minutes(t.start_time, t.end_time or now),
        progress=t.progress, output=t.output, reason=reason, attempts=t.attempts, resolution=t.resolution,
    )
