"""A whole day on the time-skipping test server (fast scripted agents, a fake): whole outputs and tokens
survive the day and the archive, and the report's cost is every agent run's, from the ledger."""

from __future__ import annotations

import asyncio

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from agents.contracts import (
    AdviceRequest,
    ExecRequest,
    ExecResult,
    NextStepsRequest,
    PlanRequest,
    PlanResult,
    ReviewRequest,
    ReviewResult,
    RunMonitor,
)
from storage.models import Task
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from tests.workflows.conftest import queue
from tests.workflows.test_day_timeskipping import DAY, day_input, run_day
from tests.workflows.test_replay import replay_and_maybe_record
from workflows.activities import ExecOutcome, ExecuteInput, RecordInput, ShiftActivities
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import OUTPUT_SUMMARY_CHARS, StatusReport
from workflows.worker import build_worker

LONG = "".join(f"§{i:03d} a paragraph of the executor's real output, which the user must get back whole.\n"
               for i in range(24))


class LedgerAgents(ScriptedAgents):
    """Scripted agents that account every run in the ledger as the real runtime does (failures included)."""

    def __init__(self, store: Store, plan: list[str]) -> None:
        super().__init__(plan=plan)
        self.store = store
        self.runs = 0

    async def _account(self, user_id: str, kind: str, cost: float, task_id: str | None = None) -> None:
        self.runs += 1
        key = f"{kind}:{self.runs}"
        await self.store.ledger.reserve(user_id, DAY, key, amount_usd=1.0, daily_cap_usd=5.0, agent_kind=kind,
                                        task_id=task_id)
        await self.store.ledger.settle(user_id, key, actual_usd=cost)

    async def plan_day(self, req: PlanRequest) -> PlanResult:
        await self._account(req.user_id, "plan", 0.01)
        return await super().plan_day(req)

    async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult:
        await self._account(req.user_id, "exec", 0.002, req.task_id)  # failed attempts cost money too
        result = await super().run_task(req, monitor)
        if "long" in req.description:
            return result.model_copy(update={"output": LONG, "input_tokens": 4321, "output_tokens": 1234})
        return result

    async def review(self, req: ReviewRequest) -> ReviewResult:
        await self._account(req.user_id, "review", 0.001)
        return await super().review(req)

    async def advise(self, req: AdviceRequest) -> str:
        await self._account(req.user_id, "advise", 0.003)
        return await super().advise(req)

    async def next_steps(self, req: NextStepsRequest) -> str:
        await self._account(req.user_id, "next", 0.004)
        return await super().next_steps(req)


class RowsAtReport(RecordingNotifier):
    """Keeps the live task rows as last seen before the archive moved them (read on every change notice)."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.rows: list[Task] = []

    async def changed(self, user_id: str) -> None:
        rows = await self.store.tasks.for_user(user_id)
        if rows:
            self.rows = rows
        await super().changed(user_id)


async def test_whole_output_and_tokens_survive_the_day_and_the_archive(ts_env: WorkflowEnvironment,
                                                                       store: Store) -> None:
    assert len(LONG) >= 1744
    agents = LedgerAgents(store, plan=["write the long report", "fail-once: flaky sync", "impossible: rm -rf"])
    notifier = RowsAtReport(store)
    report = await run_day(ts_env, store, agents, notifier, day_input())

    # The workflow and the report carry a summary; the row and the archive carry the whole output.
    [long_item] = [i for i in report.completed if "long" in i.description]
    assert long_item.output is not None and len(long_item.output) == OUTPUT_SUMMARY_CHARS
    [live] = [r for r in notifier.rows if "long" in r.description]
    assert live.output == LONG and (live.input_tokens, live.output_tokens) == (4321, 1234)
    [archived] = [h for h in await store.history.day("U1", DAY) if "long" in h.description]
    assert archived.output == LONG and (archived.input_tokens, archived.output_tokens) == (4321, 1234)
    assert archived.cost_usd == pytest.approx(0.002)

    # Cost: every run in the ledger (plan, 3 long/flaky-retry/impossible executions + the flaky one's failed
    # attempt, advice for the impossible task, reviews, next steps), not just the workflow's successes.
    ledger = await store.ledger.actual("U1", DAY)
    assert agents.calls["advise"] == 1 and agents.calls["next_steps"] == 1
    [delivered] = notifier.reports
    assert isinstance(delivered, StatusReport)
    assert delivered.cost_usd == pytest.approx(ledger, abs=1e-4)
    assert delivered.cost_usd > report.cost_usd  # the workflow's own sum misses failed attempts and advice
    run = await store.runs.get("U1", f"day-U1-{DAY}")
    assert run is not None and run.report_json is not None
    assert StatusReport.model_validate_json(run.report_json).cost_usd == pytest.approx(ledger, abs=1e-4)


async def test_slack_finds_the_running_shift_after_midnight_or_a_timezone_change(ts_env: WorkflowEnvironment,
                                                                                 store: Store) -> None:
    """/dayshift status, add and Home find the running day by what runs, not by today's date."""
    from bot.control import ShiftControl, UserError
    from bot.settings import Settings
    from tests.workflows.conftest import queue
    from workflows.activities import ShiftActivities
    from workflows.daily_shift import DailyShiftWorkflow
    from workflows.worker import build_worker

    # The shift started on the 20th (by the user's old timezone); the wall clock's local date is another day.
    running_id = "day-U1-2026-11-20"
    await store.users.ensure("U1", timezone="Pacific/Kiritimati")
    agents = ScriptedAgents(plan=["gate: a long job"])
    q = queue()
    async with build_worker(ts_env.client, ShiftActivities(store, agents, RecordingNotifier(), heartbeat_interval=0.2),
                            task_queue=q):
        handle = await ts_env.client.start_workflow(DailyShiftWorkflow.run, day_input(day="2026-11-20"),
                                                    id=running_id, task_queue=q)
        for _ in range(200):
            run = await store.runs.get("U1", running_id)
            if run is not None and agents.calls["run"]:
                break
            await asyncio.sleep(0.05)
        control = ShiftControl(store, ts_env.client, Settings(), task_queue=q)
        user = await control.user("U1")
        assert control.day_id(user) != running_id
        live = await control.live(user)
        assert live is not None and live.id == running_id
        state = await control.state(user)
        assert state is not None and state.day == "2026-11-20" and state.phase == "running"
        added = await control.add("U1", "late idea from the user")
        assert added.when == "today"  # into the running shift, not parked for "the next one"
        with pytest.raises(UserError, match="already run or is running"):
            await control.run_now("U1")
        agents.gate.set()
        report = await handle.result()
    assert "late idea from the user" in {i.description for i in report.completed}


