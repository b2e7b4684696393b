"""A real day on the Temporal dev server through the product's own wiring (bot/services.open_services: the
worker, the real claude-agent-sdk + CLI against the offline model, SQLite), with a fake Notifier in place of
Slack: the spec's log events and the Prometheus endpoint, checked against that day's report."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from bot.metrics import serve_metrics
from bot.services import OFFLINE_LABEL, open_services
from bot.settings import Settings
from tests.fakes.agents import RecordingNotifier
from workflows.models import DayInput, StatusReport
from workflows.report import render_text
from workflows.schedules import start_day_now

pytestmark = [pytest.mark.devserver, pytest.mark.cli]
SPEC_EVENTS = {"workflow_started", "workflow_completed", "task_status_changed", "agent_started", "agent_finished",
               "task_retry", "deadline_warning", "escalated"}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_day_events_and_metrics_match_the_day(dev_env: WorkflowEnvironment, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.logging_setup import JsonFormatter

    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    monkeypatch.setenv("DAYSHIFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAYSHIFT_MODEL", "offline")
    monkeypatch.setenv("DAYSHIFT_METRICS_PORT", "0")
    settings = Settings()
    capture = Capture()
    events_logger = logging.getLogger("dayshift.events")
    events_logger.addHandler(capture)
    notifier = RecordingNotifier()
    try:
        async with serve_metrics(settings) as metrics:
            assert metrics is not None
            async with open_services(settings, lambda _s: notifier, runtime=metrics.runtime,
                                     cli_max_retries=0) as svc:  # each 529 fails its attempt at once
                await svc.store.users.ensure("UEV")
                await svc.store.tasks.create("UEV", "Flaky job [[offline:fail status=529]]", generated_by="user")
                day = DayInput(user_id="UEV", day=datetime.now(UTC).date().isoformat(), window_seconds=30,
                               checkpoint_seconds=6, warning_seconds=6, min_useful_seconds=1,
                               heartbeat_timeout_seconds=10, retry_initial_seconds=0.5, retry_max_seconds=1,
                               grace_seconds=8)
                handle = await start_day_now(svc.client, day, workflow_id="day-UEV-events")
                report: StatusReport = await handle.result()
                spent = await svc.store.ledger.spent("UEV", day.day)
                scraped = await asyncio.to_thread(_scrape, metrics.url)
    finally:
        events_logger.removeHandler(capture)

    # ---- the report says it ran on the offline model
    assert report.model_label is None  # the workflow's own copy; the worker stamps what it saves and delivers
    delivered = notifier.reports[0]
    assert isinstance(delivered, StatusReport) and delivered.model_label == OFFLINE_LABEL
    assert "offline model" in render_text(delivered)

    # ---- events: names, levels, fields
    lines = [_as_json(JsonFormatter(), r) for r in capture.records]
    mine = [line for line in lines if line.get("user_id") == "UEV"]
    assert SPEC_EVENTS <= {line["event"] for line in mine}
    for line in mine:
        assert {"timestamp", "level", "event", "workflow_id", "user_id"} <= set(line)
        assert line["workflow_id"] == "day-UEV-events"
    by = {name: [line for line in mine if line["event"] == name] for name in SPEC_EVENTS}
    assert len(by["workflow_started"]) == 1 and len(by["workflow_completed"]) == 1
    assert by["workflow_completed"][0]["tasks_total"] == report.total_generated
    flaky = next(t for t in [*report.failed] if t.description.startswith("Flaky job"))
    assert flaky.attempts == 3
    flaky_id = next(line["task_id"] for line in by["escalated"])
    assert [line["attempt"] for line in by["task_retry"] if line["task_id"] == flaky_id] == [2, 3]
    assert all(line["level"] == "WARNING" and line["task_id"] for line in by["task_retry"])
    [escalated] = by["escalated"]
    assert escalated["level"] == "ERROR" and "529" in escalated["reason"]
    assert by["deadline_warning"][0]["level"] == "WARNING"
    changes = by["task_status_changed"]
    assert all(line["task_id"] and "from" in line and "to" in line for line in changes)
    done_ids = {line["task_id"] for line in changes if line["to"] == "completed"}
    assert len(done_ids) == len(report.completed)
    assert any(line["from"] == "in_progress" and line["to"] == "failed" for line in changes)
    starts, finishes = by["agent_started"], by["agent_finished"]
    assert {line["role"] for line in starts} >= {"orchestrator", "executor"} and all(line["model"] for line in starts)
    assert len(finishes) == len(starts)
    assert all({"cost_usd", "input_tokens", "output_tokens", "seconds"} <= set(line) for line in finishes)

    # ---- metrics: the same day, scraped
    m = _samples(scraped)
    assert m[("dayshift_workflows_total", (("outcome", "completed"),))] == 1
    assert m[("dayshift_workflow_success_ratio", ())] == 1.0
    assert m[("dayshift_day_tasks_count", ())] == 1
    assert m[("dayshift_day_tasks_sum", ())] == report.total_generated
    assert m[("dayshift_task_completion_seconds_count", ())] == len(report.completed)
    expected_seconds = sum((i.duration_minutes or 0) * 60 for i in report.completed)
    assert m[("dayshift_task_completion_seconds_sum", ())] == pytest.approx(expected_seconds, abs=0.5)
    assert m[("dayshift_task_failures_total", (("error_type", "overloaded"),))] == 1  # the 529 task
    assert sum(v for (name, _), v in m.items() if name == "dayshift_task_failures_total") == len(report.failed)
    finished = len(report.completed) + len(report.failed)
    assert m[("dayshift_task_failure_ratio", ())] == pytest.approx(len(report.failed) / finished)
    assert m[("dayshift_status_updates_total", (("kind", "report"), ("outcome", "delivered")))] == 1
    assert m[("dayshift_task_retries_total", ())] == len(by["task_retry"]) >= 2
    assert m[("dayshift_escalations_total", ())] == 1
    cost = sum(v for (name, _), v in m.items() if name == "dayshift_agent_cost_usd_total")
    assert cost == pytest.approx(spent, rel=1e-6) and cost > 0
    tokens = sum(v for (name, _), v in m.items() if name == "dayshift_agent_tokens_total")
    assert tokens == sum(line["input_tokens"] + line["output_tokens"] for line in finishes) > 0
    runs = sum(v for (name, _), v in m.items() if name == "dayshift_agent_runs_total")
    assert runs == len(finishes)
    # the Temporal SDK's runtime metrics, merged into the same endpoint
    assert any(name.startswith("temporal_") for name, _ in m)


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def _as_json(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, Any]:
    import json

    return dict(json.loads(formatter.format(record)))
