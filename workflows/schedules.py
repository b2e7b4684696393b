"""One Temporal Schedule per user, at their local start time; plus "run now" for today."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import TASK_QUEUE, DayInput, ScheduleInput, day_workflow_id
from workflows.scheduled_shift import ScheduledShiftWorkflow


def schedule_id(user_id: str) -> str:
    return f"dayshift-{user_id}"


def build_schedule(inp: ScheduleInput, *, timezone: str, start_time: str, catchup: timedelta,
                   paused: bool = False, task_queue: str = TASK_QUEUE) -> Schedule:
    """``start_time`` is HH:MM (or HH:MM:SS, which tests use to fire within seconds)."""
    hour, minute, second = ([int(p) for p in start_time.split(":")] + [0])[:3]
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledShiftWorkflow.run, inp, id=f"sched-{inp.user_id}", task_queue=task_queue,
            execution_timeout=timedelta(seconds=inp.window_seconds * 1.5 + 1800),
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)],
                                            second=[ScheduleRange(second)], comment=f"{start_time} {timezone}")],
            time_zone_name=timezone,
        ),
        # SKIP: a stuck day never stacks a second one; catch-up: a late start keeps its deadline
        # (the day skips itself if too little of the window is left).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup),
        state=ScheduleState(paused=paused, note="paused by user" if paused else None),
    )


async def upsert_schedule(client: Client, inp: ScheduleInput, *, timezone: str, start_time: str,
                          catchup: timedelta, paused: bool = False, task_queue: str = TASK_QUEUE) -> ScheduleHandle:
    """Create the user's schedule, or replace its spec/action/state when settings change."""
    schedule = build_schedule(inp, timezone=timezone, start_time=start_time, catchup=catchup, paused=paused,
                              task_queue=task_queue)
    try:
        return await client.create_schedule(schedule_id(inp.user_id), schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id(inp.user_id))

        def updater(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(updater)
        return handle


async def next_start(client: Client, user_id: str) -> datetime | None:
    try:
        desc = await client.get_schedule_handle(schedule_id(user_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if desc.schedule.state.paused:
        return None
    times = desc.info.next_action_times
    return times[0] if times else None


def local_day(timezone: str, now: datetime | None = None) -> str:
    return (now or datetime.now(ZoneInfo("UTC"))).astimezone(ZoneInfo(timezone)).date().isoformat()


async def start_day_now(client: Client, day: DayInput, *, task_queue: str = TASK_QUEUE,
                        workflow_id: str | None = None) -> WorkflowHandle[DailyShiftWorkflow, object]:
    """Start today's window now. Raises WorkflowAlreadyStartedError if the user's day already ran or runs."""
    return await client.start_workflow(
        DailyShiftWorkflow.run, day, id=workflow_id or day_workflow_id(day.user_id, day.day), task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        execution_timeout=timedelta(seconds=day.window_seconds * 1.5 + 900),
    )
