"""Agent benchmark: the real SDK + bundled CLI against the offline model.

Prints CLI start-up time (connect -> init message), a whole executor run, peak RSS of the CLI
process tree per agent, and the planning prompt size with 1 vs 90 days of history (the digest is
bounded, so the ratio should stay near 1).
Then the OS sandbox's cost: a compute executor (one Bash command) with the sandbox (bubblewrap) and
without it (the sandbox block removed; bench only, the product never runs Bash unsandboxed).
Usage: python bench/agent_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import psutil

from agents.contracts import ExecRequest, PlanRequest
from agents.offline import OfflineModel
from agents.runtime import AgentConfig, ClaudeAgentRuntime
from agents.sandbox import sandbox_problem
from agents.supervision import AgentMonitor
from storage.store import Store

DAY = "2026-11-28"


def cli_tree_rss() -> int:
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            if "claude" in " ".join(child.cmdline()[:2]):
                total += child.memory_info().rss
        except psutil.Error:
            continue
    return total


async def sample_peak(stop: asyncio.Event, peaks: list[int]) -> None:
    peak = 0
    while not stop.is_set():
        peak = max(peak, cli_tree_rss())
        await asyncio.sleep(0.02)
    peaks.append(peak)


async def fill_history(store: Store, user: str, days: int) -> None:
    today = date.fromisoformat(DAY)
    for d in range(days):
        day = (today - timedelta(days=d + 1)).isoformat()
        wf = f"day-{user}-{day}"
        for k in range(6):
            await store.tasks.create(user, f"history task {k} of {day} with a reasonably long description",
                                     generated_by="orchestrator", workflow_id=wf, category=f"cat{k % 3}")
        await store.history.archive_day(user, wf, day)
    for k in range(10):  # the same shared memory in every case: only the length of history varies
        await store.memory.set(user, f"note-{k}", "x" * 500, "bench")


class UnsandboxedRuntime(ClaudeAgentRuntime):
    """For measuring only: the same runtime without the sandbox block in the CLI settings."""

    def _sandbox(self, *args: object) -> None:  # type: ignore[override]
        return None


async def timed_runs(rt: ClaudeAgentRuntime, runs: int, caps: list[str], tag: str) -> tuple[list[float], list[float]]:
    startups, totals = [], []
    for i in range(runs):
        monitor = AgentMonitor(lambda *_: None, interval=0.5)
        t0 = time.perf_counter()
        first: list[float] = []
        orig = monitor.set_session

        def on_session(sid: str, _orig=orig, _first=first, _t0=t0) -> None:
            if not _first:
                _first.append(time.perf_counter() - _t0)
            _orig(sid)

        monitor.set_session = on_session  # type: ignore[method-assign]
        req = ExecRequest(user_id="UB", workflow_id="w", day=DAY, task_id=str(uuid.uuid4()), short_id=f"{tag}{i}",
                          description="Compute a number", capabilities=caps,
                          deadline="2099-01-01T00:00:00+00:00", warn_at="2099-01-01T00:00:00+00:00")
        result = await rt.run_task(req, monitor)
        assert result.artifacts == ["artifact.txt"], result
        totals.append(time.perf_counter() - t0)
        startups.append(first[0] if first else float("nan"))
    return startups, totals


async def sandbox_cost(tmp: str, base_url: str, runs: int) -> None:
    problem = await sandbox_problem()
    if problem:
        print(f"sandbox cost: not measured ({problem})")
        return
    store = await Store.open(Path(tmp) / "sandbox.db")
    results = {}
    for label, cls in (("with sandbox", ClaudeAgentRuntime), ("without sandbox", UnsandboxedRuntime)):
        rt = cls(store, AgentConfig(data_dir=Path(tmp) / f"data-{label[:4]}", base_url=base_url, api_key="offline",
                                    daily_budget_usd=1000))
        await timed_runs(rt, 1, ["compute"], "w")  # warm-up (first CLI start reads the binary from disk)
        results[label] = await timed_runs(rt, runs, ["compute"], label[:2])
        await rt.aclose()
    await store.close()
    print(f"OS sandbox cost, compute executor (one Bash command), {runs} runs each:")
    for label, (startups, totals) in results.items():
        print(f"  {label:16s} start-up median {statistics.median(startups):.2f}s, "
              f"whole run median {statistics.median(totals):.2f}s (max {max(totals):.2f}s)")
    (s_with, t_with), (s_wo, t_wo) = results["with sandbox"], results["without sandbox"]
    print(f"  difference: start-up {statistics.median(s_with) - statistics.median(s_wo):+.2f}s, "
          f"whole run {statistics.median(t_with) - statistics.median(t_wo):+.2f}s")


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "b.db")
        async with OfflineModel() as model:
            rt = ClaudeAgentRuntime(store, AgentConfig(data_dir=Path(tmp) / "data", base_url=model.base_url,
                                                       api_key="offline", daily_budget_usd=1000))
            startups, totals, peaks = [], [], []
            for i in range(runs):
                stop = asyncio.Event()
                sampler = asyncio.ensure_future(sample_peak(stop, peaks))
                monitor = AgentMonitor(lambda *_: None, interval=0.5)
                t0 = time.perf_counter()
                first_event: list[float] = []
                orig_set = monitor.set_session

                def on_session(sid: str, _orig=orig_set, _first=first_event, _t0=t0) -> None:
                    if not _first:
                        _first.append(time.perf_counter() - _t0)
                    _orig(sid)

                monitor.set_session = on_session  # type: ignore[method-assign]
                req = ExecRequest(user_id="UB", workflow_id="w", day=DAY, task_id=str(uuid.uuid4()), short_id=f"b{i}",
                                  description="Write a short note", capabilities=["files"],
                                  deadline="2099-01-01T00:00:00+00:00", warn_at="2099-01-01T00:00:00+00:00")
                await rt.run_task(req, monitor)
                totals.append(time.perf_counter() - t0)
                startups.append(first_event[0] if first_event else float("nan"))
                stop.set()
                await sampler
            mb = [p / 2**20 for p in peaks]
            print(f"executor runs: {runs}")
            print(f"  CLI start-up (connect -> init): median {statistics.median(startups):.2f}s, "
                  f"max {max(startups):.2f}s")
            print(f"  whole executor run (5 model turns + tools): median {statistics.median(totals):.2f}s")
            print(f"  peak RSS of the CLI process tree per agent: median {statistics.median(mb):.0f} MB, "
                  f"max {max(mb):.0f} MB")

            sizes = {}
            for days in (1, 7, 30, 90):
                user = f"UP{days}"
                await store.users.ensure(user)
                await fill_history(store, user, days)
                model.requests.clear()
                await rt.plan_day(PlanRequest(user_id=user, workflow_id=f"day-{user}-{DAY}", day=DAY,
                                              now=f"{DAY}T08:00:00+00:00", deadline=f"{DAY}T11:00:00+00:00"))
                first = next(r for r in model.requests if r["role"] == "plan")
                sizes[days] = (first["prompt_chars"], first["body_bytes"])
            print("planning prompt with history of:")
            for days, (chars, body) in sizes.items():
                print(f"  {days:2d} day(s): prompt {chars:,} chars, request body {body:,} bytes")
            print(f"  ratio 90d/1d: prompt {sizes[90][0] / sizes[1][0]:.2f}, body {sizes[90][1] / sizes[1][1]:.2f}")
            await rt.aclose()
            await sandbox_cost(tmp, model.base_url, runs)
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
