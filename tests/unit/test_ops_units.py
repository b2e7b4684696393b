"""Units of the operator's side: model selection, log lines, the workflow_failed event (time-skipping server)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bot.logging_setup import configure_logging
from bot.services import ModelNotConfigured, open_services, start_model
from bot.settings import Settings
from workflows.daily_shift import DailyShiftWorkflow
from workflows.events import DayEventsInterceptor, emit
from workflows.models import DayInput, DayState, TaskState


def test_offline_model_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "DAYSHIFT_MODEL=offline" in (Settings().model_problem() or "")
    monkeypatch.setenv("DAYSHIFT_MODEL", "offline")
    assert Settings().model_problem() is None
    monkeypatch.setenv("DAYSHIFT_MODEL", "gpt")
    with pytest.raises(ValueError, match="DAYSHIFT_MODEL"):
        Settings()
    monkeypatch.setenv("DAYSHIFT_MODEL", "claude")
    assert "ANTHROPIC_API_KEY" in (Settings().model_problem() or "")  # claude without a key is no model either
    monkeypatch.delenv("DAYSHIFT_MODEL")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://gateway.internal:8080")
    assert Settings().model_problem() is None


async def test_services_refuse_to_start_without_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYSHIFT_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(ModelNotConfigured, match="ANTHROPIC_API_KEY"):
        async with open_services(Settings(), lambda _s: None):  # type: ignore[arg-type, return-value]
            pass
    assert not (tmp_path / "data").exists()  # refused before opening anything
    with pytest.raises(ModelNotConfigured):
        await start_model(Settings())
    _base_url, key, offline = await start_model(Settings(), demo=True)  # the demo is the one exception
    assert offline is not None and key == "offline"
    await offline.stop()


def test_event_lines_and_log_file(tmp_path: Path) -> None:
    import io

    stream = io.StringIO()
    log_file = tmp_path / "logs" / "dayshift.jsonl"
    configure_logging("WARNING", stream, log_file=log_file)
    try:
        emit("task_status_changed", workflow_id="day-U1-x", user_id="U1", task_id="t1", **{"from": "pending",
                                                                                          "to": "in_progress"})
        emit("task_retry", workflow_id="day-U1-x", user_id="U1", task_id="t1", attempt=2)
        logging.getLogger("apscheduler.executors.default").info('Running job "redeliver" (scheduled at ...)')
        logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
    finally:
        configure_logging("INFO")
    on_console = [json.loads(line) for line in stream.getvalue().splitlines()]
    in_file = [json.loads(line) for line in log_file.read_text().splitlines()]
    # the console shows WARNING and up; the file every event at INFO; APScheduler's per-job INFO goes nowhere
    assert [line["event"] for line in on_console] == ["task_retry", "Run time of job was missed"]
    assert [line["event"] for line in in_file] == ["task_status_changed", "task_retry", "Run time of job was missed"]
    change = in_file[0]
    assert change["level"] == "INFO" and change["workflow_id"] == "day-U1-x" and change["user_id"] == "U1"
    assert change["task_id"] == "t1" and change["from"] == "pending" and change["to"] == "in_progress"
    assert in_file[1]["level"] == "WARNING" and in_file[1]["attempt"] == 2


@activity.defn(name="open_day")
async def broken_open_day(state: DayState) -> list[TaskState]:
    raise ApplicationError("database is gone", non_retryable=True, type="StorageDown")


async def test_workflow_failed_event(ts_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dayshift.events")
    q = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=q, workflows=[DailyShiftWorkflow], activities=[broken_open_day],
                      interceptors=[DayEventsInterceptor()]):
        handle = await ts_env.client.start_workflow(
            DailyShiftWorkflow.run, DayInput(user_id="UF", day="2026-11-29", window_seconds=60, min_useful_seconds=1),
            id="day-UF-fails", task_queue=q)
        with pytest.raises(Exception):  # noqa: B017 - the workflow fails; the event is what is asserted
            await handle.result()
    events = [r for r in caplog.records if r.name == "dayshift.events"]
    assert [getattr(r, "event", None) for r in events] == ["workflow_started", "workflow_failed"]
    failed = events[1]
    assert failed.levelno == logging.ERROR and getattr(failed, "workflow_id") == "day-UF-fails"  # noqa: B009
    assert getattr(failed, "user_id") == "UF" and "database is gone" in getattr(failed, "data")["error"]  # noqa: B009
