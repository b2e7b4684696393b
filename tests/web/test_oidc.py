"""Sign in with Slack against a fake OpenID provider (a fake: token endpoint + JWKS on loopback); the rest is
real: the dashboard app served by uvicorn, the id_token verified with PyJWT against the served JWKS, the sessions
kept on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.web.auth import COOKIE
from bot.web.oidc import SlackOidc
from bot.web.server import Dashboard
from storage.store import Store
from tests.web.conftest import Web
from tests.web.fake_oidc import FakeSlackOidc, new_key

pytestmark = pytest.mark.devserver


@pytest.fixture
def store(any_store: Store) -> Store:
    """The ``web`` fixture's store, here on both backends (the browser tests keep SQLite)."""
    return any_store


@pytest.fixture
async def provider() -> AsyncIterator[FakeSlackOidc]:
    fake = await FakeSlackOidc("123.456", "s3cret-client").start()
    try:
        yield fake
    finally:
        await fake.stop()


async def test_sign_in_with_slack_checks_the_id_token(web: Web, provider: FakeSlackOidc) -> None:
    oidc = SlackOidc(client_id="123.456", client_secret="s3cret-client", api_url=provider.api_url, team_id="T1",
                     redirect_uri="https://dayshift.example.com/auth/slack/callback")
    dash = await Dashboard(web.control, host="127.0.0.1", port=0, public_url=None, oidc=oidc).start()
    try:
        base = dash.base_url
        web_o = Web(dash=dash, control=web.control, store=web.store)
        assert "Sign in with Slack" in (await web_o.client().get("/")).text

        async def begin() -> tuple[httpx.AsyncClient, str, str]:
            client = web_o.client()
            resp = await client.get("/auth/slack")
            assert resp.status_code == 302
            url = urlsplit(resp.headers["location"])
            assert url.geturl().startswith(provider.api_url.removesuffix("api/") + "openid/connect/authorize?")
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            assert q["client_id"] == "123.456" and q["scope"] == "openid profile" and q["team"] == "T1"
            assert q["redirect_uri"] == "https://dayshift.example.com/auth/slack/callback"
            return client, q["state"], q["nonce"]

        # The good path: Slack redirects back with a code; the token is verified; a session opens for UA.
        client, state, nonce = await begin()
        provider.codes["good"] = provider.id_token(user_id="UA", team_id="T1", nonce=nonce)
        resp = await client.get("/auth/slack/callback", params={"code": "good", "state": state})
        assert resp.status_code == 303 and COOKIE in resp.cookies, resp.text[-500:]
        assert "signed in as <code>UA</code>" in (await client.get("/")).text
        assert provider.token_calls[-1]["form"]["redirect_uri"] == oidc.redirect_uri

        # Each bad answer is refused with its reason, and opens no session.
        other_key = new_key()
        cases = [
            ({"nonce": "x"}, "another sign-in attempt"),
            ({"key": other_key}, "did not check out"),
            ({"aud": "999.999"}, "did not check out"),
            ({"iss": "https://evil.example"}, "did not check out"),
            ({"exp": int(time.time()) - 60}, "did not check out"),
            ({"team_id": "T2"}, "another workspace"),
        ]
        for override, expected in cases:
            client, state, nonce = await begin()
            args = {"user_id": "UB", "team_id": "T1", "nonce": nonce} | override
            provider.codes["c"] = provider.id_token(**args)  # type: ignore[arg-type]
            resp = await client.get("/auth/slack/callback", params={"code": "c", "state": state})
            assert resp.status_code == 400 and expected in resp.text, (override, resp.text[-400:])
            assert COOKIE not in resp.cookies
        client, state, nonce = await begin()
        resp = await client.get("/auth/slack/callback", params={"code": "c", "state": "forged"})
        assert resp.status_code == 400 and "does not match this browser" in resp.text
        for bad_state in ("é", state[:-1] + "é"):  # non-ASCII: the same clear refusal, not a crash
            client, state, nonce = await begin()
            resp = await client.get("/auth/slack/callback", params={"code": "c", "state": bad_state})
            assert resp.status_code == 400 and "does not match this browser" in resp.text, resp.text[-300:]
        client, state, nonce = await begin()
        sealed = client.cookies.get("dayshift_oidc") or ""
        resp = await web_o.client().get("/auth/slack/callback", params={"code": "c", "state": state},
                                        headers={"Cookie": f"dayshift_oidc={sealed[:-1]}é".encode()})  # type: ignore[dict-item]
        assert resp.status_code == 400 and "does not match this browser" in resp.text, resp.text[-300:]
        resp = await web_o.client().get("/auth/slack/callback", params={"code": "c", "state": state})
        assert resp.status_code == 400 and "does not match this browser" in resp.text  # another browser
        resp = await client.get("/auth/slack/callback", params={"code": "unknown", "state": state})
        assert resp.status_code == 400 and "Slack refused the sign-in (invalid_code)" in resp.text
        client, state, nonce = await begin()
        resp = await client.get("/auth/slack/callback", params={"error": "access_denied", "state": state})
        assert resp.status_code == 400 and "did not finish (access_denied)" in resp.text
        rows = await web.store.db.fetchall("SELECT user_id FROM web_sessions")
        assert [r["user_id"] for r in rows] == ["UA"]
        assert base
    finally:
        await dash.stop()

    # Without a client id/secret the routes say how to sign in instead.
    resp = await web.client().get("/auth/slack")
    assert resp.status_code == 404 and "/dayshift dashboard" in resp.text
