"""A fake Slack OpenID Connect provider (a fake, for tests): ``openid.connect.token`` under /api/ and the
JWKS under /openid/connect/keys, on loopback. Tokens are RS256-signed with a key made per test."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeSlackOidc:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.key = new_key()
        self.kid = "fake-kid-1"
        self.codes: dict[str, str] = {}  # code -> id_token
        self.token_calls: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def id_token(self, *, user_id: str, team_id: str, nonce: str, key: rsa.RSAPrivateKey | None = None,
                 **override: Any) -> str:
        now = int(time.time())
        claims = {"iss": "https://slack.com", "sub": user_id, "aud": self.client_id, "exp": now + 300, "iat": now,
                  "nonce": nonce, "https://slack.com/user_id": user_id, "https://slack.com/team_id": team_id,
                  **override}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    async def start(self) -> FakeSlackOidc:
        app = web.Application()
        app.router.add_post("/api/openid.connect.token", self._token)
        app.router.add_get("/openid/connect/keys", self._keys)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        auth = request.headers.get("Authorization", "")
        client = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth.startswith("Basic ") else ""
        self.token_calls.append({"form": form, "client": client})
        if client != f"{self.client_id}:{self.client_secret}":
            return web.json_response({"ok": False, "error": "invalid_client"})
        token = self.codes.pop(str(form.get("code")), None)
        if token is None:
            return web.json_response({"ok": False, "error": "invalid_code"})
        return web.json_response({"ok": True, "access_token": "xoxp-fake", "token_type": "Bearer", "id_token": token})

    async def _keys(self, request: web.Request) -> web.Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return web.json_response({"keys": [jwk]})
