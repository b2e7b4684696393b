"""Worker factory shared by ``dayshift run`` (in-process) and ``dayshift worker`` (extra capacity)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from workflows.activities import ShiftActivities
from workflows.daily_shift import DailyShiftWorkflow
from workflows.events import DayEventsInterceptor
from workflows.models import TASK_QUEUE
from workflows.scheduled_shift import ScheduledShiftWorkflow

WORKFLOWS = [DailyShiftWorkflow, ScheduledShiftWorkflow]


def build_worker(client: Client, activities: ShiftActivities, *, max_concurrent_agents: int = 4,
                 task_queue: str = TASK_QUEUE, graceful_shutdown: timedelta = timedelta(seconds=10)) -> Worker:
    """A worker whose concurrent activities (each may hold an agent CLI, ~240 MB) are capped."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities.all(),  # type: ignore[arg-type]
        max_concurrent_activities=max_concurrent_agents + 8,
        # Cancellation reaches an activity only through a heartbeat response; keep that latency short.
        max_heartbeat_throttle_interval=timedelta(seconds=2),
        default_heartbeat_throttle_interval=timedelta(seconds=2),
        graceful_shutdown_timeout=graceful_shutdown,
        interceptors=[DayEventsInterceptor()],  # the spec's workflow_started/completed/failed log events
    )
