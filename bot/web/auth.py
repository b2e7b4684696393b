"""Sign-in without a public URL: a personal link from ``/dayshift dashboard`` (HMAC-signed, single use,
10 minutes) becomes a server-side session; forms carry a CSRF token derived from the session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.web_sessions import WebSessionRepository

LINK_TTL_SECONDS = 600
SESSION_TTL_SECONDS = 12 * 3600
COOKIE = "dayshift_session"
_MAX_TOKEN = 512


class LinkError(Exception):
    """Why a sign-in link was refused; shown to the person who opened it."""


def _used() -> LinkError:
    return LinkError("This sign-in link was already used; each link works once. "
                     "Ask for a new one with /dayshift dashboard in Slack.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(expected: str, sent: str) -> bool:
    """Constant-time comparison of a token we made with one a client sent. Bytes, because
    ``hmac.compare_digest`` raises TypeError on non-ASCII str (a 500 for a typed "é")"""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), sent.encode("utf-8", "surrogatepass"))


@dataclass
class Session:
    user_id: str
    token: str

    @property
    def csrf(self) -> str:
        """Bound to the session token, which pages from other sites cannot read (HttpOnly cookie)."""
        return hmac.new(self.token.encode(), b"dayshift-csrf", hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and same(self.csrf, str(sent))


class WebAuth:
    """Issues and redeems sign-in links and keeps sessions. ``clock`` is injectable for expiry tests."""

    def __init__(self, sessions: WebSessionRepository, secret: bytes, *,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 32:
            raise ValueError("the web secret must be at least 32 bytes")
        self.sessions = sessions
        self._secret = secret
        self.clock = clock

    # ---- links ---------------------------------------------------------------------------------------

    def _sign(self, payload: str, purpose: bytes = b"dayshift-link|") -> str:
        return _b64(hmac.new(self._secret, purpose + payload.encode(), hashlib.sha256).digest())

    def seal(self, value: str, ttl: float = LINK_TTL_SECONDS) -> str:
        """A short-lived signed value for a cookie (the Sign in with Slack state and nonce)."""
        payload = _b64(f"{int(self.clock() + ttl)}|{value}".encode())
        return f"{payload}.{self._sign(payload, b'dayshift-seal|')}"

    def unseal(self, token: str | None) -> str | None:
        if not token or len(token) > _MAX_TOKEN or token.count(".") != 1:
            return None
        payload, sig = token.split(".")
        if not same(self._sign(payload, b"dayshift-seal|"), sig):
            return None
        try:
            expires, value = _unb64(payload).decode().split("|", 1)
            return value if self.clock() <= int(expires) else None
        except (ValueError, UnicodeDecodeError):
            return None

    def issue(self, user_id: str, *, issued_at: float | None = None) -> str:
        """A token for ``/auth/link?t=...``: user, expiry and a fresh nonce, signed."""
        expires = int((issued_at if issued_at is not None else self.clock()) + LINK_TTL_SECONDS)
        payload = _b64(f"{user_id}|{expires}|{secrets.token_urlsafe(16)}".encode())
        return f"{payload}.{self._sign(payload)}"

    async def check(self, token: str) -> str:
        """The user a link signs in, without using it up: what opening the link (GET) shows. Raises LinkError."""
        user_id, _, nonce = self._verify(token)
        if await self.sessions.link_used(nonce):
            raise _used()
        return user_id

    async def redeem(self, token: str) -> Session:
        """Check the signature and expiry, burn the nonce, open a session. Raises LinkError."""
        user_id, expires, nonce = self._verify(token)
        if not await self.sessions.use_link(nonce, user_id, now=_at(self.clock()), expires_at=_at(expires)):
            raise _used()
        return await self.open_session(user_id)

    def _verify(self, token: str) -> tuple[str, int, str]:
        """(user, expiry, nonce) of a link whose signature checks out and which has not expired."""
        invalid = LinkError("This sign-in link is not valid: it was changed, cut short, or issued before Dayshift "
                            "restarted. Ask for a new one with /dayshift dashboard in Slack.")
        token = (token or "").strip()
        if not token or len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise invalid
        payload, sig = token.split(".")
        if not same(self._sign(payload), sig):
            raise invalid
        try:
            user_id, expires_s, nonce = _unb64(payload).decode().split("|")
            expires = int(expires_s)
        except (ValueError, UnicodeDecodeError):
            raise invalid from None
        if self.clock() > expires:
            raise LinkError("This sign-in link has expired (links last 10 minutes). "
                            "Ask for a new one with /dayshift dashboard in Slack.")
        return user_id, expires, nonce

    # ---- sessions ------------------------------------------------------------------------------------

    async def open_session(self, user_id: str) -> Session:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        await self.sessions.open(_hash(token), user_id, now=_at(now), expires_at=_at(now + SESSION_TTL_SECONDS))
        return Session(user_id=user_id, token=token)

    async def session(self, token: str | None) -> Session | None:
        if not token or len(token) > _MAX_TOKEN:
            return None
        user_id = await self.sessions.user_of(_hash(token), now=_at(self.clock()))
        return Session(user_id=user_id, token=token) if user_id is not None else None

    async def close_session(self, token: str) -> None:
        await self.sessions.close(_hash(token))
