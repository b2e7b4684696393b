"""Storage benchmark: 90 days x 1,000 users x 6 tasks of history, then the spec's history queries.

Prints p50/p95/max milliseconds for: last 7 days of a user, completed by category (30 days),
failure patterns (30 days), and a pending-task lookup. Target: each under 20 ms.
Usage: python bench/storage_bench.py [--users 1000] [--days 90] [--per-day 6] [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

from storage.store import Store

CATEGORIES = ["docs", "planning", "analysis", "research", "quality", "maintenance"]
ERRORS = ["model API error 529: overloaded", "agent timed out", "permission denied: tool not in profile", None]


async def fill(store: Store, users: int, days: int, per_day: int, today: date) -> int:
    rows = []
    rng = random.Random(7)
    for u in range(users):
        user = f"U{u:05d}"
        for d in range(days):
            day = (today - timedelta(days=d + 1)).isoformat()
            for k in range(per_day):
                status = rng.choices(["completed", "failed", "in_progress", "pending"], [70, 15, 10, 5])[0]
                err = rng.choice(ERRORS[:3]) if status == "failed" else None
                tid = f"{user}-{day}-{k}"
                rows.append((tid, user, day, tid[-6:], f"{day}T08:00:00+00:00", "orchestrator", None,
                             f"task {k} of {day}", "[]", rng.choice(CATEGORIES), status, f"{day}T08:05:00+00:00",
                             f"{day}T08:{10 + k:02d}:00+00:00", "output", err, 0, f"day-{user}-{day}", 100, 0.01, 100,
                             20, f"{day}T11:00:00+00:00"))
    await store.db.executemany(
        "INSERT INTO task_history(task_id, user_id, day, short_id, created_at, generated_by, assigned_to, description,"
        " capabilities, category, status, start_time, end_time, output, error_message, retry_count, workflow_id,"
        " progress, cost_usd, input_tokens, output_tokens, archived_at)"
        f" VALUES ({','.join('?' * 22)})", rows)
    for u in range(0, users, 10):  # some live pending tasks too
        for k in range(3):
            await store.tasks.create(f"U{u:05d}", f"pending {k}", generated_by="user")
    return len(rows)


async def timed(samples: int, fn: Callable[[str], Awaitable[object]], users: int) -> list[float]:
    rng = random.Random(11)
    out = []
    for _ in range(samples):
        user = f"U{rng.randrange(users):05d}"
        start = time.perf_counter()
        await fn(user)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def main(users: int, days: int, per_day: int, samples: int) -> None:
    today = date(2026, 11, 28)
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        for u in range(users):
            await store.users.ensure(f"U{u:05d}")
        t0 = time.perf_counter()
        n = await fill(store, users, days, per_day, today)
        print(f"filled {n:,} history rows ({users} users x {days} days x {per_day}) in {time.perf_counter() - t0:.1f}s")
        await store.db.execute("ANALYZE")
        queries: dict[str, Callable[[str], Awaitable[object]]] = {
            "last 7 days (all tasks)": lambda u: store.history.last_days(u, 7, today),
            "completed by category (30d)": lambda u: store.history.completed_by_category(u, 30, today),
            "failure patterns (30d)": lambda u: store.history.failure_patterns(u, 30, today),
            "pending-task lookup": lambda u: store.tasks.pending_unassigned(u),
        }
        print(f"{'query':32s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}  target <20 ms")
        for name, fn in queries.items():
            ms = await timed(samples, fn, users)
            p95 = statistics.quantiles(ms, n=20)[18]
            verdict = "ok" if p95 < 20 else "SLOW"
            print(f"{name:32s} {statistics.median(ms):8.2f} {p95:8.2f} {max(ms):8.2f}  {verdict}")
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=6)
    parser.add_argument("--samples", type=int, default=200)
    a = parser.parse_args()
    asyncio.run(main(a.users, a.days, a.per_day, a.samples))
