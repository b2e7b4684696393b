"""Per-user daily spend: reserve an agent's cap before it starts, settle with the real cost after.

The reservation is one transaction that checks the day's total first, so concurrent agents of one
user can never together exceed the daily budget.
"""

from __future__ import annotations

from storage.db import Database, utcnow


class BudgetExceeded(Exception):
    """The reservation would take the user's day over budget."""


class LedgerRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reserve(self, user_id: str, day: str, entry_id: str, *, amount_usd: float, daily_cap_usd: float,
                      agent_kind: str, task_id: str | None = None) -> None:
        """Reserve ``amount_usd`` (idempotent per entry_id); raise BudgetExceeded if the day would overspend."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT 1 FROM cost_ledger WHERE entry_id = ?", (entry_id,))
            if await cur.fetchone() is not None:
                return
            cur = await conn.execute(
                "SELECT COALESCE(SUM(COALESCE(actual_usd, reserved_usd)), 0) FROM cost_ledger"
                " WHERE user_id = ? AND day = ?",
                (user_id, day),
            )
            row = await cur.fetchone()
            committed = float(row[0]) if row else 0.0
            if committed + amount_usd > daily_cap_usd + 1e-9:
                raise BudgetExceeded(
                    f"daily budget ${daily_cap_usd:.2f} would be exceeded: ${committed:.2f} committed,"
                    f" ${amount_usd:.2f} requested"
                )
            await conn.execute(
                "INSERT INTO cost_ledger(entry_id, user_id, day, task_id, agent_kind, reserved_usd, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (entry_id, user_id, day, task_id, agent_kind, amount_usd, utcnow()),
            )

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
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(actual_usd), 0) AS s FROM cost_ledger WHERE user_id = ? AND day = ?", (user_id, day)
        )
        return float(row["s"]) if row else 0.0
