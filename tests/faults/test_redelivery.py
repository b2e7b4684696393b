"""The bot's re-delivery pass leaves a report to its workflow while that workflow still runs (it is still
delivering under its own retry policy), so the two never race into a second report. Real dev server and SQLite;
the notifier is the recording fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from bot.main_run import redeliver_reports
from storage.store import Store
from tests.conftest import queue
from tests.fakes.agents import RecordingNotifier
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import DayInput, StatusReport


@pytest.mark.devserver
async def test_redelivery_skips_a_day_whose_workflow_still_runs(dev_env: WorkflowEnvironment, store: Store) -> None:
    day, user = "2026-11-29", "URED"
    workflow_id = f"day-{user}-{day}"
    # A running day (no worker polls its queue, so it stays running) whose report is saved but not yet delivered.
    handle = await dev_env.client.start_workflow(DailyShiftWorkflow.run, DayInput(user_id=user, day=day),
                                                 id=workflow_id, task_queue=queue())
    now = datetime.now(UTC)
    await store.users.ensure(user)
    await store.runs.open(user, workflow_id, day, start_time=now.isoformat(),
                          deadline=(now + timedelta(hours=3)).isoformat())
    report = StatusReport(user_id=user, workflow_id=workflow_id, day=day, timezone="UTC", window_start=now,
                          window_end=now + timedelta(hours=3))
    await store.runs.update(user, workflow_id, report_json=report.model_dump_json())
    notifier = RecordingNotifier()

    assert await redeliver_reports(store, notifier, dev_env.client) == 0  # type: ignore[arg-type]
    assert notifier.reports == []

    await handle.terminate("test: the day is over")
    assert await redeliver_reports(store, notifier, dev_env.client) == 1  # type: ignore[arg-type]
    assert len(notifier.reports) == 1
    run = await store.runs.get(user, workflow_id)
    assert run is not None and run.report_delivered
