"""One Temporal Schedule per user, at their local start time; plus "run now" for today."""

from __future__ import annotations

import logging
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

from storage.models import User
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import TASK_QUEUE, DayInput, ScheduleInput, day_workflow_id
from workflows.scheduled_shift import ScheduledShiftWorkflow

log = logging.getLogger(__name__)


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


def _shape(schedule: Schedule) -> tuple[object, ...]:
    """What decides when a user's day fires: the calendar, its zone, paused or not, and where it runs."""
    action = schedule.action
    queue = action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else None
    calendars = tuple((tuple(r.start for r in c.hour), tuple(r.start for r in c.minute),
                       tuple(r.start for r in c.second)) for c in schedule.spec.calendars)
    return calendars, schedule.spec.time_zone_name, schedule.state.paused, queue


async def sync_user_schedule(client: Client, user: User, *, catchup: timedelta, timings: ScheduleInput | None = None,
                             task_queue: str = TASK_QUEUE) -> str:
    """Make the user's one schedule match their current settings: "created", "updated" or "unchanged".

    The schedule carries only when to fire; the day's shape (window, checkpoints, parallelism) is read by
    ``resolve_day`` when it fires, so a settings change never waits for the user to save again.
    """
    inp = (timings or ScheduleInput(user_id=user.user_id)).model_copy(update={"user_id": user.user_id})
    desired = build_schedule(inp, timezone=user.timezone, start_time=user.preferred_start_time, catchup=catchup,
                             paused=user.paused, task_queue=task_queue)
    handle = client.get_schedule_handle(schedule_id(user.user_id))
    try:
        current = (await handle.describe()).schedule
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        try:
            await client.create_schedule(schedule_id(user.user_id), desired)
            return "created"
        except ScheduleAlreadyRunningError:  # another process created it a moment ago
            current = (await handle.describe()).schedule
    if _shape(current) == _shape(desired):
        return "unchanged"

    def updater(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=desired)

    await handle.update(updater)
    return "updated"


async def reconcile_schedules(client: Client, users: list[User], *, catchup: timedelta,
                              timings: ScheduleInput | None = None, task_queue: str = TASK_QUEUE) -> dict[str, int]:
    """Every known user gets exactly one schedule (its id is derived from the user) matching their settings."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}
    for user in users:
        try:
            outcome = await sync_user_schedule(client, user, catchup=catchup, timings=timings, task_queue=task_queue)
        except RPCError as exc:
            log.error("schedule reconciliation failed", extra={"event": "schedule_reconcile_failed",
                                                               "user_id": user.user_id,
                                                               "data": {"error": str(exc)[:200]}})
            outcome = "failed"
        counts[outcome] += 1
    log.info("schedules reconciled", extra={"event": "schedules_reconciled", "data": counts})
    return counts
