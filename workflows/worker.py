"""Worker factory shared by ``dayshift run`` (in-process), ``dayshift worker`` (extra capacity) and the demo.

One process polls up to three task queues, each with its own slots, so nothing waits behind what it does
not need:
- the workflow queue: workflows and the quick bookkeeping activities (records, validation, the report's save);
- its agent queue: activities that hold an agent CLI (~240 MB each), capped at ``max_concurrent_agents``;
  waiting executors queue on the server, not in a worker slot that bookkeeping or an update needs;
- its notify queue: activities that talk to Slack, only in a process that has a Notifier. A worker without
  Slack never takes a report or an escalation it could not deliver.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import TracebackType

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.activities import ShiftActivities
from workflows.daily_shift import DailyShiftWorkflow
from workflows.events import DayEventsInterceptor
from workflows.models import TASK_QUEUE, agent_queue, notify_queue
from workflows.scheduled_shift import ScheduledShiftWorkflow

WORKFLOWS = [DailyShiftWorkflow, ScheduledShiftWorkflow]
# The sandbox re-imports the workflow's module for every new workflow run, and without bytecode caching
# (PYTHONDONTWRITEBYTECODE, as on these machines) recompiles it: at a thousand day starts that was a quarter of the
# worker's CPU and most of the tasks' queueing. Our packages hold no mutable module state, so they pass through.
# The price: the sandbox no longer proxies names these modules import themselves (``datetime.now`` would go
# unnoticed there), so tests/workflows/test_sandbox.py reads the workflow modules for such calls, and the recorded
# histories (test_replay.py) guard determinism as before.
PASSED_THROUGH = ("workflows", "agents", "storage")
RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
BOOKKEEPING_SLOTS = 16
NOTIFY_SLOTS = 16


class ShiftWorkers:
    """The workers of one process, started and stopped together (``async with`` or ``run()``)."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    @property
    def task_queues(self) -> list[str]:
        return [w.task_queue for w in self.workers]

    async def run(self) -> None:
        await asyncio.gather(*(w.run() for w in self.workers))

    async def __aenter__(self) -> ShiftWorkers:
        started: list[Worker] = []
        try:
            for w in self.workers:
                await w.__aenter__()
                started.append(w)
        except BaseException:
            await asyncio.gather(*(w.shutdown() for w in started), return_exceptions=True)
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.gather(*(w.__aexit__(exc_type, exc, tb) for w in self.workers))

    async def shutdown(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self.workers), return_exceptions=True)


def build_worker(client: Client, activities: ShiftActivities, *, max_concurrent_agents: int = 4,
                 task_queue: str = TASK_QUEUE, graceful_shutdown: timedelta = timedelta(seconds=10)) -> ShiftWorkers:
    """The workflow + bookkeeping worker, the agent worker and, with a Notifier, the notification worker."""
    common = {
        # Cancellation reaches an activity only through a heartbeat response; keep that latency short.
        "max_heartbeat_throttle_interval": timedelta(seconds=2),
        "default_heartbeat_throttle_interval": timedelta(seconds=2),
        "graceful_shutdown_timeout": graceful_shutdown,
    }
    workers = [
        Worker(client, task_queue=task_queue, workflows=WORKFLOWS, workflow_runner=RUNNER,
               activities=activities.bookkeeping(),  # type: ignore[arg-type]
               max_concurrent_activities=BOOKKEEPING_SLOTS,
               interceptors=[DayEventsInterceptor()],  # the spec's workflow_started/completed/failed log events
               **common),  # type: ignore[arg-type]
        Worker(client, task_queue=agent_queue(task_queue),
               activities=activities.agent_work(),  # type: ignore[arg-type]
               max_concurrent_activities=max_concurrent_agents, **common),  # type: ignore[arg-type]
    ]
    if activities.has_notifier:
        workers.append(Worker(client, task_queue=notify_queue(task_queue),
                              activities=activities.notifications(),  # type: ignore[arg-type]
                              max_concurrent_activities=NOTIFY_SLOTS, **common))  # type: ignore[arg-type]
    return ShiftWorkers(workers)
