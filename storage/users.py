"""Users and their shift settings."""

from __future__ import annotations

from storage.db import Database, utcnow
from storage.models import User


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: str) -> User | None:
        row = await self.db.fetchone("SELECT * FROM users WHERE user_id = ?", (user_id,))
        return User.model_validate(dict(row)) if row else None

    async def ensure(self, user_id: str, **defaults: object) -> User:
        """The user's row, created with ``defaults`` on first sight."""
        existing = await self.get(user_id)
        if existing is not None:
            return existing
        return await self.save(User.model_validate({"user_id": user_id, **defaults}))

    async def save(self, user: User) -> User:
        now = utcnow()
        await self.db.execute(
            "INSERT INTO users(user_id, email, display_name, timezone, preferred_start_time, slack_channel,"
            " paused, daily_budget_usd, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(user_id) DO UPDATE SET email = excluded.email, display_name = excluded.display_name,"
            " timezone = excluded.timezone, preferred_start_time = excluded.preferred_start_time,"
            " slack_channel = excluded.slack_channel, paused = excluded.paused,"
            " daily_budget_usd = excluded.daily_budget_usd, updated_at = excluded.updated_at",
            (user.user_id, user.email, user.display_name, user.timezone, user.preferred_start_time,
             user.slack_channel, int(user.paused), user.daily_budget_usd, now, now),
        )
        return user

    async def all(self) -> list[User]:
        rows = await self.db.fetchall("SELECT * FROM users ORDER BY user_id")
        return [User.model_validate(dict(r)) for r in rows]
