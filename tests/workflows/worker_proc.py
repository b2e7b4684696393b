"""A worker in its own process, for kill -9 tests: the real Temporal worker, SQLite and SlackNotifier
(against the test's fake Slack); scripted agents (a fake) that take a moment, so a kill lands mid-step.

Usage: python -m tests.workflows.worker_proc ADDRESS QUEUE DB_PATH_OR_POSTGRES_URL EVENTS_FILE SLACK_API_URL MODE
MODE: slow-exec | slow-plan | slow-report. Steps append JSON lines to EVENTS_FILE.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from agents.contracts import ExecRequest, ExecResult, PlanRequest, PlanResult, RunMonitor
from bot.slack_client import web_client
from bot.slack_notifier import SlackNotifier
from storage.store import Store
from tests.fakes.agents import ScriptedAgents
from workflows.activities import ShiftActivities
from workflows.models import StatusReport
from workflows.worker import build_worker


def note(path: str, **event: object) -> None:
    with open(path, "a") as f:
        f.write(json.dumps({**event, "pid": os.getpid()}) + "\n")


class SlowAgents(ScriptedAgents):
    def __init__(self, events: str, mode: str) -> None:
        super().__init__(plan=["slow: a", "slow: b", "slow: c"])
        self.events, self.mode = events, mode

    async def plan_day(self, req: PlanRequest) -> PlanResult:
        note(self.events, kind="plan-started")
        if self.mode == "slow-plan":
            await asyncio.sleep(3)
        return await super().plan_day(req)

    async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult:
        note(self.events, kind="exec-started", task_id=req.task_id)
        steps = range(10, 100, 15) if self.mode == "slow-exec" else range(10, 100, 45)
        for pct in steps:
            await monitor.progress(pct, "working")
            await asyncio.sleep(0.4)
        note(self.events, kind="completed", task_id=req.task_id)
        return ExecResult(output=f"done {req.description}")


class SlowSlackNotifier(SlackNotifier):
    def __init__(self, events: str, mode: str, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.events, self.mode = events, mode

    async def report(self, report: StatusReport) -> None:
        note(self.events, kind="report-started")
        if self.mode == "slow-report":
            await asyncio.sleep(3)
        await super().report(report)


async def main(address: str, queue: str, db: str, events: str, slack_url: str, mode: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    store = await Store.open(db)
    notifier = SlowSlackNotifier(events, mode, web_client("xoxb-proc", slack_url), store)
    acts = ShiftActivities(store, SlowAgents(events, mode), notifier, heartbeat_interval=0.2)
    print("worker ready", flush=True)
    await build_worker(client, acts, task_queue=queue).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
