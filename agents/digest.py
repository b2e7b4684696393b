"""A bounded digest of history and memory for the orchestrator's prompt.

Its size depends on fixed caps (days summarised, rows listed, characters per value), never on
how many days of history are stored, so 90 days cost the same prompt as one.
"""

from __future__ import annotations

from datetime import date, timedelta

from storage.store import Store

MAX_YESTERDAY_ROWS = 12
MAX_MEMORY_KEYS = 15
MAX_VALUE_CHARS = 200


def _clip(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def history_digest(store: Store, user_id: str, today: date) -> str:
    lines = ["Last 7 days:"]
    totals = await store.history.day_totals(user_id, 7, today - timedelta(days=1))
    if not totals:
        lines.append("- no history yet")
    for row in totals:
        avg = f"{float(str(row['avg_seconds'])) / 60:.0f} min avg" if row["avg_seconds"] else "n/a"
        lines.append(f"- {row['day']}: {row['completed']}/{row['total']} completed, {row['failed']} failed, {avg}")
    yesterday = (today - timedelta(days=1)).isoformat()
    rows = await store.history.day(user_id, yesterday)
    if rows:
        lines.append(f"Yesterday ({yesterday}):")
        for h in rows[:MAX_YESTERDAY_ROWS]:
            detail = h.error_message if h.status == "failed" else (h.output or "")
            lines.append(f"- [{h.status}] {_clip(h.description, 100)} — {_clip(detail, 100)}")
        if len(rows) > MAX_YESTERDAY_ROWS:
            lines.append(f"- … and {len(rows) - MAX_YESTERDAY_ROWS} more")
        unfinished = [h for h in rows if h.status in ("in_progress", "pending", "failed")]
        if unfinished:
            lines.append(f"Unfinished yesterday: {len(unfinished)} task(s); consider carrying them over.")
    patterns = await store.history.failure_patterns(user_id, 30, today, limit=5)
    if patterns:
        lines.append("Recurring failures (30 days):")
        lines += [f"- {p.count}x {_clip(p.error_message, 120)}" for p in patterns]
    cats = await store.history.completed_by_category(user_id, 30, today)
    if cats:
        lines.append("Completed by category (30 days): " + ", ".join(f"{c.category} {c.count}" for c in cats[:8]))
    memory = await store.memory.all(user_id, limit=MAX_MEMORY_KEYS)
    if memory:
        lines.append("Shared memory:")
        lines += [f"- {m.state_key}: {_clip(m.state_value, MAX_VALUE_CHARS)}" for m in memory]
    return "\n".join(lines)
