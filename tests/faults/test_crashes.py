"""Crashes: the worker killed (SIGKILL) while planning, while an executor runs and while the report is being
delivered; the embedded Temporal server killed and restarted on its database file. Every time the day
finishes, every task ends in a recorded state, no task completes twice, exactly one report lands in Slack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bot.temporal_server import EmbeddedTemporal
from storage.models import TaskStatus
from storage.store import Store
from tests.conftest import queue
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from tests.fakes.slack import FakeSlack
from workflows.activities import ShiftActivities
from workflows.models import DayInput
from workflows.schedules import start_day_now
from workflows.worker import build_worker

pytestmark = pytest.mark.devserver
ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-28"


def day(user: str, window: float = 20) -> DayInput:
    return DayInput(user_id=user, day=DAY, window_seconds=window, checkpoint_seconds=4, warning_seconds=2,
                    min_useful_seconds=1, heartbeat_timeout_seconds=2, retry_initial_seconds=0.5,
                    retry_max_seconds=1, grace_seconds=5)


def events(path: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("mode, kill_after", [("slow-plan", "plan-started"), ("slow-exec", "exec-started"),
                                              ("slow-report", "report-started")])
async def test_worker_sigkill_mid_day(dev_env: WorkflowEnvironment, tmp_path: Path, mode: str,
                                      kill_after: str) -> None:
    slack = await FakeSlack().start()
    db, log, q = tmp_path / "k.db", tmp_path / "events.jsonl", queue()
    address = dev_env.client.service_client.config.target_host
    cmd = [sys.executable, "-m", "tests.workflows.worker_proc", address, q, str(db), str(log), slack.api_url, mode]

    def spawn() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None and b"worker ready" in proc.stdout.readline()
        return proc

    user = f"UK{mode[5:9]}"
    proc = spawn()
    try:
        handle = await start_day_now(dev_env.client, day(user), task_queue=q)
        for _ in range(900):
            if any(e["kind"] == kill_after for e in events(log)):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"{kill_after} never happened")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = spawn()
        report = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        proc.kill()
        proc.wait()
        await slack.stop()
    completions = [e["task_id"] for e in events(log) if e["kind"] == "completed"]
    assert len(report.completed) == 3, report.model_dump_json(indent=1)
    assert len(completions) == len(set(completions)) == 3
    posted = [c for c in slack.called("chat.postMessage") if "Daily Task Summary" in json.dumps(c.get("blocks", ""))]
    assert len(posted) == 1
    store = await Store.open(db)
    try:
        history = await store.history.day(user, DAY)
        assert sorted(h.status for h in history) == [TaskStatus.COMPLETED] * 3
        run = await store.runs.get(user, f"day-{user}-{DAY}")
        assert run is not None and run.report_delivered
    finally:
        await store.close()


async def test_temporal_server_killed_and_restarted_on_its_database(tmp_path: Path, store: Store) -> None:
    server = EmbeddedTemporal(tmp_path / "temporal", ui_port=0)
    await server.start()
    q = queue()
    agents, notifier = ScriptedAgents(plan=["gate: first", "second", "third"]), RecordingNotifier()
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        async with build_worker(client, ShiftActivities(store, agents, notifier, heartbeat_interval=0.2),
                                task_queue=q):
            handle = await start_day_now(client, day("UT", window=20), task_queue=q)
            for _ in range(200):
                if await store.tasks.for_user("UT", statuses=[TaskStatus.IN_PROGRESS]):
                    break
                await asyncio.sleep(0.05)
            assert server.process is not None
            server.process.kill()  # SIGKILL: no chance to flush anything
            server.process.wait()
            await asyncio.sleep(1)
            await server.start()  # same port, same database file
            agents.gate.set()
            report = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        await server.stop()
    assert {i.description for i in report.completed} == {"gate: first", "second", "third"}
    assert sum(agents.completed.values()) == 3 and len(notifier.reports) == 1
    history = await store.history.day("UT", DAY)
    assert sorted(h.status for h in history) == [TaskStatus.COMPLETED] * 3


async def test_report_waits_out_slack_being_unreachable(dev_env: WorkflowEnvironment, store: Store) -> None:
    from bot.slack_client import web_client
    from bot.slack_notifier import SlackNotifier

    slack = await FakeSlack().start()
    port, q = slack.port, queue()
    notifier = SlackNotifier(web_client("xoxb-outage", slack.api_url), store)
    acts = ShiftActivities(store, ScriptedAgents(), notifier, heartbeat_interval=0.2)
    back: FakeSlack | None = None
    try:
        async with build_worker(dev_env.client, acts, task_queue=q):
            handle = await start_day_now(dev_env.client, day("UO", window=6), task_queue=q)
            await slack.wait_for(lambda: slack.called("chat.postMessage"), timeout=20)  # the thread is open
            await slack.stop()  # from here on Slack refuses connections
            for _ in range(200):  # the deadline passes on time; the report is kept in SQLite
                run = await store.runs.get("UO", f"day-UO-{DAY}")
                if run is not None and run.report_json:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(4)  # delivery keeps failing with connection errors meanwhile
            run = await store.runs.get("UO", f"day-UO-{DAY}")
            assert run is not None and run.report_json and not run.report_delivered
            back = await FakeSlack(port=port).start()
            report = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        if back is not None:
            await back.stop()
    assert back is not None and len(report.completed) == 3
    posted = [c for c in back.called("chat.postMessage") if "Daily Task Summary" in json.dumps(c.get("blocks", ""))]
    assert len(posted) == 1 and posted[0]["thread_ts"]
    run = await store.runs.get("UO", f"day-UO-{DAY}")
    assert run is not None and run.report_delivered
