"""Unit tests of the dashboard's pieces without a server: token comparison, Sign in with Slack's start-up
decision, and the browser tests' skip on a machine without chromium."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.web.auth import Session, WebAuth
from bot.web.server import slack_sign_in
from tests.web.conftest import free_port, require_chromium


class _NoDb:
    """unseal and csrf_ok never touch the database; anything that did would fail loudly here."""


def test_non_ascii_tokens_are_refused_not_raised() -> None:
    auth = WebAuth(_NoDb(), b"k" * 32)  # type: ignore[arg-type]
    sealed = auth.seal("state|nonce")
    payload, sig = sealed.split(".")
    assert auth.unseal(sealed) == "state|nonce"
    for bad in (f"{payload}.é", f"{payload}.{sig[:-1]}é", "é.é", f"é{payload}.{sig}"):
        assert auth.unseal(bad) is None, bad
    session = Session(user_id="UA", token="t" * 43)
    assert session.csrf_ok(session.csrf)
    for bad in ("é", session.csrf[:-1] + "é", "\udcff", ""):
        assert not session.csrf_ok(bad), bad


def test_browser_tests_skip_with_a_reason_without_chromium(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="is missing; install it with `apt-get install -y chromium`"):
        require_chromium(str(tmp_path / "no-chromium"))


def _settings(monkeypatch: pytest.MonkeyPatch, public_url: str, api_url: str) -> Settings:
    for key, value in {"DAYSHIFT_PUBLIC_URL": public_url, "SLACK_CLIENT_ID": "123.456",
                       "SLACK_CLIENT_SECRET": "s3cret-client-xyz", "SLACK_BOT_TOKEN": "xoxb-unit-0001",
                       "SLACK_APP_TOKEN": "xapp-1-A1-unit-0001", "SLACK_API_URL": api_url}.items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:8080", "https://LOCALHOST",
                                 "http://[::1]:8080", "http://127.1.2.3", "https://dayshift.localhost"])
async def test_sign_in_with_slack_stays_off_for_a_loopback_public_url(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, url: str) -> None:
    settings = _settings(monkeypatch, url, f"http://127.0.0.1:{free_port()}/api/")
    with caplog.at_level(logging.INFO, logger="bot.web.server"):
        assert await slack_sign_in(settings) is None
    assert any("not public" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


async def test_unreachable_slack_does_not_stop_start_up(monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(monkeypatch, "https://dayshift.example.com", f"http://127.0.0.1:{free_port()}/api/")
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot.web.server"):
        assert await slack_sign_in(settings) is None  # off for this run, said in the log; start-up goes on
    assert time.monotonic() - start < 30
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "Sign in with Slack is off" in warning.getMessage()
    assert "s3cret-client-xyz" not in caplog.text and "xoxb-unit-0001" not in caplog.text
