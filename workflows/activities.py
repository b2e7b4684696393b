"""Activities: thin adapters from the workflow to storage, agents and the notifier.

Every activity is safe to retry: writes are upserts or keyed by ids the workflow chose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.contracts import (
    AdviceRequest,
    AgentFailure,
    AgentRuntime,
    ExecRequest,
    ExecResult,
    NextStepsRequest,
    PlanRequest,
    PlanResult,
    ReviewRequest,
    ReviewResult,
)
from agents.integrations import integrations_of
from agents.profiles import unknown_capabilities
from agents.sandbox import capability_problem, containment_of
from agents.supervision import AgentMonitor
from storage.ledger import BudgetExceeded, budget_verdict
from storage.models import TaskStatus
from storage.store import Store
from storage.tasks import NotFound
from workflows.events import emit
from workflows.models import (
    DayInput,
    DayState,
    ProgressSignal,
    ScheduleInput,
    ShiftTimings,
    StatusReport,
    TaskState,
)
from workflows.notifier import Notifier
from workflows.progress_relay import ProgressRelay
from workflows.records import brief, complete, state_from_row, summary, to_row
from workflows.report import attach_artifacts

__all__ = ["ShiftActivities", "brief", "to_row"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class RecordInput(BaseModel):
    user_id: str
    workflow_id: str
    tasks: list[TaskState]
    kind: str = "status"
    message: str | None = None


class ExecuteInput(ExecRequest):
    """What the day hands an executor. ``task`` (days with the ``executor-records-its-task`` marker) is the task
    as the workflow assigned it: the activity writes that row when it starts and the completed row when the agent
    succeeds, so a finished task is on record the moment it finishes, without two more round trips through the
    workflow. Status keeps one author: both rows are the workflow's rule (``records.complete``), applied here."""

    task: TaskState | None = None


class ExecOutcome(ExecResult):
    recorded: bool = False  # the completed row is already written; the day does not mirror it again


class ProgressMark(BaseModel):
    """A task as stored at the deadline: its progress (every report lands in the row; the workflow hears a
    throttled subset) and, if its executor recorded a success the day never heard of, that success."""

    task_id: str
    progress: int
    note: str | None = None
    status: str | None = None
    output: str | None = None  # the summary, when completed
    cost_usd: float = 0.0  # what the row booked (the workflow adds what it has not counted yet)


class ValidateInput(BaseModel):
    user_id: str
    day: str
    tasks: list[TaskState]


class Validation(BaseModel):
    task_id: str
    ok: bool
    reason: str | None = None


class CheckpointInput(BaseModel):
    state: DayState
    changed: bool


class EscalateInput(BaseModel):
    state: DayState
    task: TaskState
    escalation_id: str
    # Given by the day's own bounded ``advise`` step; None for days recorded before it (advice runs inline).
    suggestion: str | None = None


class AdviseInput(BaseModel):
    state: DayState
    task: TaskState


class FailDayInput(BaseModel):
    report: StatusReport


class ResolveInput(BaseModel):
    user_id: str
    task_id: str
    resolution: str


class ResolveDayInput(BaseModel):
    schedule: ScheduleInput
    fired_at: datetime


