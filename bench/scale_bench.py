"""Scale with the model taken out: N users' compressed days at once on the Temporal dev server, an instant
scripted agent (tests/fakes/agents.py's ScriptedAgents: a fake, no Claude), a recording notifier (no Slack),
and the real storage: SQLite or PostgreSQL, served by one or two worker processes.

Prints per configuration:
- orchestration overhead per task, p50/p95 ms: from the executor activity's dispatch (Temporal's scheduled time
  of the attempt) to the task's completion recorded in the database (task_events), minus the agent's own time
  (the time inside the agent, less what storing its progress reports cost us, which counts as overhead). Since
  the executor records its own completion, the end point is the durable record, before the workflow hears of
  it; tasks that never completed are not in the figure (completed / dispatched says how many those are);
- days on time: % of days that completed and whose report was delivered within 60 s of the deadline;
- workflow history events per day (a sample of days);
- database writes per second (write transactions of all workers): the mean over the run and the peak second;
- peak RSS per worker process, and of the Temporal dev server.

Usage: python bench/scale_bench.py [--users 1000] [--window 120] [--configs sqlite:1 sqlite:2 postgres:1 postgres:2]
PostgreSQL: DAYSHIFT_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres); a fresh database
is created per run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = "2026-11-28"
TASK_QUEUE = "scale-bench"


# ------------------------------------------------------------------ worker process


async def worker_main(address: str, db: str, out: str, agents: int) -> None:
    from temporalio import activity
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from agents.contracts import ExecRequest, ExecResult, RunMonitor
    from storage.store import Store
    from tests.fakes.agents import RecordingNotifier, ScriptedAgents
    from workflows.activities import ShiftActivities
    from workflows.models import StatusReport
    from workflows.worker import build_worker

    timings: list[dict[str, object]] = []
    reports: list[dict[str, object]] = []

    dispatched: set[str] = set()

    class TimedMonitor:
        """The run's monitor, timing what its progress reports cost us (storing them, the relay): that is
        bookkeeping, so it is taken out of the agent's own time and counts as overhead."""

        def __init__(self, inner: RunMonitor) -> None:
            self.inner, self.ours = inner, 0.0

        async def progress(self, percent: int, note: str | None = None) -> None:
            t0 = time.time()
            await self.inner.progress(percent, note)
            self.ours += time.time() - t0

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    class InstantAgents(ScriptedAgents):
        async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult:
            info = activity.info()
            dispatched.add(req.task_id)
            timed = TimedMonitor(monitor)
            t0 = time.time()
            result = await super().run_task(req, timed)  # type: ignore[arg-type]  # two progress reports
            timings.append({"task_id": req.task_id, "scheduled": info.current_attempt_scheduled_time.timestamp(),
                            "started": info.started_time.timestamp(), "agent_at": t0,
                            "agent_s": time.time() - t0 - timed.ours, "ours_s": timed.ours})
            return result

    class TimedNotifier(RecordingNotifier):
        async def report(self, report: StatusReport) -> None:
            await super().report(report)
            reports.append({"workflow_id": report.workflow_id, "at": time.time()})

    client = await Client.connect(address, data_converter=pydantic_data_converter)
    store = await Store.open(db)
    acts = ShiftActivities(store, InstantAgents(), TimedNotifier(), heartbeat_interval=5, stale_after=600)

    samples: list[tuple[int, int]] = []  # (second, writes so far): the peak rate, not only the mean

    async def flush() -> None:
        while True:
            samples.append((int(time.time()), store.db.writes))
            Path(out + ".tmp").write_text(json.dumps({"pid": os.getpid(), "writes": store.db.writes,
                                                      "timings": timings, "reports": reports,
                                                      "dispatched": sorted(dispatched), "samples": samples}))
            os.replace(out + ".tmp", out)
            await asyncio.sleep(1)

    flusher = asyncio.ensure_future(flush())
    print("worker ready", flush=True)
    try:
        await build_worker(client, acts, task_queue=TASK_QUEUE, max_concurrent_agents=agents).run()
    finally:
        flusher.cancel()


