"""Days that ended without closing themselves: terminated, timed out, or failed before their own clean-up ran.

A workflow that is terminated or hits its execution timeout runs no more code, so nothing inside it can
release its tasks. The bot (the process that can tell the user) sweeps open runs on start-up and every
minute: if the run's workflow is no longer running, the day is closed as failed with the reason, its
unfinished user tasks go back to pending, and a report saying so is stored for delivery.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from storage.models import Task, WorkflowRun
from storage.store import Store
from workflows.activities import release_failed_day
from workflows.models import DayState, StatusReport, TaskState
from workflows.report import build_report

log = logging.getLogger(__name__)

_REASONS = {
    WorkflowExecutionStatus.TERMINATED: "the shift was terminated before it finished",
    WorkflowExecutionStatus.TIMED_OUT: "the shift ran past its time limit and was stopped by Temporal",
    WorkflowExecutionStatus.FAILED: "the shift failed before it could close its records",
    WorkflowExecutionStatus.CANCELED: "the shift was cancelled before it could close its records",
    WorkflowExecutionStatus.COMPLETED: "the shift ended without closing its records",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "the shift ended without closing its records",
}


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _state(t: Task) -> TaskState:
    return TaskState(task_id=t.task_id, short_id=t.short_id, description=t.description, capabilities=t.capabilities,
                     category=t.category, generated_by=t.generated_by, status=t.status, progress=t.progress,
                     attempts=t.retry_count + 1 if t.start_time else 0, start_time=_ts(t.start_time),
                     end_time=_ts(t.end_time), output=t.output, error=t.error_message, cost_usd=t.cost_usd,
                     source_ref=t.source_ref)


async def failure_report(store: Store, run: WorkflowRun, reason: str) -> StatusReport:
    """The day as SQLite last saw it, with the reason it stopped."""
    user = await store.users.get(run.user_id)
    tasks = await store.tasks.for_user(run.user_id, workflow_id=run.workflow_id)
    now = datetime.now(UTC)
    start, deadline = _ts(run.start_time) or now, _ts(run.deadline) or now
    state = DayState(user_id=run.user_id, workflow_id=run.workflow_id, day=run.day,
                     timezone=user.timezone if user else "UTC", tasks=[_state(t) for t in tasks])
    report = build_report(state, start, deadline, min(now, deadline))
    report.failed_reason = reason
    report.notes = ["Unfinished tasks you added go back to your list for the next shift."]
    report.next_steps = "Check the reason above; your unfinished tasks are waiting for the next shift."
    return report


async def reap_stranded_days(client: Client, store: Store) -> list[str]:
    """Close every open run whose workflow no longer runs; returns their workflow ids."""
    reaped = []
    for run in await store.runs.open_runs():
        try:
            desc = await client.get_workflow_handle(run.workflow_id).describe()
            status = desc.status
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                log.warning("cannot check a day", extra={"workflow_id": run.workflow_id,
                                                         "data": {"error": str(exc)[:200]}})
                continue
            status = None
        if status is WorkflowExecutionStatus.RUNNING:
            continue
        reason = _REASONS.get(status, "the shift's workflow no longer exists") if status else \
            "the shift's workflow no longer exists"
        await release_failed_day(store, await failure_report(store, run, reason))
        log.warning("stranded day closed", extra={"workflow_id": run.workflow_id, "user_id": run.user_id,
                                                  "data": {"reason": reason}})
        reaped.append(run.workflow_id)
    return reaped
