"""The spec's metrics from the store: success rate, tasks per day, task time, failures, delivery, cost."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.settings import Settings
from storage.store import Store


async def metrics(store: Store, days: int, today: date, user_id: str | None = None) -> dict[str, Any]:
    window = await store.stats.window((today - timedelta(days=days - 1)).isoformat(), user_id)
    runs, tasks, ledger = window.runs, window.tasks, window.daily_cost_usd
    finished_runs = [r for r in runs if r.status in ("completed", "skipped")]
    completed = [t for t in tasks if t.status == "completed"]
    failed = [t for t in tasks if t.status == "failed"]
    durations = [(datetime.fromisoformat(t.end_time) - datetime.fromisoformat(t.start_time)).total_seconds()
                 for t in completed if t.start_time and t.end_time]
    reports = [r for r in runs if r.has_report]
    day_count = len({t.day for t in tasks}) or 0
    errors = Counter((t.error_message or "unknown")[:80] for t in failed)
    return {
        "days": days,
        "workflows": len(runs),
        "workflow_success_rate": round(sum(1 for r in finished_runs if r.status == "completed") / len(runs), 3)
        if runs else None,
        "average_tasks_per_day": round(len(tasks) / day_count, 2) if day_count else None,
        "average_completion_seconds": round(sum(durations) / len(durations), 1) if durations else None,
        "failure_rate": round(len(failed) / len(tasks), 3) if tasks else None,
        "top_errors": errors.most_common(5),
        "status_delivery_success_rate": round(sum(1 for r in reports if r.report_delivered) / len(reports), 3)
        if reports else None,
        "cost_per_day_usd": round(sum(cost for _, cost in ledger) / len(ledger), 4) if ledger else None,
    }


def render_stats(m: dict[str, Any]) -> str:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.0%}"

    lines = [f"Dayshift stats, last {m['days']} days ({m['workflows']} shifts)",
             f"- Workflow success rate: {pct(m['workflow_success_rate'])}",
             f"- Average tasks per day: {m['average_tasks_per_day'] or 'n/a'}",
             f"- Average completion time per task: {m['average_completion_seconds'] or 'n/a'} s",
             f"- Failure rate: {pct(m['failure_rate'])}",
             f"- Status delivery success rate: {pct(m['status_delivery_success_rate'])}",
             f"- Cost per day: ${m['cost_per_day_usd'] or 0:.4f}",
             "- Top error types:" + ("" if m["top_errors"] else " none")]
    lines += [f"    {n}x {msg}" for msg, n in m["top_errors"]]
    return "\n".join(lines)


async def user_stats_line(store: Store, user_id: str, today: date) -> str:
    m = await metrics(store, 30, today, user_id)
    rate = "n/a" if m["failure_rate"] is None else f"{1 - m['failure_rate']:.0%}"
    cost = m["cost_per_day_usd"] or 0
    avg = m["average_completion_seconds"]
    return (f"30 days: {m['workflows']} shifts · task success {rate} · "
            f"{'n/a' if avg is None else f'{avg / 60:.1f} min'} per task · ${cost:.2f}/day")


async def collect_stats(settings: Settings, days: int) -> dict[str, Any]:
    store = await Store.open(settings.database_target)
    try:
        return await metrics(store, max(1, days), datetime.now(ZoneInfo("UTC")).date())
    finally:
        await store.close()
