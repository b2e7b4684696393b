"""A worker in its own process (for kill -9 tests): real Temporal worker, SQLite, scripted agents (fake).

Usage: python -m tests.workflows.worker_proc ADDRESS QUEUE DB_PATH EVENTS_FILE
Every completed agent run and every delivered report appends a JSON line to EVENTS_FILE.
"""

from __future__ import annotations

import asyncio
import json
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from agents.contracts import ExecRequest, ExecResult, RunMonitor
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from workflows.activities import ShiftActivities
from workflows.worker import build_worker


class SlowAgents(ScriptedAgents):
    def __init__(self, events: str) -> None:
        super().__init__(plan=["slow: a", "slow: b", "slow: c"])
        self.events = events

    async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult:
        for pct in range(10, 100, 15):
            await monitor.progress(pct, "working")
            await asyncio.sleep(0.4)
        with open(self.events, "a") as f:
            f.write(json.dumps({"kind": "completed", "task_id": req.task_id}) + "\n")
        return ExecResult(output=f"done {req.description}")


class FileNotifier(RecordingNotifier):
    def __init__(self, events: str) -> None:
        super().__init__()
        self.events = events

    async def report(self, report) -> None:  # type: ignore[no-untyped-def]
        with open(self.events, "a") as f:
            f.write(json.dumps({"kind": "report", "workflow_id": report.workflow_id,
                                "completed": len(report.completed)}) + "\n")


async def main(address: str, queue: str, db: str, events: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    store = await Store.open(db)
    acts = ShiftActivities(store, SlowAgents(events), FileNotifier(events), heartbeat_interval=0.2)
    print("worker ready", flush=True)
    await build_worker(client, acts, task_queue=queue).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