# ------------------------------------------------------------------ driver


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def run_config(backend: str, workers: int, users: int, window: float, agents: int,
                     ramp: float = 0.0) -> dict[str, object]:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from storage.store import Store
    from tests import pg
    from workflows.models import DayInput
    from workflows.schedules import start_day_now

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
                                                data_converter=pydantic_data_converter, dev_server_log_level="error")
    tmp = tempfile.TemporaryDirectory()
    db = await pg.create_database() if backend == "postgres" else str(Path(tmp.name) / "scale.db")
    store = await Store.open(db)  # migrate once before the workers start
    address = env.client.service_client.config.target_host
    outs = [str(Path(tmp.name) / f"w{i}.json") for i in range(workers)]
    procs = []
    for out in outs:
        # the worker's log goes to a file: a pipe nobody reads would fill up and stall the worker
        logfile = open(out + ".log", "wb")  # closed with the temporary directory
        proc = subprocess.Popen([sys.executable, __file__, "--worker", address, db, out, str(agents)], cwd=ROOT,
                                stdout=logfile, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        for _ in range(600):
            if b"worker ready" in Path(out + ".log").read_bytes():
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"worker did not start: {Path(out + '.log').read_text()[-2000:]}")
        procs.append(proc)
    watched = {f"worker{i}": psutil.Process(p.pid) for i, p in enumerate(procs)}
    server = [c for c in psutil.Process().children(recursive=True) if "temporal" in " ".join(c.cmdline()[:1])]
    if server:
        watched["temporal"] = server[0]
    peaks: dict[str, int] = {}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            for name, p in watched.items():
                try:
                    peaks[name] = max(peaks.get(name, 0), p.memory_info().rss)
                except psutil.Error:
                    pass
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample())
    gate = asyncio.Semaphore(50)

    async def start(u: int):  # type: ignore[no-untyped-def]
        if ramp:  # the schedule's jitter: days start spread over the first ``ramp`` seconds
            await asyncio.sleep(ramp * u / users)
        async with gate:
            return await start_day_now(env.client, DayInput(
                user_id=f"S{u:04d}", day=DAY, window_seconds=window, checkpoint_seconds=window / 4,
                warning_seconds=min(20.0, window / 6), heartbeat_timeout_seconds=60, retry_initial_seconds=1,
                retry_max_seconds=5, grace_seconds=60), task_queue=TASK_QUEUE)

    t0 = time.time()
    handles = await asyncio.gather(*(start(u) for u in range(users)))
    started_s = time.time() - t0
    results = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
    wall = time.time() - t0
    await asyncio.sleep(2.5)  # let the workers flush their figures
    stop.set()
    await sampler
    sample_ids = [h.id for h in handles[:: max(1, users // 20)]]
    events = []
    for wid in sample_ids:
        history = await env.client.get_workflow_handle(wid).fetch_history()
        events.append(len(history.events))
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    figures = [json.loads(Path(o).read_text()) for o in outs if Path(o).exists()]
    timings = {t["task_id"]: t for f in figures for t in f["timings"]}
    reports = {r["workflow_id"]: r["at"] for f in figures for r in f["reports"]}
    writes = sum(int(f["writes"]) for f in figures)
    per_second: dict[int, int] = {}
    for f in figures:
        pts = f["samples"]
        for (t0s, w0), (t1s, w1) in itertools.pairwise(pts):
            if t1s > t0s:
                per_second[t1s] = per_second.get(t1s, 0) + (w1 - w0) // (t1s - t0s)
    dispatched_n = len({tid for f in figures for tid in f["dispatched"]})
    completed_at = {r["task_id"]: datetime.fromisoformat(r["at"]).timestamp() for r in await store.db.fetchall(
        "SELECT task_id, MIN(at) AS at FROM task_events WHERE to_status = 'completed' GROUP BY task_id")}
    deadlines = {r["workflow_id"]: datetime.fromisoformat(r["deadline"]).timestamp() for r in await store.db.fetchall(
        "SELECT workflow_id, deadline FROM workflows")}
    await store.close()
    overhead = [(completed_at[tid] - t["scheduled"] - t["agent_s"]) * 1000 for tid, t in timings.items()
                if tid in completed_at]
    # Where it goes: waiting for a worker to take the activity (the server's queue) vs the rest (our own
    # bookkeeping before and after the agent).
    queued = [(t["started"] - t["scheduled"]) * 1000 for tid, t in timings.items() if tid in completed_at]
    before = [(t["agent_at"] - t["started"]) * 1000 for tid, t in timings.items() if tid in completed_at]
    after = [(completed_at[tid] - t["agent_at"] - t["agent_s"]) * 1000 for tid, t in timings.items()
             if tid in completed_at]
    failed = [r for r in results if isinstance(r, BaseException)]
    failed_ids = {h.id for h, r in zip(handles, results, strict=True) if isinstance(r, BaseException)}
    # On time: a day that completed and whose report went out within 60 s of its deadline (a failed day's report
    # is not a day kept).
    on_time = sum(1 for wid, at in reports.items()
                  if wid in deadlines and wid not in failed_ids and at <= deadlines[wid] + 60)
    ours = [t["ours_s"] * 1000 for tid, t in timings.items() if tid in completed_at]
    why: dict[str, int] = {}
    for r in failed:
        cause = r
        while getattr(cause, "cause", None) is not None or getattr(cause, "__cause__", None) is not None:
            cause = getattr(cause, "cause", None) or cause.__cause__  # type: ignore[assignment]
        key = f"{type(cause).__name__}: {str(cause)[:120]}"
        why[key] = why.get(key, 0) + 1
    await env.shutdown()
    if backend == "postgres":
        await pg.drop_database(db)
    tmp.cleanup()
    return {
        "config": f"{backend}, {workers} worker{'s' if workers > 1 else ''}", "users": users,
        "tasks": len(overhead), "dispatched": dispatched_n, "p50": pct(overhead, 0.5), "p95": pct(overhead, 0.95),
        "progress_p95": pct(ours, 0.95), "writes_peak": max(per_second.values(), default=0),
        "queued_p50": pct(queued, 0.5), "queued_p95": pct(queued, 0.95),
        "before_p50": pct(before, 0.5), "before_p95": pct(before, 0.95),
        "after_p50": pct(after, 0.5), "after_p95": pct(after, 0.95),
        "on_time": 100.0 * on_time / users, "reports": len(reports), "days_failed": len(failed), "why_failed": why,
        "ramp": ramp,
        "events": statistics.mean(events) if events else float("nan"), "writes_s": writes / wall,
        "wall": wall, "start_s": started_s,
        "rss": {k: v / 2**20 for k, v in peaks.items()},
    }


def table(rows: list[dict[str, object]]) -> str:
    head = ["", *[str(r["config"]) for r in rows]]
    lines = [
        ["users (days)", *[str(r["users"]) for r in rows]],
        ["days start over s", *[f"{r['ramp']:.0f}" for r in rows]],
        ["tasks completed / dispatched", *[f"{r['tasks']} / {r['dispatched']}" for r in rows]],
        ["overhead/task p50 ms", *[f"{r['p50']:.0f}" for r in rows]],
        ["overhead/task p95 ms", *[f"{r['p95']:.0f}" for r in rows]],
        ["  queued p50/p95 ms", *[f"{r['queued_p50']:.0f} / {r['queued_p95']:.0f}" for r in rows]],
        ["  start to agent p50/p95 ms", *[f"{r['before_p50']:.0f} / {r['before_p95']:.0f}" for r in rows]],
        ["  agent to record p50/p95 ms", *[f"{r['after_p50']:.0f} / {r['after_p95']:.0f}" for r in rows]],
        ["  progress bookkeeping p95 ms", *[f"{r['progress_p95']:.0f}" for r in rows]],
        ["days on time (report <=60 s)", *[f"{r['on_time']:.1f}% ({r['reports']} delivered)" for r in rows]],
        ["days failed", *[str(r["days_failed"]) for r in rows]],
        ["history events/day", *[f"{r['events']:.0f}" for r in rows]],
        ["DB writes/s mean (peak)", *[f"{r['writes_s']:.0f} ({r['writes_peak']})" for r in rows]],
        ["wall s (starting days s)", *[f"{r['wall']:.0f} ({r['start_s']:.0f})" for r in rows]],
        ["peak RSS MB per worker", *[", ".join(f"{v:.0f}" for k, v in r["rss"].items()  # type: ignore[attr-defined]
                                               if k.startswith("worker")) for r in rows]],
        ["peak RSS MB temporal", *[f"{r['rss'].get('temporal', 0):.0f}" for r in rows]],  # type: ignore[attr-defined]
    ]
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    sep = "-|-".join("-" * w for w in widths)
    return "\n".join([fmt.format(*head), sep, *(fmt.format(*line) for line in lines)])


async def main(users: int, window: float, configs: list[str], agents: int, ramp: float) -> None:
    rows = []
    for cfg in configs:
        backend, workers = cfg.split(":")
        row = await run_config(backend, int(workers), users, window, agents, ramp)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(table(rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        asyncio.run(worker_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--window", type=float, default=120.0, help="each day's compressed window, seconds")
    parser.add_argument("--agents", type=int, default=50, help="concurrent agent activities per worker")
    parser.add_argument("--configs", nargs="+", default=["sqlite:1", "sqlite:2", "postgres:1", "postgres:2"])
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="start the days spread over this many seconds (0: all at once)")
    a = parser.parse_args()
    asyncio.run(main(a.users, a.window, a.configs, a.agents, a.ramp))
