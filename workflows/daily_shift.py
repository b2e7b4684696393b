"""DailyShiftWorkflow: one user's 3-hour shift, told as the story of the day.

open the window -> plan -> pre-validate -> run executors (bounded) with checkpoints and a warning ->
at the deadline cancel what still runs -> report -> deliver -> archive.

The deadline is a promise: after the 5-minute warning every step is bounded by the time left, and after the
deadline by ``close_seconds``; reviews and notifications run beside the day and are abandoned rather than
waited for. A day that fails releases its tasks, records why, and tells the user. Days recorded before these
rules (no ``hard-deadline`` marker in their history) replay the way they ran.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    RetryState,
    TimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from agents.contracts import NextStepsRequest, PlanRequest, ReviewRequest, TaskDraft
    from agents.profiles import unknown_capabilities
    from storage.models import FINAL_STATUSES, TaskStatus
    from workflows.activities import (
        DEFAULT_ADVICE,
        AdviseInput,
        ArchiveInput,
        CheckpointInput,
        EscalateInput,
        ExecuteInput,
        FailDayInput,
        RecordInput,
        ResolveInput,
        ShiftActivities,
        ValidateInput,
        brief,
    )
    from workflows.models import (
        AddTaskRequest,
        DayInput,
        DayState,
        EditTaskRequest,
        ProgressSignal,
        StatusReport,
        TaskState,
        agent_queue,
        notify_queue,
    )
    from workflows.records import complete
    from workflows.report import build_report

P = TypeVar("P")
R = TypeVar("R")
NON_RETRYABLE = ["InvalidTask", "BudgetExceeded", "PermissionDenied", "MaxTurns", "AuthError"]
# After the deadline, the steps before the report's delivery share this many seconds (delivery gets the rest
# of the minute the report is promised in).
REPORT_BUDGET_SECONDS = 45.0
MAX_TASKS_PER_DAY = 30
MAX_DESCRIPTION = 2_000
# Messages to people (report, escalation DM) ride out a Slack outage of several minutes.
DELIVERY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                       maximum_interval=timedelta(seconds=60), maximum_attempts=8)
QUICK = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30), maximum_attempts=5)
# Days started with this marker keep the hard deadline, queue routing by role and failure clean-up;
# older histories (without it) take the branches they were recorded with.
HARD_DEADLINE = "hard-deadline"
# The executor activity records its task's start and completion itself (two round trips fewer per task) and
# the deadline reads back the stored progress (signals are throttled). Decided once, at the start of the day.
LEAN_TASKS = "executor-records-its-task"


def _attempts(err: ActivityError) -> int:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], dict):
        return int(cause.details[0].get("attempt", 1))
    return 3 if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED else 1


_STEP_NAMES = {"announce_day": "Opening the day's thread", "checkpoint": "Checkpoint update",
               "flag_warning": "Deadline warning to the agents"}


def _failure(err: BaseException) -> str:
    if isinstance(err, asyncio.CancelledError):
        return "the shift was cancelled"
    if isinstance(err, ActivityError):
        return f"a step of the day failed for good: {_reason(err)}"
    return str(getattr(err, "message", "") or err)[:500] or type(err).__name__


def _reason(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, TimeoutError):
        kind = cause.type.name.lower().replace("_", "-") if cause.type else "timeout"
        return f"timed out ({kind}: it had the time left in the window)" if kind == "schedule-to-close" else \
            f"timed out ({kind})"
    return str(cause.message if isinstance(cause, ApplicationError) else cause or err)[:500]


@workflow.defn
class DailyShiftWorkflow:
    @workflow.init
    def __init__(self, inp: DayInput) -> None:
        self.inp = inp
        self.state = DayState(user_id=inp.user_id, workflow_id=workflow.info().workflow_id, day=inp.day,
                              timezone=inp.timezone)
        self._handles: dict[str, workflow.ActivityHandle[object]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._decisions: dict[str, str] = {}
        self._happened: list[str] = []
        self._changed = False
        self._wake = False
        self._closing = False
        self._window_start: datetime | None = None
        self._side_tasks: list[asyncio.Task[None]] = []
        self._review_task: asyncio.Task[None] | None = None
        self._v2 = False
        self._lean = False
        self._agent_q: str | None = None
        self._notify_q: str | None = None

    # ---- the day -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: DayInput) -> StatusReport:
        self._v2 = workflow.patched(HARD_DEADLINE)
        self._lean = self._v2 and workflow.patched(LEAN_TASKS)
        queue = workflow.info().task_queue
        self._agent_q, self._notify_q = agent_queue(queue), notify_queue(queue)
        if not self._v2:
            return await self._day(inp)
        try:
            return await self._day(inp)
        except (FailureError, asyncio.CancelledError) as err:
            if self.state.phase != "done":
                await self._fail_day(err)
            raise

    async def _day(self, inp: DayInput) -> StatusReport:
        now = workflow.now()
        self._window_start = inp.scheduled_start or now
        self.state.started_at = now
        self.state.deadline = self._window_start + timedelta(seconds=inp.window_seconds)
        min_useful = inp.min_useful_seconds if inp.min_useful_seconds is not None else min(
            900.0, inp.window_seconds / 12)
        if (self.state.deadline - now).total_seconds() < min_useful:
            late = (now - self._window_start).total_seconds() / 60
            return await self._finish(skipped=f"the shift could only start {late:.0f} min late, with too little "
                                              "of the window left to do useful work")

        self.state.phase = "planning"
        self.state.tasks.extend(await self._act(ShiftActivities.open_day, self.state))
        if self._v2:  # the thread opens beside the day: a slow Slack (or no bot yet) never delays the plan
            self._side_tasks.append(asyncio.create_task(
                self._notify(ShiftActivities.announce_day, self.state, within=self._until_deadline())))
        else:
            await self._notify(ShiftActivities.announce_day, self.state)
        await self._plan()

        self.state.phase = "running"
        await self._work()
        await self._close_window()
        return await self._finish()

    async def _plan(self) -> None:
        assert self.state.deadline is not None
        req = PlanRequest(user_id=self.inp.user_id, workflow_id=self.state.workflow_id, day=self.inp.day,
                          now=workflow.now().isoformat(), deadline=self.state.deadline.isoformat(),
                          user_tasks=[brief(t) for t in self.state.tasks], max_tasks=self.inp.max_tasks)
        try:
            plan = await workflow.execute_activity_method(
                ShiftActivities.plan_day, req, task_queue=self._agent_q, start_to_close_timeout=self._budget(600, 0.25),
                schedule_to_close_timeout=self._until_deadline(), heartbeat_timeout=self._heartbeat(),
                retry_policy=self._agent_retry())
        except ActivityError as err:
            self.state.notes.append(f"Planning failed: {_reason(err)}")
            plan = None
        drafts = plan.tasks[: self.inp.max_tasks] if plan else []
        if plan:
            self.state.plan_summary = plan.summary
            self.state.cost_usd += plan.cost_usd
        generated = [self._new_task(d, generated_by="orchestrator") for d in drafts]
        self.state.tasks.extend(generated)
        if generated:
            await self._record(generated, message="generated by the orchestrator")
        await self._validate([t for t in self.state.tasks if t.status in (TaskStatus.GENERATED, TaskStatus.PENDING)])

    async def _work(self) -> None:
        assert self.state.deadline is not None and self.state.started_at is not None
        deadline = self.state.deadline
        warn_at = deadline - timedelta(seconds=self.inp.warning_seconds)
        step = timedelta(seconds=self.inp.checkpoint_seconds)
        next_checkpoint = self.state.started_at + step
        while True:
            now = workflow.now()
            if now >= deadline:
                return
            self._dispatch()
            wake_at = min(next_checkpoint, deadline) if self.state.warned else min(next_checkpoint, warn_at, deadline)
            self._wake = False
            if wake_at > now:
                try:
                    await workflow.wait_condition(lambda: self._wake, timeout=wake_at - now)
                except builtins.TimeoutError:
                    pass
            now = workflow.now()
            if not self.state.warned and now >= warn_at:
                await self._warn()
            if next_checkpoint <= now < deadline:
                await self._checkpoint()
                while next_checkpoint <= now:
                    next_checkpoint += step

    async def _close_window(self) -> None:
        """Deadline: cancel executors (they record their progress), then freeze their state."""
        self._closing = True
        self.state.phase = "closing"
        for handle in self._handles.values():
            handle.cancel()
        if not self._v2:
            if self._runners:
                await asyncio.gather(*self._runners.values(), return_exceptions=True)
            if self._side_tasks:
                await asyncio.gather(*self._side_tasks)
        else:
            # A running review needs no cancel: its schedule-to-close (the time left) ends it now, and what it
            # returns after this point is dropped. Cancelling it here would race its own timeout.
            stuck = await self._settle(list(self._runners.values()) + self._side_tasks)
            if stuck:
                names = [t.short_id for t in self.state.tasks if (r := self._runners.get(t.task_id)) in stuck]
                self.state.notes.append(
                    f"{len(stuck)} step(s) did not stop within {self.inp.close_seconds:g}s of the deadline and were "
                    f"abandoned{' (tasks ' + ', '.join(names) + ')' if names else ''}; they are reported as they "
                    "stood.")
                for r in stuck:
                    r.cancel()
        still = [t for t in self.state.tasks if t.status is TaskStatus.IN_PROGRESS]
        if still and self._lean:
            try:
                marks = await self._act(ShiftActivities.close_tasks, self._record_input(
                    still, kind="deadline", message="window closed while in progress"), bound=True)
            except ActivityError as err:
                self.state.notes.append(f"The final state of {len(still)} task(s) was not saved: {_reason(err)}")
                marks = []
            for mark in marks:  # the row heard every progress report; the workflow only the throttled ones
                if (t := self._find(mark.task_id)) is None:
                    continue
                if mark.status == TaskStatus.COMPLETED.value:  # an abandoned runner's executor did finish
                    complete(t, mark.output or "", max(0.0, mark.cost_usd - t.cost_usd), workflow.now())
                elif mark.progress > t.progress:
                    t.progress, t.progress_note = mark.progress, mark.note or t.progress_note
        elif still:
            if not self._v2:
                await self._record(still, kind="deadline", message="window closed while in progress")
            else:
                try:
                    await self._record(still, kind="deadline", message="window closed while in progress")
                except ActivityError as err:
                    self.state.notes.append(f"The final state of {len(still)} task(s) was not saved: {_reason(err)}")

    async def _settle(self, steps: list[asyncio.Task[None]]) -> list[asyncio.Task[None]]:
        """Wait up to ``close_seconds`` for ``steps``; return those still running."""
        try:
            await workflow.wait_condition(lambda: all(s.done() for s in steps),
                                          timeout=self._report_budget(self.inp.close_seconds))
        except builtins.TimeoutError:
            pass
        return [s for s in steps if not s.done()]

    async def _finish(self, skipped: str | None = None) -> StatusReport:
        assert self.state.deadline is not None and self._window_start is not None
        self.state.phase = "reporting"
        report = build_report(self.state, self._window_start, self.state.deadline, workflow.now(),
                              skipped_reason=skipped)
        report.next_steps = await self._next_steps(report) if not skipped else "Nothing ran today."
        archive = ArchiveInput(user_id=self.inp.user_id, workflow_id=self.state.workflow_id, day=self.inp.day,
                               status="skipped" if skipped else "completed")
        if self._v2:
            report.notes = list(self.state.notes)
            # Stored and archived first: whatever happens to delivery, the report exists and the day is closed
            # (the bot re-delivers stored reports when Slack is back).
            await self._act(ShiftActivities.save_report, report, bound=True)
            await self._act(ShiftActivities.archive_day, archive, bound=True)
            await self._deliver(report)
            self.state.phase = "done"
            try:
                await workflow.wait_condition(workflow.all_handlers_finished,
                                              timeout=timedelta(seconds=self.inp.close_seconds))
            except builtins.TimeoutError:
                pass
            return report
        await self._act(ShiftActivities.save_report, report)
        await self._deliver(report)
        await self._act(ShiftActivities.archive_day, archive)
        self.state.phase = "done"
        await workflow.wait_condition(workflow.all_handlers_finished)
        return report

    async def _deliver(self, report: StatusReport, retry: RetryPolicy = DELIVERY,
                       within: timedelta | None = None) -> None:
        try:
            await workflow.execute_activity_method(
                ShiftActivities.deliver_report, report, task_queue=self._notify_q,
                start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=within,
                heartbeat_timeout=self._heartbeat(), retry_policy=retry)
        except ActivityError as err:
            self.state.notes.append(f"Report not delivered yet ({_reason(err)}); kept for re-delivery")

    async def _fail_day(self, err: BaseException) -> None:
        """The day failed or was cancelled: stop its work, keep a report saying why, release its unfinished
        user tasks to pending, mark the run failed and tell the user. Runs only in days with the marker."""
        reason = _failure(err)
        self.state.phase = "failed"
        self._closing = True
        for handle in self._handles.values():
            handle.cancel()
        if self._review_task is not None and not self._review_task.done():
            self._review_task.cancel()
        # Let runners save what they were saving (bounded) before the day is archived, so no late write
        # brings an archived task back; what does not stop in time is abandoned.
        for step in await self._settle([*self._runners.values(), *self._side_tasks]):
            step.cancel()
        now = workflow.now()
        report = build_report(self.state, self._window_start or now, self.state.deadline or now, now)
        report.failed_reason = reason
        report.notes = [*self.state.notes, "Unfinished tasks you added go back to your list for the next shift."]
        report.next_steps = "Check the reason above; your unfinished tasks are waiting for the next shift."
        try:
            await workflow.execute_activity_method(
                ShiftActivities.fail_day, FailDayInput(report=report), start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(seconds=60), retry_policy=QUICK)
        except ActivityError:
            return  # the bot's sweeper finds this run (workflow closed, row still open) and cleans it up
        await self._deliver(report, RetryPolicy(maximum_attempts=3), timedelta(seconds=60))

    # ---- steps -----------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        running = sum(1 for t in self.state.tasks if t.status is TaskStatus.IN_PROGRESS)
        for t in self.state.tasks:
            if running >= self.inp.max_parallel:
                return
            runner = self._runners.get(t.task_id)
            if t.status is TaskStatus.PENDING and not t.blocked_reason and (runner is None or runner.done()):
                t.status = TaskStatus.IN_PROGRESS
                self._runners[t.task_id] = asyncio.create_task(self._run_task(t))
                running += 1

    async def _run_task(self, t: TaskState) -> None:
        if not self._v2:
            await self._run_task_steps(t)
            return
        try:
            await self._run_task_steps(t)
        except Exception as err:  # bookkeeping failed: the task must not stay in progress holding a slot
            reason = _reason(err) if isinstance(err, ActivityError) else str(err)[:300]
            self.state.notes.append(f"Task {t.short_id}: its state could not be saved ({reason}).")
            if t.status is TaskStatus.IN_PROGRESS:
                t.status = TaskStatus.FAILED
                t.error = f"could not record its progress: {reason}"
                t.end_time = workflow.now()
                self._changed = True
                try:
                    await self._record([t], message=t.error)
                except ActivityError:
                    pass  # already noted; the report carries the task's real state
            self._wake = True

    async def _run_task_steps(self, t: TaskState) -> None:
        assert self.state.deadline is not None
        now = workflow.now()
        t.rounds += 1
        t.status = TaskStatus.IN_PROGRESS
        t.assigned_to = f"executor-{t.short_id}-r{t.rounds}"
        t.start_time = t.start_time or now
        t.error = None
        if self._lean and self._closing:  # the deadline came before it could start: nothing was recorded
            t.status, t.assigned_to = TaskStatus.PENDING, None
            return
        if not self._lean:  # the executor records the assignment itself in days with the marker
            await self._record([t], message=f"assigned to {t.assigned_to}")
        if self._v2 and self._closing:  # the deadline came while it was being assigned: it never started
            t.status, t.assigned_to = TaskStatus.PENDING, None
            await self._record([t], message="the window closed before it started")
            return
        warn_at = self.state.deadline - timedelta(seconds=self.inp.warning_seconds)
        handle = workflow.start_activity_method(
            ShiftActivities.execute_task,
            ExecuteInput(user_id=self.inp.user_id, workflow_id=self.state.workflow_id, day=self.inp.day,
                         task_id=t.task_id, short_id=t.short_id, description=t.description,
                         capabilities=t.capabilities, deadline=self.state.deadline.isoformat(),
                         warn_at=warn_at.isoformat(), round=t.rounds,
                         task=t.model_copy(deep=True) if self._lean else None),
            task_queue=self._agent_q,
            start_to_close_timeout=(self.state.deadline - now) + timedelta(seconds=self.inp.grace_seconds),
            heartbeat_timeout=self._heartbeat(),
            retry_policy=self._agent_retry(),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self._handles[t.task_id] = handle
        try:
            result = await handle
        except ActivityError as err:
            if self._closing or isinstance(err.cause, CancelledError):
                return
            await self._failed(t, err)
            return
        finally:
            self._handles.pop(t.task_id, None)
            self._wake = True
        complete(t, result.output, result.cost_usd, workflow.now())
        self._happened.append(f"task {t.short_id} completed")
        self._changed = True
        if not result.recorded:
            await self._record([t], message="completed")

    async def _failed(self, t: TaskState, err: ActivityError) -> None:
        """Last attempt failed: record it, escalate, and wait for the user's (or orchestrator's) decision."""
        t.status = TaskStatus.FAILED
        t.attempts += _attempts(err)
        t.error = _reason(err)
        t.end_time = workflow.now()
        self._happened.append(f"task {t.short_id} failed after {t.attempts} attempts: {t.error}")
        self._changed = True
        await self._record([t], message=t.error)
        if self._closing:
            return
        t.escalated = True
        escalation_id = f"{self.state.workflow_id}:{t.task_id}:{t.rounds}"
        suggestion: str | None = None
        if self._v2:
            suggestion = await self._advise(t)
            if self._closing:
                return
        try:
            await workflow.execute_activity_method(
                ShiftActivities.escalate,
                EscalateInput(state=self.state, task=t, escalation_id=escalation_id, suggestion=suggestion),
                task_queue=self._notify_q, start_to_close_timeout=timedelta(seconds=120 if not self._v2 else 60),
                schedule_to_close_timeout=self._late_bound(),  # after the warning: the time left
                heartbeat_timeout=self._heartbeat(), retry_policy=DELIVERY)
        except ActivityError as err:
            self.state.notes.append(f"Escalation of {t.short_id} not delivered: {_reason(err)}")
        await workflow.wait_condition(lambda: t.task_id in self._decisions or self._closing)
        decision = self._decisions.pop(t.task_id, None)
        if decision == "retry" and not self._closing:
            requested_by, t.resolution = t.resolution, None
            t.status = TaskStatus.PENDING
            t.escalated = False
            t.end_time = None
            await self._record([t], message=f"retry requested ({requested_by})")
            self._wake = True

    async def _advise(self, t: TaskState) -> str:
        """The orchestrator's suggestion, bounded on its own: without it the user still gets the DM."""
        try:
            return str(await workflow.execute_activity_method(
                ShiftActivities.advise, AdviseInput(state=self.state, task=t), task_queue=self._agent_q,
                start_to_close_timeout=timedelta(seconds=self.inp.advice_seconds), heartbeat_timeout=self._heartbeat(),
                schedule_to_close_timeout=min(timedelta(seconds=self.inp.advice_seconds * 1.5),
                                              self._until_deadline()),
                retry_policy=RetryPolicy(maximum_attempts=2, non_retryable_error_types=NON_RETRYABLE)))
        except ActivityError:
            return DEFAULT_ADVICE

    async def _validate(self, tasks: list[TaskState]) -> None:
        if not tasks:
            return
        results = await self._act(ShiftActivities.validate_tasks,
                                  ValidateInput(user_id=self.inp.user_id, day=self.inp.day, tasks=tasks), bound=True)
        verdict = {r.task_id: r for r in results}
        passed = [t for t in tasks if verdict[t.task_id].ok]
        for t in tasks:
            r = verdict[t.task_id]
            t.blocked_reason = None if r.ok else f"pre-validation failed: {r.reason}"
            if not r.ok:
                t.status = TaskStatus.PENDING
                self._happened.append(f"task {t.short_id} failed pre-validation: {r.reason}")
        fresh = [t for t in passed if t.status is TaskStatus.GENERATED]
        for t in fresh:
            t.status = TaskStatus.PRE_VALIDATED
        if fresh:
            await self._record(fresh, message="pre-validated")
        for t in fresh:
            t.status = TaskStatus.PENDING
        changed = fresh + [t for t in tasks if t.blocked_reason]
        if changed:
            await self._record(changed, message="ready for assignment")
        self._wake = True

    async def _warn(self) -> None:
        self.state.warned = True
        if not self._v2:
            self.state.notes.append(f"Deadline warning at {workflow.now().isoformat()}")
        await self._try(ShiftActivities.flag_warning, self.state)

    async def _checkpoint(self) -> None:
        self.state.checkpoints += 1
        changed, self._changed = self._changed, False
        if workflow.patched("checkpoint-beside-the-day"):
            # Snapshot + thread update run beside the day: a slow or unreachable Slack never delays the deadline.
            snapshot = CheckpointInput(state=self.state.model_copy(deep=True), changed=changed)
            # The next checkpoint supersedes this one: it gets at most one interval (and the time left).
            within = timedelta(seconds=self.inp.checkpoint_seconds) if self._v2 else None
            self._side_tasks.append(asyncio.create_task(
                self._notify(ShiftActivities.checkpoint, snapshot, within=within)))
        else:  # days recorded before the patch replay the way they ran
            await self._notify(ShiftActivities.checkpoint, CheckpointInput(state=self.state, changed=changed))
        if not self._happened:
            return
        if not self._v2:
            await self._review()
        elif self._review_task is None or self._review_task.done():
            # Beside the day, bounded by the time left and cancelled at the deadline: a slow orchestrator
            # never holds up dispatching, the warning or the report.
            self._review_task = asyncio.create_task(self._review())

    async def _review(self) -> None:
        if not self._v2:
            await self._review_steps()
            return
        try:
            await self._review_steps()
        except asyncio.CancelledError:
            self.state.notes.append("A checkpoint review was still running at the deadline and was stopped.")
        except Exception as err:  # its bookkeeping failed: the day goes on without the review's changes
            reason = _reason(err) if isinstance(err, ActivityError) else str(err)[:300]
            self.state.notes.append(f"Checkpoint review could not apply its changes: {reason}")

    async def _review_steps(self) -> None:
        assert self.state.deadline is not None
        happened, self._happened = self._happened, []
        generated = sum(1 for t in self.state.tasks if t.generated_by == "orchestrator")
        req = ReviewRequest(user_id=self.inp.user_id, workflow_id=self.state.workflow_id, day=self.inp.day,
                            now=workflow.now().isoformat(), deadline=self.state.deadline.isoformat(),
                            tasks=[brief(t) for t in self.state.tasks], happened=happened,
                            can_add=max(0, self.inp.max_tasks - generated))
        try:
            result = await workflow.execute_activity_method(
                ShiftActivities.review, req, task_queue=self._agent_q, start_to_close_timeout=self._budget(300, 0.1),
                schedule_to_close_timeout=self._until_deadline() if self._v2 else None,
                heartbeat_timeout=self._heartbeat(), retry_policy=self._agent_retry())
        except ActivityError as err:
            self.state.notes.append(f"Checkpoint review failed: {_reason(err)}")
            return
        self.state.reviews += 1
        self.state.cost_usd += result.cost_usd
        if self._v2:
            if self._closing:
                return  # finished as the window closed: nothing it suggests can run now
            self.state.review_note = result.note or None
        elif result.note:
            self.state.notes.append(f"Review: {result.note}")
        revalidate = []
        for ref in result.retry_task_ids:
            t = self._find(ref)
            if t is None:
                continue
            if t.blocked_reason:
                revalidate.append(t)
            elif t.status is TaskStatus.FAILED and t.escalated and t.task_id not in self._decisions:
                t.resolution = "retried by the orchestrator"
                self._decisions[t.task_id] = "retry"
                await self._try(ShiftActivities.resolve_escalation,
                                ResolveInput(user_id=self.inp.user_id, task_id=t.task_id, resolution="retry"))
        new = [self._new_task(d, generated_by="orchestrator") for d in result.new_tasks[: req.can_add]]
        self.state.tasks.extend(new)
        if new:
            await self._record(new, message="generated at checkpoint review")
        await self._validate(revalidate + new)

    async def _next_steps(self, report: StatusReport) -> str:
        summary = (f"{len(report.completed)} completed, {len(report.in_progress)} in progress, "
                   f"{len(report.failed)} failed, {len(report.not_started)} not started. "
                   + " ".join(f"Failed {i.short_id}: {i.reason}." for i in report.failed))
        budget = self._report_budget(self.inp.next_steps_seconds) if self._v2 else None
        try:
            return await workflow.execute_activity_method(
                ShiftActivities.next_steps,
                NextStepsRequest(user_id=self.inp.user_id, workflow_id=self.state.workflow_id, day=self.inp.day,
                                 summary=summary),
                task_queue=self._agent_q, start_to_close_timeout=budget or timedelta(seconds=120),
                schedule_to_close_timeout=budget, heartbeat_timeout=self._heartbeat(),
                retry_policy=RetryPolicy(maximum_attempts=2, non_retryable_error_types=NON_RETRYABLE))
        except ActivityError:
            unfinished = len(report.in_progress) + len(report.not_started) + len(report.failed)
            return (f"Carry the {unfinished} unfinished task(s) into tomorrow's plan." if unfinished
                    else "All tasks finished; plan fresh work tomorrow.")

    # ---- helpers ---------------------------------------------------------------------------------

    def _new_task(self, d: TaskDraft, *, generated_by: str, source_ref: str | None = None) -> TaskState:
        task_id = str(workflow.uuid4())
        return TaskState(task_id=task_id, short_id=task_id.replace("-", "")[:6], description=d.description,
                         capabilities=d.capabilities, category=d.category, generated_by=generated_by,
                         status=TaskStatus.GENERATED, source_ref=source_ref)

    def _find(self, ref: str) -> TaskState | None:
        ref = ref.strip().lower()
        for t in self.state.tasks:
            if ref in (t.task_id, t.short_id):
                return t
        return None

    def _require(self, ref: str) -> TaskState:
        t = self._find(ref)
        if t is None:
            raise ValueError(f"No task '{ref[:40]}' in today's shift.")
        return t

    def _budget(self, cap_seconds: float, share: float) -> timedelta:
        return timedelta(seconds=max(30.0, min(cap_seconds, self.inp.window_seconds * share)))

    def _until_deadline(self, floor: float = 1.0) -> timedelta:
        """Time left in the window (at least ``floor`` s): the bound of every step after the warning."""
        assert self.state.deadline is not None
        return max(timedelta(seconds=floor), self.state.deadline - workflow.now())

    def _late_bound(self) -> timedelta | None:
        """After the warning a step gets the time left; after the deadline, its share of the report's budget."""
        if not self._v2 or not (self.state.warned or self._closing) or self.state.deadline is None:
            return None
        if workflow.now() >= self.state.deadline:
            return self._report_budget(self.inp.close_seconds)
        return max(self._until_deadline(), timedelta(seconds=self.inp.close_seconds))

    def _report_budget(self, cap: float) -> timedelta:
        """After the deadline every step before delivery shares one budget, so that however many of them hang
        the report still goes out within a minute of the deadline: ``cap`` s, or what is left of the budget."""
        assert self.state.deadline is not None
        left = self.state.deadline + timedelta(seconds=REPORT_BUDGET_SECONDS) - workflow.now()
        return max(timedelta(seconds=2), min(timedelta(seconds=cap), left))

    def _heartbeat(self) -> timedelta:
        return timedelta(seconds=self.inp.heartbeat_timeout_seconds)

    def _agent_retry(self) -> RetryPolicy:
        return RetryPolicy(initial_interval=timedelta(seconds=self.inp.retry_initial_seconds), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=self.inp.retry_max_seconds), maximum_attempts=3,
                           non_retryable_error_types=NON_RETRYABLE)

    async def _record(self, tasks: list[TaskState], *, kind: str = "status", message: str | None = None) -> None:
        await self._act(ShiftActivities.record_tasks, self._record_input(tasks, kind=kind, message=message),
                        bound=True)

    def _record_input(self, tasks: list[TaskState], *, kind: str, message: str | None) -> RecordInput:
        return RecordInput(user_id=self.inp.user_id, workflow_id=self.state.workflow_id, tasks=tasks, kind=kind,
                           message=message)

    async def _act(self, fn: Callable[[ShiftActivities, P], Awaitable[R]], arg: P, *, task_queue: str | None = None,
                   bound: bool = False, within: timedelta | None = None) -> R:
        limit = self._late_bound() if bound else None
        if within is not None:
            limit = min(limit, within) if limit is not None else within
        return await workflow.execute_activity_method(
            fn, arg, task_queue=task_queue, start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=limit, retry_policy=QUICK)

    async def _try(self, fn: Callable[[ShiftActivities, P], Awaitable[R]], arg: P) -> None:
        """A bookkeeping step whose failure must not stop the day; the failure is noted for the user."""
        try:
            await self._act(fn, arg, bound=True)
        except ActivityError as err:
            self.state.notes.append(f"{_STEP_NAMES.get(fn.__name__, fn.__name__)} failed: {_reason(err)}")

    async def _notify(self, fn: Callable[[ShiftActivities, P], Awaitable[R]], arg: P,
                      within: timedelta | None = None) -> None:
        """A notification (NOTIFY_QUEUE, where Slack is); a failure is noted for the report and Home."""
        try:
            problem = await self._act(fn, arg, task_queue=self._notify_q, bound=True, within=within)
        except ActivityError as err:
            self.state.notes.append(f"{_STEP_NAMES.get(fn.__name__, fn.__name__)} failed: {_reason(err)}")
            return
        if isinstance(problem, str) and problem and self._v2:
            self.state.notes.append(problem)

    # ---- messages from Slack and from activities ---------------------------------------------------

    @workflow.query
    def get_state(self) -> DayState:
        return self.state

    @workflow.signal
    def report_progress(self, sig: ProgressSignal) -> None:
        t = self._find(sig.task_id)
        if t is None or t.status is not TaskStatus.IN_PROGRESS:
            return
        t.progress = max(t.progress, max(0, min(100, sig.percent)))
        t.progress_note = (sig.note or t.progress_note or "")[:200] or None
        self._changed = True

    def _open_for_changes(self) -> None:
        if self._closing or self.state.phase in ("closing", "reporting", "done", "failed"):
            raise ValueError("window closed: today's shift is over.")

    @workflow.update
    async def add_task(self, req: AddTaskRequest) -> TaskState:
        if req.source_ref:
            for t in self.state.tasks:
                if t.source_ref == req.source_ref:
                    return t
        t = self._new_task(TaskDraft(description=req.description.strip(), capabilities=req.capabilities),
                           generated_by="user", source_ref=req.source_ref)
        t.status = TaskStatus.PENDING
        if self._v2:
            return await self._add(t)
        self.state.tasks.append(t)
        self._happened.append(f"user added task {t.short_id}")
        self._changed = True
        await self._record([t], message="added by the user during the window")
        await self._validate([t])
        return t

    async def _add(self, t: TaskState) -> TaskState:
        """All or nothing: a task joins the day only once it is checked and saved; a failure leaves no trace."""
        try:
            [verdict] = await self._act(ShiftActivities.validate_tasks,
                                        ValidateInput(user_id=self.inp.user_id, day=self.inp.day, tasks=[t]),
                                        bound=True)
        except ActivityError as err:
            raise ApplicationError(f"The task could not be checked ({_reason(err)}); nothing was added.") from err
        t.blocked_reason = None if verdict.ok else f"pre-validation failed: {verdict.reason}"
        try:
            await self._record([t], message="added by the user during the window")
        except ActivityError as err:
            raise ApplicationError(f"The task could not be saved ({_reason(err)}); nothing was added.") from err
        self.state.tasks.append(t)
        self._happened.append(f"user added task {t.short_id}")
        if t.blocked_reason:
            self._happened.append(f"task {t.short_id} failed pre-validation: {verdict.reason}")
        self._changed = True
        self._wake = True
        return t

    @add_task.validator
    def _check_add(self, req: AddTaskRequest) -> None:
        self._open_for_changes()
        text = req.description.strip()
        if not text:
            raise ValueError("The task description is empty.")
        if len(text) > MAX_DESCRIPTION:
            raise ValueError(f"The task description is {len(text)} characters; the limit is {MAX_DESCRIPTION}.")
        unknown = unknown_capabilities(req.capabilities)
        if unknown:
            raise ValueError(f"Unknown capability: {', '.join(unknown)}.")
        if len(self.state.tasks) >= MAX_TASKS_PER_DAY:
            raise ValueError(f"Today's shift already has {MAX_TASKS_PER_DAY} tasks.")

    @workflow.update
    async def edit_task(self, req: EditTaskRequest) -> TaskState:
        t = self._require(req.task_ref)
        t.description = req.description.strip()
        self._changed = True
        await self._record([t], kind="edited", message="description edited by the user")
        return t

    @edit_task.validator
    def _check_edit(self, req: EditTaskRequest) -> None:
        self._open_for_changes()
        t = self._require(req.task_ref)
        self._require_pending(t, "edited")
        text = req.description.strip()
        if not text:
            raise ValueError("The new description is empty.")
        if len(text) > MAX_DESCRIPTION:
            raise ValueError(f"The new description is {len(text)} characters; the limit is {MAX_DESCRIPTION}.")

    @workflow.update
    async def cancel_task(self, ref: str) -> TaskState:
        t = self._require(ref)
        t.status = TaskStatus.CANCELLED
        t.end_time = workflow.now()
        self._changed = True
        await self._record([t], message="cancelled by the user")
        return t

    @cancel_task.validator
    def _check_cancel(self, ref: str) -> None:
        self._open_for_changes()
        self._require_pending(self._require(ref), "cancelled")

    @staticmethod
    def _require_pending(t: TaskState, verb: str) -> None:
        if t.status is TaskStatus.IN_PROGRESS:
            raise ValueError(f"Task {t.short_id} is in progress; in-progress tasks cannot be {verb}.")
        if t.status in FINAL_STATUSES:
            raise ValueError(f"Task {t.short_id} is already {t.status.value}; it cannot be {verb}.")

    @workflow.update
    async def retry_task(self, ref: str) -> TaskState:
        return await self._decide(ref, "retry", "retried by you")

    @retry_task.validator
    def _check_retry(self, ref: str) -> None:
        self._check_decision(ref)

    @workflow.update
    async def skip_task(self, ref: str) -> TaskState:
        return await self._decide(ref, "skip", "skipped by you")

    @skip_task.validator
    def _check_skip(self, ref: str) -> None:
        self._check_decision(ref)

    def _check_decision(self, ref: str) -> None:
        self._open_for_changes()
        t = self._require(ref)
        if t.status is not TaskStatus.FAILED or not t.escalated:
            raise ValueError(f"Task {t.short_id} is {t.status.value} and not waiting for a decision.")
        if t.task_id in self._decisions or t.resolution:
            raise ValueError(f"Task {t.short_id} was already decided: {t.resolution}.")

    async def _decide(self, ref: str, decision: str, resolution: str) -> TaskState:
        t = self._require(ref)
        t.resolution = resolution
        self._decisions[t.task_id] = decision
        self._changed = True
        await self._act(ShiftActivities.resolve_escalation,
                        ResolveInput(user_id=self.inp.user_id, task_id=t.task_id, resolution=decision))
        return t
