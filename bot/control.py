"""What Slack asks of a shift, without Slack: add/edit/cancel/list/run/decide, routed to today's
workflow (Temporal updates and queries) while a window is open, to SQLite otherwise.

Every operation takes the acting user's id and only ever touches that user's tasks.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from bot.blocks import slack_time
from bot.services import day_shape
from bot.settings import Settings, validate_start_time, validate_timezone
from storage.models import Task, User
from storage.store import Store
from storage.tasks import NotFound
from workflows.daily_shift import MAX_DESCRIPTION, DailyShiftWorkflow
from workflows.models import (
    TASK_QUEUE,
    AddTaskRequest,
    DayInput,
    DayState,
    EditTaskRequest,
    TaskState,
    day_workflow_id,
)
from workflows.schedules import local_day, next_start, start_day_now, sync_user_schedule

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UserError(Exception):
    """A problem with what the user asked; the message is shown to them as is."""


def clean_text(text: str, *, limit: int = MAX_DESCRIPTION) -> str:
    """Normalise task text: strip control characters and surrounding space; refuse empty or oversized text."""
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text or "")).strip()
    if not text:
        raise UserError("The task text is empty. Usage: `/dayshift add <what to do>`")
    if len(text) > limit:
        raise UserError(f"The task text is {len(text):,} characters; the limit is {limit:,}.")
    return text


@dataclass
class AddOutcome:
    short_id: str
    description: str
    when: str  # "today" (added to the running shift) or "next" (waits for the next shift)


def day_input_for(settings: Settings, user_id: str, day: str, timezone: str) -> DayInput:
    """A day from settings; retry, heartbeat and grace times scale down with compressed windows."""
    window = settings.window_seconds
    return DayInput(user_id=user_id, day=day, timezone=timezone, window_seconds=window,
                    checkpoint_seconds=settings.checkpoint_seconds, warning_seconds=settings.warning_seconds,
                    max_parallel=settings.max_parallel_tasks,
                    retry_initial_seconds=min(5.0, max(0.2, window / 2000)),
                    retry_max_seconds=min(60.0, max(1.0, window / 100)),
                    grace_seconds=min(120.0, max(5.0, window / 10)),
                    heartbeat_timeout_seconds=min(30.0, max(5.0, window / 4)))


class ShiftControl:
    def __init__(self, store: Store, client: Client, settings: Settings, *, task_queue: str = TASK_QUEUE) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.task_queue = task_queue
        self.scheduled: set[str] = set()  # users whose schedule this process has checked (ops: reconciliation)

    # ---- users and days ---------------------------------------------------------------------------

    async def user(self, user_id: str, *, timezone: str | None = None) -> User:
        user = await self.store.users.ensure(
            user_id, timezone=timezone or self.settings.default_timezone,
            preferred_start_time=self.settings.default_start_time)
        if user_id not in self.scheduled:  # first seen (command, Home open): the defaults' schedule
            try:
                await self.sync_schedule(user)
            except RPCError as exc:  # Temporal unreachable: the command still works; retried on the next one
                log.warning("schedule sync failed", extra={"user_id": user_id, "data": {"error": str(exc)[:200]}})
        return user

    async def sync_schedule(self, user: User) -> str:
        outcome = await sync_user_schedule(self.client, user, catchup=timedelta(seconds=self.settings.catchup_seconds),
                                           timings=day_shape(self.settings), task_queue=self.task_queue)
        self.scheduled.add(user.user_id)
        return outcome

    def day_id(self, user: User) -> str:
        """The id a day starting now would get (for starting one; to find the running day use ``live``)."""
        return day_workflow_id(user.user_id, local_day(user.timezone))

    async def running_day_ids(self, user: User) -> list[str]:
        """Where the user's running shift may be: the days SQLite knows as open (newest first), then the
        id of today's and yesterday's local date. A shift keeps running past midnight and across a
        timezone change, so the wall clock alone would lose it."""
        ids = [run.workflow_id for run in await self.store.runs.running(user.user_id)]
        today = datetime.now(ZoneInfo(user.timezone)).date()
        for day in (today, today - timedelta(days=1)):
            ids.append(day_workflow_id(user.user_id, day.isoformat()))
        return list(dict.fromkeys(ids))

    async def live(self, user: User) -> WorkflowHandle[DailyShiftWorkflow, object] | None:
        """The user's running day's workflow handle, whatever the date is now; None outside a window."""
        for workflow_id in await self.running_day_ids(user):
            handle = self.client.get_workflow_handle_for(DailyShiftWorkflow.run, workflow_id)  # type: ignore[arg-type]
            try:
                desc = await handle.describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            if desc.status == WorkflowExecutionStatus.RUNNING:
                return handle
        return None

    async def state(self, user: User) -> DayState | None:
        handle = await self.live(user)
        return await handle.query(DailyShiftWorkflow.get_state) if handle else None

    # ---- task operations ---------------------------------------------------------------------------

    async def add(self, user_id: str, text: str, *, source_ref: str | None = None) -> AddOutcome:
        description = clean_text(text)
        user = await self.user(user_id)
        handle = await self.live(user)
        if handle is not None:
            try:
                t = await handle.execute_update(DailyShiftWorkflow.add_task,
                                                AddTaskRequest(description=description, source_ref=source_ref))
                return AddOutcome(t.short_id, t.description, "today")
            except WorkflowUpdateFailedError as exc:
                if "window closed" not in _cause(exc):
                    raise UserError(_cause(exc)) from exc
        task, _ = await self.store.tasks.create(user_id, description, generated_by="user", source_ref=source_ref)
        return AddOutcome(task.short_id, task.description, "next")

    async def edit(self, user_id: str, ref: str, text: str) -> str:
        description = clean_text(text)
        short = await self._in_live_window(user_id, ref, DailyShiftWorkflow.edit_task,
                                           EditTaskRequest(task_ref=ref, description=description))
        if short is not None:
            return short
        task = await self._own_task(user_id, ref)
        try:
            return (await self.store.tasks.edit_pending(user_id, task.task_id, description)).short_id
        except ValueError as exc:
            raise UserError(f"Task {task.short_id} is {task.status.value}; only pending tasks can be edited.") from exc

    async def cancel(self, user_id: str, ref: str) -> str:
        short = await self._in_live_window(user_id, ref, DailyShiftWorkflow.cancel_task, ref)
        if short is not None:
            return short
        task = await self._own_task(user_id, ref)
        try:
            return (await self.store.tasks.cancel_pending(user_id, task.task_id)).short_id
        except ValueError as exc:
            status = task.status.value
            raise UserError(f"Task {task.short_id} is {status}; only pending tasks can be cancelled.") from exc

    async def _in_live_window(self, user_id: str, ref: str, update: Any, arg: Any) -> str | None:
        """Apply ``update`` in today's running window if ``ref`` is one of its tasks; None otherwise."""
        handle = await self.live(await self.user(user_id))
        if handle is None or not _in_state(await handle.query(DailyShiftWorkflow.get_state), ref):
            return None
        try:
            task: TaskState = await handle.execute_update(update, arg)
        except WorkflowUpdateFailedError as exc:
            raise UserError(_cause(exc)) from exc
        return task.short_id

    async def decide(self, user_id: str, task_id: str, decision: str) -> str:
        """Retry or Skip from an escalation DM; only the task's owner may decide."""
        if decision not in ("retry", "skip"):
            raise UserError("Unknown decision.")
        task = await self._own_task(user_id, task_id)
        if not task.workflow_id:
            raise UserError(f"Task {task.short_id} is not part of a running shift.")
        handle = self.client.get_workflow_handle_for(DailyShiftWorkflow.run, task.workflow_id)  # type: ignore[arg-type]
        update = DailyShiftWorkflow.retry_task if decision == "retry" else DailyShiftWorkflow.skip_task
        try:
            await handle.execute_update(update, task.task_id)
        except WorkflowUpdateFailedError as exc:
            raise UserError(_cause(exc)) from exc
        except RPCError as exc:
            raise UserError(f"Task {task.short_id}'s shift is over; nothing to {decision}.") from exc
        return task.short_id

    async def tasks_today(self, user_id: str) -> tuple[DayState | None, list[Task]]:
        """(live state or None, the user's tasks waiting for the next shift)."""
        user = await self.user(user_id)
        return await self.state(user), await self.store.tasks.pending_unassigned(user_id)

    async def run_now(self, user_id: str) -> str:
        user = await self.user(user_id)
        running = await self.live(user)
        if running is not None:  # e.g. yesterday's shift, still running past midnight
            raise UserError(f"Your shift `{running.id}` has already run or is running; one shift at a time.")
        day = local_day(user.timezone)
        inp = day_input_for(self.settings, user_id, day, user.timezone)
        try:
            handle = await start_day_now(self.client, inp, task_queue=self.task_queue)
        except WorkflowAlreadyStartedError as exc:
            raise UserError(f"Today's shift ({day}) has already run or is running; one shift per day.") from exc
        return handle.id

    async def save_settings(self, user_id: str, *, timezone: str, start_time: str, channel: str | None,
                            paused: bool) -> User:
        try:
            tz = validate_timezone(timezone)
            start = validate_start_time(start_time, allow_any=self.settings.allow_any_start_time)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        if channel is not None and not re.fullmatch(r"[CGD][A-Z0-9]{2,20}", channel):
            raise UserError("The notification channel must be a channel id like C0123ABCD (or empty for a DM).")
        user = await self.user(user_id)
        user = user.model_copy(update={"timezone": tz, "preferred_start_time": start, "slack_channel": channel,
                                       "paused": paused})
        await self.store.users.save(user)
        await self.sync_schedule(user)
        return user

    async def next_start(self, user: User) -> str:
        """The next shift's start as plain text in the user's timezone (for places without Slack's tokens)."""
        when = await next_start(self.client, user.user_id)
        if when is None:
            return "paused" if user.paused else "not scheduled (open settings to schedule it)"
        return when.astimezone(ZoneInfo(user.timezone)).strftime("%a %d %b, %H:%M %Z")

    async def next_start_slack(self, user: User) -> str:
        """The next shift's start for Slack: in the reader's own time (a Slack date token)."""
        when = await next_start(self.client, user.user_id)
        if when is None:
            return "paused" if user.paused else "not scheduled (open settings to schedule it)"
        return slack_time(when, user.timezone, token="{date_short_pretty} at {time}")

    async def _own_task(self, user_id: str, ref: str) -> Task:
        try:
            return await self.store.tasks.find(user_id, ref)
        except NotFound:
            raise UserError(f"No task `{ref[:40]}` among your tasks.") from None


def _in_state(state: DayState, ref: str) -> TaskState | None:
    ref = ref.strip().lower()
    return next((t for t in state.tasks if ref in (t.task_id, t.short_id)), None)


def _cause(exc: WorkflowUpdateFailedError) -> str:
    message = str(getattr(exc.cause, "message", None) or exc.cause or exc)
    return message.removeprefix("ValueError: ")