class ArchiveInput(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    status: str


DEFAULT_ADVICE = "Retry if the cause looks transient; otherwise skip it and rephrase the task tomorrow."


class ShiftActivities:
    """``notifier`` is None in a process without Slack: it then serves no notification activity (see worker.py)."""

    def __init__(self, store: Store, agents: AgentRuntime, notifier: Notifier | None, *,
                 daily_budget_usd: float = 5.0, agent_budget_usd: float = 1.0, heartbeat_interval: float = 1.0,
                 stale_after: float = 300.0, advice_seconds: float = 60.0,
                 progress_signal_seconds: float = 10.0) -> None:
        self.store = store
        self.progress_signal_seconds = progress_signal_seconds
        self.agents = agents
        self._notifier = notifier
        self.advice_seconds = advice_seconds
        self.daily_budget_usd = daily_budget_usd
        self.agent_budget_usd = agent_budget_usd
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.model_label: str | None = None  # the offline model's label, stamped on the thread and the report
        self.day_shape: ShiftTimings | None = None  # the operator's current day shape, read when a day starts

    @property
    def has_notifier(self) -> bool:
        return self._notifier is not None

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:  # only reachable if a worker registered a notification without a notifier
            raise RuntimeError("this process has no Notifier: notification activities must not run here")
        return self._notifier

    async def _changed(self, user_id: str) -> None:
        """Ask the dashboard to refresh; a process without Slack has no dashboard to poke (the next
        checkpoint, which runs where Slack is, refreshes it)."""
        if self._notifier is not None:
            await self._notifier.changed(user_id)

    def bookkeeping(self) -> list[object]:
        """TASK_QUEUE: storage only, quick; never waits behind an agent."""
        return [self.open_day, self.record_tasks, self.close_tasks, self.validate_tasks, self.resolve_escalation,
                self.flag_warning, self.save_report, self.archive_day, self.resolve_day, self.fail_day]

    def agent_work(self) -> list[object]:
        """AGENT_QUEUE: each holds an agent (CLI) for as long as it runs."""
        return [self.plan_day, self.execute_task, self.review, self.advise, self.next_steps]

    def notifications(self) -> list[object]:
        """NOTIFY_QUEUE: talk to Slack (or the demo's console); only where a Notifier exists."""
        return [self.announce_day, self.checkpoint, self.escalate, self.deliver_report]

    @activity.defn
    async def open_day(self, state: DayState) -> list[TaskState]:
        """Record the window and claim the user's waiting tasks for it."""
        await self.store.users.ensure(state.user_id, timezone=state.timezone)
        await self.store.runs.open(state.user_id, state.workflow_id, state.day,
                                   start_time=_iso(state.started_at), deadline=_iso(state.deadline),
                                   main_agent_id=f"orchestrator-{state.workflow_id}")
        claimed = await self.store.tasks.claim_pending(state.user_id, state.workflow_id)
        return [state_from_row(t) for t in claimed]

    @activity.defn
    async def announce_day(self, state: DayState) -> None:
        await self.notifier.day_started(state.model_copy(update={"model_label": self.model_label}))

    async def _beating(self, work: Callable[[], Awaitable[T]]) -> T:
        """Heartbeat while ``work`` runs, so a dead worker is noticed within the heartbeat timeout."""
        monitor = AgentMonitor(activity.heartbeat, interval=self.heartbeat_interval, stale_after=float("inf"))
        try:
            return await monitor.run(work)
        except AgentFailure as exc:
            raise _app_error(exc) from exc

    @activity.defn
    async def plan_day(self, req: PlanRequest) -> PlanResult:
        return await self._beating(lambda: self.agents.plan_day(req))

    @activity.defn
    async def record_tasks(self, inp: RecordInput) -> None:
        """Mirror the workflow's columns of each task (never the output, cost or tokens the executor wrote)."""
        await self._mirror(inp)

    @activity.defn
    async def close_tasks(self, inp: RecordInput) -> list[ProgressMark]:
        """The deadline's record of the tasks still running, answering with their stored progress: the row has
        every report, the workflow only the throttled ones, and the report should say where each task stood."""
        await self._mirror(inp)
        marks = []
        for t in inp.tasks:
            try:
                row = await self.store.tasks.get(inp.user_id, t.task_id)
            except NotFound:
                continue
            done = row.status is TaskStatus.COMPLETED
            marks.append(ProgressMark(task_id=t.task_id, progress=row.progress, note=row.progress_note,
                                      status=row.status.value, output=summary(row.output or "") if done else None,
                                      cost_usd=row.cost_usd))
        return marks

    async def _mirror(self, inp: RecordInput) -> None:
        now = datetime.now(ZoneInfo("UTC"))
        for t in inp.tasks:
            before = await self.store.tasks.mirror(to_row(inp.user_id, inp.workflow_id, t, now), kind=inp.kind,
                                                   message=inp.message or t.error or t.blocked_reason,
                                                   attempt=t.attempts or None)
            self._status_changed(inp.workflow_id, inp.user_id, t, before)
        await self._changed(inp.user_id)

    @staticmethod
    def _status_changed(workflow_id: str, user_id: str, t: TaskState, before: str | None) -> None:
        if before == TaskStatus.COMPLETED.value:
            return  # completed is final: the mirror refused this older view, so nothing changed
        if before != t.status.value:
            emit("task_status_changed", workflow_id=workflow_id, user_id=user_id, task_id=t.task_id,
                 **{"from": before, "to": t.status.value, "reason": t.error or t.blocked_reason})

    @activity.defn
    async def validate_tasks(self, inp: ValidateInput) -> list[Validation]:
        """Pre-validation: known capabilities, a usable description, money left for an executor.

        The budget rule is the ledger's own (``budget_verdict``): holds of running agents are not money
        spent, so a task fails here only when the day's money really is.
        """
        budget = await self.store.ledger.budget(inp.user_id, inp.day, self.daily_budget_usd)
        try:
            budget_verdict(budget, self.agent_budget_usd)
            spent = None
        except BudgetExceeded as exc:
            spent = str(exc)
        results = []
        integrations = integrations_of(self.agents)
        for t in inp.tasks:
            unknown = unknown_capabilities(t.capabilities)
            if unknown and (problem := await integrations.start_problem(unknown, inp.user_id)):
                # "Required tools available": an integration that is missing or down keeps the task waiting.
                results.append(Validation(task_id=t.task_id, ok=False, reason=problem))
            elif not t.description.strip():
                results.append(Validation(task_id=t.task_id, ok=False, reason="empty description"))
            elif problem := await capability_problem(t.capabilities, containment_of(self.agents)):
                results.append(Validation(task_id=t.task_id, ok=False, reason=problem))
            elif spent is not None:
                results.append(Validation(task_id=t.task_id, ok=False, reason=spent))
            else:
                results.append(Validation(task_id=t.task_id, ok=True))
        return results

    @activity.defn
    async def execute_task(self, req: ExecuteInput) -> ExecOutcome:
        """Run one executor under supervision; every progress report goes to the row, a throttled few to the
        workflow. With ``req.task`` it also records the task's start and, on success, its completion."""
        info = activity.info()
        if req.task is not None:
            if info.attempt > 1 and (earlier := await self._finished_earlier(req, req.task)) is not None:
                return earlier
            await self._record_own(req, req.task, f"assigned to {req.task.assigned_to}")
        if info.attempt > 1:
            emit("task_retry", workflow_id=req.workflow_id, user_id=req.user_id, task_id=req.task_id,
                 attempt=info.attempt, round=req.round)
            await self.store.tasks.add_event(req.user_id, req.task_id, "retry",
                                             f"attempt {info.attempt} of round {req.round}", attempt=info.attempt,
                                             workflow_id=req.workflow_id)
        resume = info.heartbeat_details[0] if info.heartbeat_details else None
        handle = activity.client().get_workflow_handle(req.workflow_id)

        async def signal(percent: int, note: str | None) -> None:
            try:
                await handle.signal("report_progress", ProgressSignal(task_id=req.task_id, percent=percent, note=note))
            except Exception as exc:  # progress is advisory; the activity result is what counts
                log.warning("progress signal failed", extra={"task_id": req.task_id, "data": {"error": str(exc)}})

        relay = ProgressRelay(signal, self.progress_signal_seconds)

        async def on_progress(percent: int, note: str | None) -> None:
            await self.store.tasks.set_progress(req.user_id, req.task_id, percent, note)
            relay.report(percent, note)

        monitor = AgentMonitor(activity.heartbeat, on_progress=on_progress, interval=self.heartbeat_interval,
                               stale_after=self.stale_after, resume=resume if isinstance(resume, dict) else None)
        try:
            result = await monitor.run(lambda: self.agents.run_task(req, monitor))
        except AgentFailure as exc:
            raise _app_error(exc, attempt=info.attempt, percent=monitor.percent) from exc
        except asyncio.CancelledError:
            await asyncio.shield(self.store.tasks.set_progress(req.user_id, req.task_id, monitor.percent, monitor.note))
            raise
        finally:
            relay.close()
        # The workflow keeps a summary (small payloads); the whole output stays in the row.
        outcome = ExecOutcome(**result.model_copy(update={"output": summary(result.output)}).model_dump())
        if req.task is None:  # a day from before the marker: the workflow records the completion itself
            await self.store.tasks.update_fields(req.user_id, req.task_id, {"output": result.output})
            await self.store.tasks.add_usage(req.user_id, req.task_id, result.cost_usd, result.input_tokens,
                                             result.output_tokens)
            return outcome
        done = req.task.model_copy(deep=True)
        complete(done, outcome.output, result.cost_usd, datetime.now(ZoneInfo("UTC")))
        # Shielded: once the agent's work is done, a cancel arriving now must not leave half a record behind.
        before = await self._land(self.store.tasks.complete(
            to_row(req.user_id, req.workflow_id, done), output=result.output, cost_usd=result.cost_usd,
            input_tokens=result.input_tokens, output_tokens=result.output_tokens), monitor.details())
        if before is not None:
            self._status_changed(req.workflow_id, req.user_id, done, before)
        await self._changed(req.user_id)
        return outcome.model_copy(update={"recorded": before is not None})

    async def _land(self, write: Awaitable[T], details: object) -> T:
        """Once the agent's work is done its record must land whole: heartbeat while it is written (a missed
        heartbeat would start a second attempt, which would run the agent again), and let no cancel cut it
        (the deadline's cancel, or a second one, would leave the row contradicting the outcome). The success is
        then reported even to a day that asked to cancel: it waits for this outcome."""
        task = asyncio.ensure_future(write)
        while not task.done():
            try:
                await asyncio.wait({task}, timeout=self.heartbeat_interval)
            except asyncio.CancelledError:
                continue
            if not task.done():
                activity.heartbeat(details)
        return task.result()

    async def _finished_earlier(self, req: ExecuteInput, t: TaskState) -> ExecOutcome | None:
        """An attempt that recorded this round's success and then lost its result (its worker died before
        Temporal heard of it): the retry returns what is on record instead of doing the work a second time."""
        try:
            row = await self.store.tasks.get(req.user_id, req.task_id)
        except NotFound:
            return None
        if row.status is not TaskStatus.COMPLETED or row.assigned_to != t.assigned_to:
            return None
        log.info("task already completed by an earlier attempt", extra={"task_id": req.task_id})
        return ExecOutcome(output=summary(row.output or ""), recorded=True)

    async def _record_own(self, req: ExecuteInput, t: TaskState, message: str) -> None:
        before = await self.store.tasks.mirror(to_row(req.user_id, req.workflow_id, t), message=message,
                                               attempt=t.attempts or None, create=False)
        if before is not None:  # None: the row is gone (the day was archived), and stays gone
            self._status_changed(req.workflow_id, req.user_id, t, before)
        await self._changed(req.user_id)

    @activity.defn
    async def checkpoint(self, inp: CheckpointInput) -> str | None:
        """Snapshot + the thread's progress reply. Returns what could not be delivered (the day notes it),
        without failing: the next checkpoint brings the reply up to date."""
        await self.store.runs.update(inp.state.user_id, inp.state.workflow_id,
                                     snapshot_json=inp.state.model_dump_json())
        try:
            if inp.changed:
                await self.notifier.progress(inp.state)
                emit("status_update_delivered", workflow_id=inp.state.workflow_id, user_id=inp.state.user_id,
                     kind="progress")
            await self.notifier.changed(inp.state.user_id)
        except Exception as exc:
            emit("status_update_failed", workflow_id=inp.state.workflow_id, user_id=inp.state.user_id,
                 kind="progress", error=str(exc)[:200])
            log.warning("progress update not delivered", extra={"workflow_id": inp.state.workflow_id,
                                                                "data": {"error": str(exc)[:200]}})
            return f"Progress update in the thread not delivered: {str(exc)[:200]}"
        return None

    @activity.defn
    async def review(self, req: ReviewRequest) -> ReviewResult:
        return await self._beating(lambda: self.agents.review(req))

    @activity.defn
    async def advise(self, inp: AdviseInput) -> str:
        """The orchestrator's suggestion for a failed task: its own bounded, heartbeating step, so queueing for
        an agent slot never eats the escalation's own timeout."""
        t = inp.task
        return await self._beating(lambda: self.agents.advise(AdviceRequest(
            user_id=inp.state.user_id, workflow_id=inp.state.workflow_id, day=inp.state.day, task=brief(t),
            error=t.error or "unknown error", attempts=t.attempts)))

    @activity.defn
    async def escalate(self, inp: EscalateInput) -> str:
        """Record the escalation and DM the user (with the advice the day already asked for)."""
        t = inp.task
        suggestion = inp.suggestion
        if suggestion is None:  # a day recorded before advice became its own step: bounded and heartbeating
            try:
                suggestion = await asyncio.wait_for(self.advise(AdviseInput(state=inp.state, task=t)),
                                                    timeout=self.advice_seconds)
            except Exception as exc:
                log.warning("advice failed", extra={"task_id": t.task_id, "data": {"error": str(exc)}})
                suggestion = DEFAULT_ADVICE
        await self.store.escalations.create(inp.state.user_id, t.task_id, inp.state.workflow_id,
                                            escalation_id=inp.escalation_id, reason=t.error or "unknown error",
                                            suggestion=suggestion, attempts=t.attempts)
        if activity.info().attempt == 1:  # once, though delivering the DM may be retried
            emit("escalated", workflow_id=inp.state.workflow_id, user_id=inp.state.user_id, task_id=t.task_id,
                 reason=t.error, attempts=t.attempts, escalation_id=inp.escalation_id)
        await self._beating(lambda: self.notifier.escalate(inp.state, t, suggestion, inp.escalation_id))
        await self.store.escalations.mark_delivered(inp.state.user_id, inp.escalation_id, None, None)
        return suggestion

    @activity.defn
    async def resolve_escalation(self, inp: ResolveInput) -> None:
        await self.store.escalations.resolve(inp.user_id, inp.task_id, inp.resolution)

    @activity.defn
    async def flag_warning(self, state: DayState) -> None:
        """Tell every agent of this user (through shared memory) that the window closes soon."""
        if activity.info().attempt == 1:
            emit("deadline_warning", workflow_id=state.workflow_id, user_id=state.user_id,
                 deadline=_iso(state.deadline),
                 in_progress=sum(1 for t in state.tasks if t.status is TaskStatus.IN_PROGRESS))
        await self.store.memory.set(state.user_id, "shift.deadline_warning",
                                    f"The window of {state.day} closes at {_iso(state.deadline)}; wrap up.",
                                    f"workflow:{state.workflow_id}")

    @activity.defn
    async def next_steps(self, req: NextStepsRequest) -> str:
        return await self._beating(lambda: self.agents.next_steps(req))

    async def _costed(self, report: StatusReport) -> StatusReport:
        """The report with the day's cost from the ledger: every agent run, including failed attempts, advice
        and next steps, which the workflow's own sum does not see; and with each item's files."""
        report = attach_artifacts(report, await self.store.artifacts.for_run(report.user_id, report.workflow_id))
        if await self.store.ledger.runs(report.user_id, report.day) == 0:
            return report  # no agent ran through the ledger (a skipped day, or agents that do not account)
        cost = await self.store.ledger.actual(report.user_id, report.day)
        return report.model_copy(update={"cost_usd": round(cost, 4)})

    @activity.defn
    async def save_report(self, report: StatusReport) -> None:
        report = await self._costed(report)
        report = report.model_copy(update={"model_label": report.model_label or self.model_label})
        await self.store.runs.update(report.user_id, report.workflow_id, report_json=report.model_dump_json(),
                                     status="reported")

    @activity.defn
    async def deliver_report(self, report: StatusReport) -> None:
        report = await self._costed(report)
        report = report.model_copy(update={"model_label": report.model_label or self.model_label})
        try:
            await self._beating(lambda: self.notifier.report(report))
        except Exception as exc:
            emit("status_update_failed", workflow_id=report.workflow_id, user_id=report.user_id, kind="report",
                 error=str(exc)[:200])
            raise
        emit("status_update_delivered", workflow_id=report.workflow_id, user_id=report.user_id, kind="report")
        await self.store.runs.update(report.user_id, report.workflow_id, report_delivered=1)
        await self.notifier.changed(report.user_id)

    @activity.defn
    async def archive_day(self, inp: ArchiveInput) -> None:
        await self.store.history.archive_day(inp.user_id, inp.workflow_id, inp.day)
        await self.store.runs.update(inp.user_id, inp.workflow_id, status=inp.status,
                                     end_time=datetime.now(ZoneInfo("UTC")).isoformat())
        await self._changed(inp.user_id)

    @activity.defn
    async def fail_day(self, inp: FailDayInput) -> None:
        """A day that failed: keep its report (with the reason), release its unfinished user tasks to pending
        and mark the run failed. The report is then delivered like any other (and re-delivered by the bot)."""
        await release_failed_day(self.store, inp.report)
        await self._changed(inp.report.user_id)

    @activity.defn
    async def resolve_day(self, req: ResolveDayInput) -> DayInput:
        """Turn a schedule firing into today's DayInput, from the user's current settings.

        ``fired_at`` is when the schedule meant to start, so a late start keeps the original deadline.
        """
        inp = req.schedule
        user = await self.store.users.ensure(inp.user_id)
        fired = req.fired_at
        local = fired.astimezone(ZoneInfo(user.timezone))
        shape = self.day_shape or inp  # today's settings, not those frozen when the schedule was saved
        window = shape.window_seconds
        return DayInput(user_id=inp.user_id, day=local.date().isoformat(), timezone=user.timezone,
                        window_seconds=window, checkpoint_seconds=shape.checkpoint_seconds,
                        warning_seconds=shape.warning_seconds, max_parallel=shape.max_parallel, scheduled_start=fired,
                        retry_initial_seconds=min(5.0, max(0.2, window / 2000)),
                        retry_max_seconds=min(60.0, max(1.0, window / 100)),
                        grace_seconds=min(120.0, max(5.0, window / 10)),
                        heartbeat_timeout_seconds=min(30.0, max(5.0, window / 4)))


async def release_failed_day(store: Store, report: StatusReport) -> None:
    """Store the failure report, archive the day (unfinished user-added tasks come back as pending for the next
    shift) and mark the run failed. Idempotent: shared by the failing day and the bot's sweeper."""
    await store.runs.open(report.user_id, report.workflow_id, report.day, start_time=report.window_start.isoformat(),
                          deadline=report.window_end.isoformat())
    run = await store.runs.get(report.user_id, report.workflow_id)
    if run is not None and run.status in ("completed", "skipped", "failed"):
        return  # already closed (a second sweep, or the day closed itself after all)
    if run is None or not run.report_json:  # a report saved before the failure is the better account: keep it
        await store.runs.update(report.user_id, report.workflow_id, report_json=report.model_dump_json(),
                                report_delivered=0)
    await store.history.archive_day(report.user_id, report.workflow_id, report.day)
    await store.runs.update(report.user_id, report.workflow_id, status="failed",
                            end_time=datetime.now(ZoneInfo("UTC")).isoformat())


def _iso(ts: datetime | None) -> str:
    return ts.isoformat() if ts else ""


def _app_error(exc: AgentFailure, **details: object) -> ApplicationError:
    return ApplicationError(exc.message, details or None, type=exc.kind, non_retryable=not exc.retryable)