class Audited(ShiftActivities):
    """Real activities that also note every record_tasks call (what the workflow mirrors itself)."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.mirrored: list[tuple[str, str | None]] = []

    @activity.defn(name="record_tasks")
    async def record_tasks(self, inp: RecordInput) -> None:
        self.mirrored.extend((t.status.value, inp.message) for t in inp.tasks)
        await super().record_tasks(inp)


async def test_the_executor_records_its_task_so_no_round_trips_follow_the_work(ts_env: WorkflowEnvironment,
                                                                             store: Store) -> None:
    """The assignment and the completion are written by the executor activity itself, the completion in the
    same moment the agent returns: the workflow mirrors neither, and the audit trail is still whole."""
    q = queue()
    acts = Audited(store, ScriptedAgents(), RecordingNotifier(), heartbeat_interval=0.2)
    async with build_worker(ts_env.client, acts, task_queue=q):
        handle = await ts_env.client.start_workflow(DailyShiftWorkflow.run, day_input("UR"), id=f"day-UR-{DAY}",
                                                    task_queue=q)
        report = await handle.result()
        await replay_and_maybe_record(handle)
        history = await handle.fetch_history()
    assert len(report.completed) == 3
    assert not [m for m in acts.mirrored if m[0] in ("in_progress", "completed")], acts.mirrored
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled.count("execute_task") == 3 and scheduled.count("record_tasks") <= 3  # not 3 + 2 per task
    for h in await store.history.day("UR", DAY):
        events = [e.to_status for e in await store.tasks.events("UR", h.task_id) if e.kind == "status"]
        assert events == ["generated", "pre_validated", "pending", "in_progress", "completed"]
        assert h.status.value == "completed" and h.output and h.input_tokens == 100 and h.end_time


async def test_a_retry_after_a_recorded_success_returns_the_record_instead_of_working_again(
        ts_env: WorkflowEnvironment, store: Store) -> None:
    """The worker dies after the completion is written but before Temporal hears of it (here: the first
    attempt fails right after its write): the retry finds the record and the agent does not run twice."""

    class LostResult(ShiftActivities):
        lost = 0

        @activity.defn(name="execute_task")
        async def execute_task(self, req: ExecuteInput) -> ExecOutcome:
            outcome = await super().execute_task(req)
            if activity.info().attempt == 1:
                LostResult.lost += 1
                raise RuntimeError("worker lost before its result reached Temporal")
            return outcome

    agents = ScriptedAgents(plan=["one thing"])
    q = queue()
    async with build_worker(ts_env.client, LostResult(store, agents, RecordingNotifier(), heartbeat_interval=0.2),
                            task_queue=q):
        handle = await ts_env.client.start_workflow(DailyShiftWorkflow.run, day_input("UX", retry_initial_seconds=0.2),
                                                    id=f"day-UX-{DAY}", task_queue=q)
        report = await handle.result()
    assert LostResult.lost == 1 and agents.calls["run"] == 1
    [item] = report.completed
    assert item.output == "done: one thing"
    [h] = await store.history.day("UX", DAY)
    assert len([e for e in await store.tasks.events("UX", h.task_id) if e.to_status == "completed"]) == 1


async def test_a_slow_completion_write_keeps_the_attempt_alive(ts_env: WorkflowEnvironment, store: Store) -> None:
    """The agent is done but recording its success takes longer than the heartbeat timeout (a database blip): the
    activity heartbeats while it writes, so the attempt is not timed out into a second run of the agent."""
    original = store.tasks.complete

    async def slow_complete(*args: object, **kw: object) -> str | None:
        await asyncio.sleep(4)  # twice the heartbeat timeout below
        return await original(*args, **kw)  # type: ignore[arg-type]

    store.tasks.complete = slow_complete  # type: ignore[method-assign]
    agents = ScriptedAgents(plan=["one thing"])
    q = queue()
    async with build_worker(ts_env.client, ShiftActivities(store, agents, RecordingNotifier(), heartbeat_interval=0.2),
                            task_queue=q):
        handle = await ts_env.client.start_workflow(
            DailyShiftWorkflow.run, day_input("US", heartbeat_timeout_seconds=2, retry_initial_seconds=0.2),
            id=f"day-US-{DAY}", task_queue=q)
        report = await handle.result()
    assert agents.calls["run"] == 1  # one run of the agent: no attempt was timed out
    [item] = report.completed
    [h] = await store.history.day("US", DAY)
    assert h.status.value == "completed" and h.output == item.output
