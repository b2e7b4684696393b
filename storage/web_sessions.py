"""The dashboard's sign-in state: used link nonces and open sessions.

A sign-in link is signed by the web layer and carries its own expiry; what only the database can know is
whether its nonce was used already, so a link works once even if it was copied. Sessions are kept by the
SHA-256 of their token (the caller hashes it), so a copy of the database opens no session. Expired rows are
deleted on the next write of the same kind, which keeps both tables small without a background job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.db import Database

# A used nonce is kept until its link has expired plus this margin; after that the link's signed expiry
# refuses it anyway, so the row is no longer needed.
NONCE_MARGIN = timedelta(seconds=60)


def _iso(at: datetime) -> str:
    """UTC, microseconds: the stored times are compared as text, so they must all have this one shape."""
    if at.tzinfo is None:
        raise ValueError("web session times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class WebSessionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- single-use link nonces ------------------------------------------------------------------

    async def link_used(self, nonce: str) -> bool:
        """Whether a link with this nonce was redeemed already (by anyone: a nonce belongs to one link)."""
        return await self.db.fetchone("SELECT 1 FROM web_link_nonces WHERE nonce = ?", (nonce,)) is not None

    async def use_link(self, nonce: str, user_id: str, *, now: datetime, expires_at: datetime) -> bool:
        """Burn the nonce; True only for the first caller, so two requests racing with one link open one
        session. Also forgets nonces whose links expired more than ``NONCE_MARGIN`` ago."""
        used = await self.db.execute(
            "INSERT INTO web_link_nonces(nonce, user_id, used_at, expires_at) VALUES (?,?,?,?)"
            " ON CONFLICT(nonce) DO NOTHING", (nonce, user_id, _iso(now), _iso(expires_at)))
        if used == 0:
            return False
        await self.db.execute("DELETE FROM web_link_nonces WHERE expires_at < ?", (_iso(now - NONCE_MARGIN),))
        return True

    # ---- sessions ----------------------------------------------------------------------------------

    async def open(self, session_hash: str, user_id: str, *, now: datetime, expires_at: datetime) -> None:
        """Record a session (and forget the ones that have expired)."""
        await self.db.execute(
            "INSERT INTO web_sessions(session_hash, user_id, created_at, expires_at) VALUES (?,?,?,?)",
            (session_hash, user_id, _iso(now), _iso(expires_at)))
        await self.db.execute("DELETE FROM web_sessions WHERE expires_at < ?", (_iso(now),))

    async def user_of(self, session_hash: str, *, now: datetime) -> str | None:
        """The user a live session belongs to; None for an unknown, closed or expired one."""
        row = await self.db.fetchone("SELECT user_id FROM web_sessions WHERE session_hash = ? AND expires_at > ?",
                                     (session_hash, _iso(now)))
        return str(row["user_id"]) if row else None

    async def close(self, session_hash: str) -> None:
        await self.db.execute("DELETE FROM web_sessions WHERE session_hash = ?", (session_hash,))
