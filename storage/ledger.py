"""Per-user daily spend: reserve an agent's cap before it starts, settle with the real cost after.

The reservation is one transaction that checks the day first, so concurrent agents of one user can
never together exceed the daily budget. A reservation is only a hold: when holds of running agents
fill the day but money is left, a new agent waits for them to settle (most agents cost cents against
a $1 cap) or takes what remains; it is refused only when the day's money is really spent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.db import Database, utcnow

# An unsettled hold older than this belongs to an agent whose worker died mid-run: its cost is unknown but
# at most the hold, so it is counted as spent (conservative) and nobody waits for it to settle.
HOLD_LEASE_SECONDS = 1800.0
# Less than this share of an agent's cap is too little to do anything useful with.
USEFUL_SHARE = 0.1


class BudgetExceeded(Exception):
    """The day's money is really spent: no agent can start until tomorrow."""


@dataclass(frozen=True)
class DayBudget:
    """A user's day, seen from the ledger."""

    cap_usd: float
    spent_usd: float  # settled actual cost, plus holds of dead agents (their cost is unknown)
    held_usd: float  # holds of agents still running: about to settle, usually for far less

    @property
    def left_usd(self) -> float:
        """Money not yet spent (holds included, since they usually settle for cents)."""
        return max(0.0, self.cap_usd - self.spent_usd)

    @property
    def free_usd(self) -> float:
        """Money neither spent nor held right now."""
        return max(0.0, self.cap_usd - self.spent_usd - self.held_usd)


def useful_minimum(amount_usd: float, cap_usd: float) -> float:
    return min(amount_usd, cap_usd) * USEFUL_SHARE


def budget_verdict(budget: DayBudget, amount_usd: float) -> float | None:
    """The one budget rule (reservations and pre-validation use it).

    Returns what to reserve now (the full amount, or what remains when that is still useful), None when the
    agent should wait for running agents to settle; raises BudgetExceeded when the money is really spent.
    """
    floor = useful_minimum(amount_usd, budget.cap_usd)
    if budget.left_usd < floor - 1e-9:
        raise BudgetExceeded(
            f"daily budget ${budget.cap_usd:.2f} is spent: ${budget.spent_usd:.2f} used, "
            f"${budget.left_usd:.2f} left, an agent needs at least ${floor:.2f}"
        )
    if budget.free_usd >= floor - 1e-9:
        return round(min(amount_usd, budget.free_usd), 6)
    return None


class LedgerRepository:
    def __init__(self, db: Database, *, lease_seconds: float = HOLD_LEASE_SECONDS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.clock = clock

    async def budget(self, user_id: str, day: str, daily_cap_usd: float) -> DayBudget:
        stale = (self.clock() - timedelta(seconds=self.lease_seconds)).isoformat(timespec="microseconds")
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN actual_usd IS NOT NULL THEN actual_usd"
            "   WHEN created_at < ? THEN reserved_usd ELSE 0 END), 0) AS spent,"
            " COALESCE(SUM(CASE WHEN actual_usd IS NULL AND created_at >= ? THEN reserved_usd ELSE 0 END), 0)"
            " AS held FROM cost_ledger WHERE user_id = ? AND day = ?",
            (stale, stale, user_id, day),
        )
        spent, held = (float(row["spent"]), float(row["held"])) if row else (0.0, 0.0)
        return DayBudget(cap_usd=daily_cap_usd, spent_usd=spent, held_usd=held)

    async def reserve(self, user_id: str, day: str, entry_id: str, *, amount_usd: float, daily_cap_usd: float,
                      agent_kind: str, task_id: str | None = None, wait_seconds: float = 3600.0,
                      poll_seconds: float = 0.25) -> float:
        """Hold up to ``amount_usd`` for one agent run; returns the amount held (the agent's cap).

        Idempotent per ``entry_id`` (give every agent run its own). While running agents' holds fill the day,
        waits (up to ``wait_seconds``; the caller's cancellation ends it sooner) for them to settle; raises
        BudgetExceeded when the day's money is really spent.
        """
        deadline = time.monotonic() + wait_seconds
        delay = poll_seconds
        while True:
            async with self.db.transaction() as conn:
                await conn.lock("ledger", user_id, day)  # PostgreSQL: one reservation per user-day at a time
                cur = await conn.execute("SELECT reserved_usd FROM cost_ledger WHERE entry_id = ?", (entry_id,))
                existing = await cur.fetchone()
                if existing is not None:
                    return float(existing[0])
                budget = await self.budget(user_id, day, daily_cap_usd)  # same connection: inside the transaction
                amount = budget_verdict(budget, amount_usd)
                if amount is not None:
                    await conn.execute(
                        "INSERT INTO cost_ledger(entry_id, user_id, day, task_id, agent_kind, reserved_usd,"
                        " created_at) VALUES (?,?,?,?,?,?,?)",
                        (entry_id, user_id, day, task_id, agent_kind, amount, utcnow()),
                    )
                    return amount
            if time.monotonic() >= deadline:
                raise BudgetExceeded(
                    f"daily budget ${daily_cap_usd:.2f}: ${budget.held_usd:.2f} held by running agents did not "
                    f"settle within {wait_seconds:.0f} s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    async def settle(self, user_id: str, entry_id: str, *, actual_usd: float, input_tokens: int = 0,
                     output_tokens: int = 0) -> None:
        await self.db.execute(
            "UPDATE cost_ledger SET actual_usd = ?, input_tokens = ?, output_tokens = ?, settled_at = ?"
            " WHERE user_id = ? AND entry_id = ?",
            (actual_usd, input_tokens, output_tokens, utcnow(), user_id, entry_id),
        )

    async def spent(self, user_id: str, day: str) -> float:
        """Settled cost plus open reservations for the day."""
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(COALESCE(actual_usd, reserved_usd)), 0) AS s FROM cost_ledger"
            " WHERE user_id = ? AND day = ?",
            (user_id, day),
        )
        return float(row["s"]) if row else 0.0

    async def actual(self, user_id: str, day: str) -> float:
        """What the day's agent runs really cost: every run, failed attempts and advice included."""
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(actual_usd), 0) AS s FROM cost_ledger WHERE user_id = ? AND day = ?", (user_id, day)
        )
        return float(row["s"]) if row else 0.0

    async def runs(self, user_id: str, day: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM cost_ledger WHERE user_id = ? AND day = ?", (user_id, day)
        )
        return int(row["n"]) if row else 0
