"""Shared fixtures. Environment variables that could leak real credentials or proxies are cleared."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from storage.store import Store

_SCRUB = (
    "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
    "TEMPORAL_ADDRESS",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SCRUB:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("DAYSHIFT_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:  # type: ignore[no-untyped-def]
    s = await Store.open(tmp_path / "dayshift.db")
    try:
        yield s
    finally:
        await s.close()
