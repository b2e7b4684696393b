"""Sign in with Slack (OpenID Connect) for deployments with a public DAYSHIFT_PUBLIC_URL and a Slack client
id/secret: authorize -> ``openid.connect.token`` -> id_token verified against Slack's JWKS (signature,
issuer, audience, expiry, nonce, workspace)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.web.auth import same

ISSUER = "https://slack.com"
USER_CLAIM = "https://slack.com/user_id"
TEAM_CLAIM = "https://slack.com/team_id"


class OidcError(Exception):
    """Why a Sign in with Slack attempt was refused; shown to the person."""


@dataclass
class OidcStart:
    url: str
    state: str
    nonce: str


class SlackOidc:
    def __init__(self, *, client_id: str, client_secret: str, redirect_uri: str, api_url: str,
                 team_id: str | None) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.team_id = team_id
        base = api_url.rstrip("/").removesuffix("/api")
        self.authorize_url = f"{base}/openid/connect/authorize"
        self._web = AsyncWebClient(base_url=api_url if api_url.endswith("/") else api_url + "/")
        self._jwks = jwt.PyJWKClient(f"{base}/openid/connect/keys", cache_keys=True, lifespan=3600, timeout=10)

    def start(self) -> OidcStart:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = urlencode({"response_type": "code", "scope": "openid profile", "client_id": self.client_id,
                           "state": state, "nonce": nonce, "redirect_uri": self.redirect_uri,
                           **({"team": self.team_id} if self.team_id else {})})
        return OidcStart(url=f"{self.authorize_url}?{query}", state=state, nonce=nonce)

    async def finish(self, code: str, nonce: str) -> str:
        """Exchange the code and verify the id_token; returns the Slack user id."""
        if not code or len(code) > 512:
            raise OidcError("Slack sent no sign-in code back. Try again, or use /dayshift dashboard.")
        try:
            resp = await self._web.openid_connect_token(client_id=self.client_id, client_secret=self._client_secret,
                                                        code=code, redirect_uri=self.redirect_uri)
        except SlackApiError as exc:
            raise OidcError(f"Slack refused the sign-in ({exc.response.get('error', 'error')}). "
                            "Try again, or use /dayshift dashboard.") from None
        id_token = str(resp.get("id_token") or "")
        claims = await self.verify(id_token, nonce)
        user_id = str(claims.get(USER_CLAIM) or "")
        if not user_id:
            raise OidcError("Slack's answer named no user.")
        return user_id

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token, key.key, algorithms=["RS256"], audience=self.client_id, issuer=ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]})
        except jwt.PyJWTError as exc:
            raise OidcError(f"Slack's identity token did not check out ({exc}). Nothing was signed in.") from None
        if not nonce or not same(nonce, str(claims.get("nonce", ""))):
            raise OidcError("Slack's identity token belongs to another sign-in attempt. Nothing was signed in.")
        if self.team_id and claims.get(TEAM_CLAIM) != self.team_id:
            raise OidcError("That Slack account is in another workspace than this Dayshift. Nothing was signed in.")
        return claims
