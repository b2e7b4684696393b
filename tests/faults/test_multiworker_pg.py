"""Workers on many hosts: two `dayshift worker`-style processes (tests/workflows/worker_proc.py: the real Temporal
worker, the real SlackNotifier against the fake Slack, scripted agents as the only fake) share one Temporal dev
server and one PostgreSQL database. One is SIGKILLed while it runs a task; the other finishes the day."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from storage.models import TaskStatus
from storage.store import Store
from tests import pg
from tests.conftest import queue
from tests.fakes.slack import FakeSlack
from tests.faults.test_crashes import DAY, day, events
from workflows.schedules import start_day_now

pytestmark = pytest.mark.devserver
ROOT = Path(__file__).resolve().parents[2]


async def test_two_workers_on_postgres_one_sigkilled_mid_task(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    url = await pg.create_database()
    slack = await FakeSlack().start()
    log, q = tmp_path / "events.jsonl", queue()
    address = dev_env.client.service_client.config.target_host
    cmd = [sys.executable, "-m", "tests.workflows.worker_proc", address, q, url, str(log), slack.api_url, "slow-exec"]

    def spawn() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None and b"worker ready" in proc.stdout.readline()
        return proc

    procs = [spawn(), spawn()]  # one after the other (concurrent migration is tested in test_storage_backends)
    user = "UMULTI"
    killed = 0
    try:
        handle = await start_day_now(dev_env.client, day(user), task_queue=q)
        for _ in range(900):
            started = [e for e in events(log) if e["kind"] == "exec-started"]
            if started:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no task ever started")
        killed = int(started[0]["pid"])
        victim = next(p for p in procs if p.pid == killed)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        report = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        await slack.stop()
    try:
        log_events = events(log)
        completions = [e["task_id"] for e in log_events if e["kind"] == "completed"]
        assert len(report.completed) == 3, report.model_dump_json(indent=1)
        assert len(completions) == len(set(completions)) == 3
        # the killed worker never completed the task it was running; the survivor did
        assert not [e for e in log_events if e["kind"] == "completed" and int(e["pid"]) == killed
                    and e["task_id"] == started[0]["task_id"]]
        posted = [c for c in slack.called("chat.postMessage")
                  if "Daily Task Summary" in json.dumps(c.get("blocks", ""))]
        assert len(posted) == 1
        store = await Store.open(url)
        try:
            history = await store.history.day(user, DAY)
            assert sorted(h.status for h in history) == [TaskStatus.COMPLETED] * 3
            run = await store.runs.get(user, f"day-{user}-{DAY}")
            assert run is not None and run.report_delivered and run.report_json  # the report lives in PostgreSQL
            events_rows = await store.db.fetchall(
                "SELECT task_id FROM task_events WHERE user_id = ? AND to_status = 'completed'", (user,))
            assert len(events_rows) == len({r["task_id"] for r in events_rows}) == 3
        finally:
            await store.close()
    finally:
        await pg.drop_database(url)
