"""The spec's log events: one JSON line each, with ``event``, ``workflow_id``, ``user_id`` and, for a task,
``task_id`` (``bot/logging_setup.py`` renders them, ``bot/metrics.py`` counts them).

Activities call :func:`emit`. Workflow-level events (started, completed, failed) come from a worker
interceptor, not from workflow code, and only when the workflow is not replaying, so a worker that picks
a day up from history never logs its start twice.
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import workflow
from temporalio.exceptions import FailureError
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

LOGGER = "dayshift.events"
# The spec's events and their levels; anything else a component logs is not one of these.
LEVELS: dict[str, int] = {
    "workflow_started": logging.INFO,
    "workflow_completed": logging.INFO,
    "task_status_changed": logging.INFO,
    "agent_started": logging.INFO,
    "agent_finished": logging.INFO,
    "task_retry": logging.WARNING,
    "deadline_warning": logging.WARNING,
    "escalated": logging.ERROR,
    "workflow_failed": logging.ERROR,
    # not in the spec's list, needed for the delivery success rate
    "status_update_delivered": logging.INFO,
    "status_update_failed": logging.WARNING,
}
log = logging.getLogger(LOGGER)


def emit(event: str, *, workflow_id: str | None, user_id: str | None, task_id: str | None = None,
         **fields: Any) -> None:
    """Log one of the spec's events at its level; ``fields`` become top-level keys of the JSON line."""
    log.log(LEVELS.get(event, logging.INFO), event,
            extra={"event": event, "workflow_id": workflow_id, "user_id": user_id, "task_id": task_id,
                   "data": fields})


class DayEventsInterceptor(Interceptor):
    """workflow_started / workflow_completed / workflow_failed for every DailyShiftWorkflow."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _DayEvents


def _workflow_event(event: str, user_id: str | None, **fields: Any) -> None:
    if workflow.unsafe.is_replaying():
        return
    with workflow.unsafe.sandbox_unrestricted():
        emit(event, workflow_id=workflow.info().workflow_id, user_id=user_id, **fields)


class _DayEvents(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        if workflow.info().workflow_type != "DailyShiftWorkflow":
            return await super().execute_workflow(input)
        day = input.args[0] if input.args else None
        user_id = getattr(day, "user_id", None)
        _workflow_event("workflow_started", user_id, day=getattr(day, "day", None),
                        window_seconds=getattr(day, "window_seconds", None))
        try:
            report = await super().execute_workflow(input)
        except FailureError as exc:  # fails the workflow (other exceptions only fail a task, which retries)
            root: BaseException = exc
            while isinstance(root, FailureError) and root.cause is not None:
                root = root.cause
            kind = getattr(root, "type", None) or type(root).__name__
            _workflow_event("workflow_failed", user_id, error_type=kind, error=str(root)[:300])
            raise
        _workflow_event("workflow_completed", user_id, **_report_fields(report))
        return report


def _report_fields(report: Any) -> dict[str, Any]:
    def count(name: str) -> int:
        return len(getattr(report, name, None) or [])

    completed = getattr(report, "completed", None) or []
    durations = [i.duration_minutes * 60 for i in completed if getattr(i, "duration_minutes", None) is not None]
    return {"tasks_total": getattr(report, "total_generated", 0), "completed": count("completed"),
            "in_progress": count("in_progress"), "failed": count("failed"), "not_started": count("not_started"),
            "cancelled": count("cancelled"), "task_seconds": durations,
            "cost_usd": getattr(report, "cost_usd", 0.0), "skipped": bool(getattr(report, "skipped_reason", None)),
            "failure_types": [error_type(getattr(i, "reason", "") or "") for i in getattr(report, "failed", [])]}


def error_type(reason: str) -> str:
    """A coarse, low-cardinality error type for metrics labels."""
    text = reason.lower()
    for needle, kind in (("timed out", "timeout"), ("timeout", "timeout"), ("529", "overloaded"),
                         ("overload", "overloaded"), ("429", "rate_limited"), ("rate", "rate_limited"),
                         ("budget", "budget"), ("permission", "permission_denied"), ("denied", "permission_denied"),
                         ("max turns", "max_turns"), ("auth", "auth"), ("500", "api_error"),
                         ("pre-validation", "invalid_task"), ("unknown capability", "invalid_task")):
        if needle in text:
            return kind
    return "other"
