"""Whole 3-hour days on the real time-skipping test server, with fast scripted agents (fakes)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from storage.models import TaskStatus
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from tests.workflows.conftest import queue
from tests.workflows.test_replay import replay_and_maybe_record
from workflows.activities import ShiftActivities
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import AddTaskRequest, DayInput, EditTaskRequest, StatusReport
from workflows.worker import build_worker

DAY = "2026-11-28"


def day_input(user: str = "U1", **kw: object) -> DayInput:
    base: dict[str, object] = {"user_id": user, "day": DAY, "timezone": "Europe/Berlin",
                               "retry_initial_seconds": 1, "retry_max_seconds": 4}
    base.update(kw)
    return DayInput.model_validate(base)


async def run_day(env: WorkflowEnvironment, store: Store, agents: ScriptedAgents, notifier: RecordingNotifier,
                  inp: DayInput, during=None) -> StatusReport:  # type: ignore[no-untyped-def]
    q = queue()
    acts = ShiftActivities(store, agents, notifier, heartbeat_interval=0.2)
    async with build_worker(env.client, acts, task_queue=q):
        handle = await env.client.start_workflow(DailyShiftWorkflow.run, inp, id=f"day-{inp.user_id}-{DAY}",
                                                 task_queue=q)
        if during is not None:
            await during(handle)
        report = await handle.result()
        await replay_and_maybe_record(handle)
        return report


async def test_all_complete_day(ts_env: WorkflowEnvironment, store: Store) -> None:
    agents, notifier = ScriptedAgents(), RecordingNotifier()
    report = await run_day(ts_env, store, agents, notifier, day_input())
    assert [i.status for i in report.completed] == ["completed"] * 3
    assert report.failed == [] and report.in_progress == [] and report.not_started == []
    assert report.total_generated == 3 and report.completion_rate == 1.0
    assert report.window_minutes == 180 and report.next_steps == "Carry unfinished work into tomorrow."
    assert report.cost_usd == pytest.approx(0.01 + 3 * 0.002 + 0.001)  # plan + executors + one review
    assert len(notifier.reports) == 1 and notifier.started == [f"day-U1-{DAY}"]
    # Archived, with the spec's lifecycle in the audit trail.
    history = await store.history.day("U1", DAY)
    assert sorted(h.status for h in history) == ["completed"] * 3
    assert await store.tasks.for_user("U1") == []
    events = await store.tasks.events("U1", history[0].task_id)
    assert [e.to_status for e in events if e.kind == "status"] == [
        "generated", "pre_validated", "pending", "in_progress", "completed"]
    run = await store.runs.get("U1", f"day-U1-{DAY}")
    assert run is not None and run.report_delivered and run.status == "completed"
    # Completions happened before the first checkpoint, so exactly one review ran (at that checkpoint).
    assert agents.calls["review"] == 1


async def test_failure_escalates_after_last_attempt_then_retry_and_skip(ts_env: WorkflowEnvironment,
                                                                        store: Store) -> None:
    agents = ScriptedAgents(plan=["fail-until-retry: sync calendar", "fail-always: call flaky API",
                                  "write notes"])
    notifier = RecordingNotifier()

    async def during(handle) -> None:  # type: ignore[no-untyped-def]
        for _ in range(200):
            if len(notifier.escalations) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(notifier.escalations) == 2
        state = await handle.query(DailyShiftWorkflow.get_state)
        by_text = {t.description.split(":")[0]: t for t in state.tasks}
        again, flaky = by_text["fail-until-retry"], by_text["fail-always"]
        assert again.status is TaskStatus.FAILED and again.attempts == 3 and again.escalated
        # Escalation came only after the 3rd attempt.
        assert agents.attempts[f"{again.task_id}:1"] == 3
        await handle.execute_update(DailyShiftWorkflow.retry_task, again.short_id)
        await handle.execute_update(DailyShiftWorkflow.skip_task, flaky.short_id)
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await handle.execute_update(DailyShiftWorkflow.skip_task, flaky.short_id)
        assert "already decided" in str(exc.value.cause)

    report = await run_day(ts_env, store, agents, notifier, day_input(), during)
    completed = {i.description for i in report.completed}
    assert completed == {"fail-until-retry: sync calendar", "write notes"}
    [failed] = report.failed
    assert failed.description == "fail-always: call flaky API" and failed.attempts == 3
    assert failed.resolution == "skipped by you" and "529" in (failed.reason or "")
    escalations = await store.escalations.for_user("U1")
    assert sorted(e.resolution or "" for e in escalations) == ["retry", "skip"]


async def test_non_retryable_fails_at_once_and_unanswered_escalation_stays_failed(ts_env: WorkflowEnvironment,
                                                                                   store: Store) -> None:
    agents = ScriptedAgents(plan=["impossible: delete prod", "write notes", "tidy"])
    notifier = RecordingNotifier()
    report = await run_day(ts_env, store, agents, notifier, day_input())
    [failed] = report.failed
    assert failed.attempts == 1 and failed.resolution is None and "permission denied" in (failed.reason or "")
    assert len(notifier.escalations) == 1 and len(report.completed) == 2


async def test_updates_during_window(ts_env: WorkflowEnvironment, store: Store) -> None:
    agents = ScriptedAgents(plan=["gate: long job", "bogus capability task", "c"])
    notifier = RecordingNotifier()

    async def during(handle) -> None:  # type: ignore[no-untyped-def]
        state = await _wait_for(handle, lambda s: any(t.status is TaskStatus.IN_PROGRESS for t in s.tasks))
        running = next(t for t in state.tasks if t.status is TaskStatus.IN_PROGRESS)
        blocked = next(t for t in state.tasks if t.blocked_reason)
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await handle.execute_update(DailyShiftWorkflow.edit_task,
                                        EditTaskRequest(task_ref=running.short_id, description="x"))
        assert "in progress; in-progress tasks cannot be edited" in str(exc.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await handle.execute_update(DailyShiftWorkflow.cancel_task, running.short_id)
        assert "cannot be cancelled" in str(exc.value.cause)

        added = await handle.execute_update(DailyShiftWorkflow.add_task, AddTaskRequest(description="user task"))
        # Pending at once; the dispatcher may already have started it by the time the update returns.
        assert added.generated_by == "user" and added.status in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)
        first = await handle.execute_update(DailyShiftWorkflow.add_task,
                                            AddTaskRequest(description="from msg", source_ref="T/C/1"))
        dup = await handle.execute_update(DailyShiftWorkflow.add_task,
                                          AddTaskRequest(description="from msg", source_ref="T/C/1"))
        assert dup.task_id == first.task_id
        for bad, why in ((EditTaskRequest(task_ref="zzzzzz", description="x"), "No task"),
                         (EditTaskRequest(task_ref=blocked.short_id, description="  "), "empty")):
            with pytest.raises(WorkflowUpdateFailedError) as exc:
                await handle.execute_update(DailyShiftWorkflow.edit_task, bad)
            assert why in str(exc.value.cause)
        edited = await handle.execute_update(DailyShiftWorkflow.edit_task,
                                             EditTaskRequest(task_ref=blocked.short_id, description="bogus v2"))
        assert edited.description == "bogus v2"
        await handle.execute_update(DailyShiftWorkflow.cancel_task, blocked.short_id)
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await handle.execute_update(DailyShiftWorkflow.cancel_task, blocked.short_id)
        assert "already cancelled" in str(exc.value.cause)
        for bad_add, why in ((AddTaskRequest(description=""), "empty"),
                             (AddTaskRequest(description="x" * 5000), "limit is 2000"),
                             (AddTaskRequest(description="x", capabilities=["teleport"]), "Unknown capability")):
            with pytest.raises(WorkflowUpdateFailedError) as exc:
                await handle.execute_update(DailyShiftWorkflow.add_task, bad_add)
            assert why in str(exc.value.cause)
        agents.gate.set()

    report = await run_day(ts_env, store, agents, notifier, day_input(), during)
    assert {"gate: long job", "user task", "from msg", "c"} == {i.description for i in report.completed}
    assert [i.description for i in report.cancelled] == ["bogus v2"]
    events = await store.tasks.events("U1", next(h.task_id for h in await store.history.day("U1", DAY)
                                                 if h.description == "bogus v2"))
    assert "edited" in [e.kind for e in events]


async def _wait_for(handle, predicate, tries: int = 200):  # type: ignore[no-untyped-def]
    for _ in range(tries):
        state = await handle.query(DailyShiftWorkflow.get_state)
        if predicate(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_warning_checkpoints_and_reviews_only_when_something_happened(ts_env: WorkflowEnvironment,
                                                                          store: Store) -> None:
    agents = ScriptedAgents(plan=["a", "b", "c"], review_adds=["added at review"])
    notifier = RecordingNotifier()
    report = await run_day(ts_env, store, agents, notifier, day_input())
    # 180 min / 15 min = 12 checkpoints, the last one coinciding with the deadline is not taken.
    run = await store.runs.get("U1", f"day-U1-{DAY}")
    assert run is not None and run.snapshot_json is not None
    assert '"checkpoints":11' in run.snapshot_json.replace(" ", "")
    # Reviews: at checkpoint 1 (3 completions) and checkpoint 2 (the added task completed); then nothing happened.
    assert agents.calls["review"] == 2
    assert "added at review" in {i.description for i in report.completed}
    warning = await store.memory.get("U1", "shift.deadline_warning")
    assert warning is not None and "wrap up" in warning.state_value
    assert notifier.progress_posts == 2  # only checkpoints after a change post into the thread


async def test_prevalidation_failure_goes_back_to_pending_and_orchestrator_is_told(ts_env: WorkflowEnvironment,
                                                                                   store: Store) -> None:
    agents = ScriptedAgents(plan=["bogus capability task", "fine"])
    notifier = RecordingNotifier()
    report = await run_day(ts_env, store, agents, notifier, day_input())
    [blocked] = report.not_started
    assert blocked.description == "bogus capability task" and "unknown capability: teleport" in (blocked.reason or "")
    assert any("failed pre-validation" in h for r in agents.reviews for h in r.happened)


async def test_user_tasks_claimed_and_carried_over(ts_env: WorkflowEnvironment, store: Store) -> None:
    await store.users.ensure("U1")
    await store.tasks.create("U1", "user asked yesterday", generated_by="user")
    agents = ScriptedAgents(plan=["a", "b", "c"])
    notifier = RecordingNotifier()
    report = await run_day(ts_env, store, agents, notifier, day_input())
    assert "user asked yesterday" in {i.description for i in report.completed}
    assert [t.description for t in agents.plan_requests[0].user_tasks] == ["user asked yesterday"]


async def test_late_start_keeps_deadline_or_skips(ts_env: WorkflowEnvironment, store: Store) -> None:
    agents, notifier = ScriptedAgents(), RecordingNotifier()
    now = await ts_env.get_current_time()
    report = await run_day(ts_env, store, agents, notifier,
                           day_input(scheduled_start=now - timedelta(minutes=175)))
    assert report.skipped_reason and "175 min late" in report.skipped_reason
    assert agents.calls["plan"] == 0 and len(notifier.reports) == 1

    agents2 = ScriptedAgents()
    now = await ts_env.get_current_time()
    report2 = await run_day(ts_env, store, agents2, RecordingNotifier(),
                            day_input(user="U2", scheduled_start=now - timedelta(minutes=60)))
    assert report2.window_end - report2.window_start == timedelta(hours=3)
    assert report2.window_start == now - timedelta(minutes=60) and len(report2.completed) == 3


async def test_report_delivery_retried_when_notifier_fails(ts_env: WorkflowEnvironment, store: Store) -> None:
    agents, notifier = ScriptedAgents(), RecordingNotifier()
    notifier.fail_reports = 2
    await run_day(ts_env, store, agents, notifier, day_input())
    assert len(notifier.reports) == 1
