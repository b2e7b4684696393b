"""The rows behind the spec's metrics (``dayshift stats``, Home, the dashboard's history): one window of
days, for one user or for everyone. The metrics themselves are computed above, from these rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.db import Database


@dataclass(frozen=True)
class RunOutcome:
    status: str
    has_report: bool
    report_delivered: bool


@dataclass(frozen=True)
class TaskOutcome:
    day: str
    status: str
    error_message: str | None
    cost_usd: float
    start_time: str | None
    end_time: str | None


@dataclass(frozen=True)
class StatsWindow:
    runs: list[RunOutcome]
    tasks: list[TaskOutcome]
    daily_cost_usd: list[tuple[str, float]]  # (day, settled cost) for each day with a ledger entry


class StatsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def window(self, since: str, user_id: str | None = None) -> StatsWindow:
        """Runs, archived tasks and settled cost of the days from ``since`` (ISO date) on; ``user_id`` None
        means every user (the operator's ``dayshift stats``)."""
        where, params = ("WHERE day >= ?", [since]) if user_id is None else (
            "WHERE day >= ? AND user_id = ?", [since, user_id])
        runs = await self.db.fetchall(
            f"SELECT status, report_json IS NOT NULL AS has_report, report_delivered FROM workflows {where}", params)
        tasks = await self.db.fetchall(
            f"SELECT day, status, error_message, cost_usd, start_time, end_time FROM task_history {where}", params)
        ledger = await self.db.fetchall(
            f"SELECT day, SUM(COALESCE(actual_usd, 0)) AS cost FROM cost_ledger {where} GROUP BY day", params)
        return StatsWindow(
            runs=[RunOutcome(str(r["status"]), bool(r["has_report"]), bool(r["report_delivered"])) for r in runs],
            tasks=[TaskOutcome(str(t["day"]), str(t["status"]), t["error_message"], _float(t["cost_usd"]),
                               t["start_time"], t["end_time"]) for t in tasks],
            daily_cost_usd=[(str(r["day"]), _float(r["cost"])) for r in ledger])


def _float(value: Any) -> float:
    return float(value or 0.0)
