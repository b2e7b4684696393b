"""Load benchmark: N users' compressed days at once on the Temporal dev server, with the real SDK + CLI on
the offline model and the real SlackNotifier against the fake Slack.

Prints wall time, tasks per minute, peak RSS of the worker process and its agent CLIs, Slack calls made,
and checks that every report was delivered. Memory should be bounded by the worker's agent cap
(DAYSHIFT_MAX_CONCURRENT_AGENTS), not grow with N.
Usage: python bench/day_bench.py [--users 10 50 100] [--agents 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.offline import OfflineModel
from agents.runtime import AgentConfig, ClaudeAgentRuntime
from bot.slack_client import web_client
from bot.slack_notifier import SlackNotifier
from storage.store import Store
from tests.fakes.slack import FakeSlack
from workflows.activities import ShiftActivities
from workflows.models import DayInput
from workflows.schedules import start_day_now
from workflows.worker import build_worker


def tree_rss() -> tuple[int, int]:
    me = psutil.Process()
    clis = 0
    for child in me.children(recursive=True):
        try:
            if "claude" in " ".join(child.cmdline()[:2]):
                clis += child.memory_info().rss
        except psutil.Error:
            continue
    return me.memory_info().rss, clis


async def sampler(stop: asyncio.Event, out: dict[str, int]) -> None:
    while not stop.is_set():
        worker, clis = tree_rss()
        out["worker"] = max(out.get("worker", 0), worker)
        out["clis"] = max(out.get("clis", 0), clis)
        out["total"] = max(out.get("total", 0), worker + clis)
        await asyncio.sleep(0.2)


async def run(users: int, agents: int) -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
                                                data_converter=pydantic_data_converter,
                                                dev_server_log_level="error")
    slack = await FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        async with OfflineModel() as model:
            runtime = ClaudeAgentRuntime(store, AgentConfig(data_dir=Path(tmp), base_url=model.base_url,
                                                            api_key="offline", max_concurrent=agents,
                                                            daily_budget_usd=100))
            notifier = SlackNotifier(web_client("xoxb-bench", slack.api_url), store)
            acts = ShiftActivities(store, runtime, notifier, stale_after=600)
            window = max(60.0, users * 2.4)
            peaks: dict[str, int] = {}
            stop = asyncio.Event()
            sample = asyncio.ensure_future(sampler(stop, peaks))
            async with build_worker(env.client, acts, max_concurrent_agents=agents):
                t0 = time.perf_counter()
                handles = [await start_day_now(env.client, DayInput(
                    user_id=f"L{u:03d}", day="2026-11-28", window_seconds=window, checkpoint_seconds=window / 6,
                    warning_seconds=window / 20, heartbeat_timeout_seconds=30, retry_initial_seconds=1,
                    retry_max_seconds=5)) for u in range(users)]
                reports = await asyncio.gather(*(h.result() for h in handles))
                wall = time.perf_counter() - t0
            stop.set()
            await sample
        await store.close()
    done = sum(len(r.completed) for r in reports)
    total = sum(r.total_generated for r in reports)
    posted = [c for c in slack.called("chat.postMessage") if "Daily Task Summary" in json.dumps(c.get("blocks", ""))]
    methods = Counter(m for m, _ in slack.calls)
    print(f"N={users:3d}: window {window:.0f}s, wall {wall:.0f}s, {done}/{total} tasks completed "
          f"({done / (wall / 60):.0f} tasks/min, agent cap {agents}); reports delivered {len(posted)}/{users}; "
          f"peak RSS worker {peaks['worker'] / 2**20:.0f} MB + CLIs {peaks['clis'] / 2**20:.0f} MB "
          f"= {peaks['total'] / 2**20:.0f} MB; Slack calls {sum(methods.values())} "
          f"({', '.join(f'{k} {v}' for k, v in methods.most_common(4))})")
    assert len(posted) == users, "not every report was delivered"
    await slack.stop()
    await env.shutdown()


async def main(user_counts: list[int], agents: int) -> None:
    for n in user_counts:
        await run(n, agents)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--agents", type=int, default=4)
    a = parser.parse_args()
    asyncio.run(main(a.users, a.agents))
