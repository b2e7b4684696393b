"""The real bot (Bolt socket mode + in-process Temporal worker + real agents on the offline model)
against the fake Slack and the Temporal dev server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bot.main_run import run_bot
from bot.settings import Settings
from storage.store import Store
from tests.fakes.slack import FakeSlack


@dataclass
class Bot:
    slack: FakeSlack
    settings: Settings
    store: Store
    env: WorkflowEnvironment

    async def command(self, user: str, text: str) -> str:
        """Send `/dayshift text` as `user`; return the ephemeral reply text (after a fast ack)."""
        before = len(self.slack.responses)
        payload = self.slack.command(user, text)
        eid = await self.slack.send("slash_commands", payload)
        await self.slack.wait_ack(eid, timeout=3.0)
        reply = await self.slack.wait_for(lambda: [r for r in self.slack.responses[before:]
                                                   if r["rid"] == payload["response_url"].rsplit("/", 1)[1]],
                                          timeout=20)
        assert reply[0].get("response_type") == "ephemeral"
        blocks = reply[0].get("blocks")
        return str(reply[0]["text"]) + (("\n" + json.dumps(blocks)) if blocks else "")


@pytest.fixture
async def bot(dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    """A 14 s day; a test whose story needs more of it on a busy machine (several real CLI attempts before the
    deadline) asks for a longer one with ``@pytest.mark.window(seconds)``: the day always runs to its deadline."""
    marker = request.node.get_closest_marker("window")
    window = marker.args[0] if marker else 14
    slack = await FakeSlack().start()
    env = {"SLACK_BOT_TOKEN": "xoxb-test-token-123456", "SLACK_APP_TOKEN": "xapp-1-A1-test-654321",
           "SLACK_API_URL": slack.api_url, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "DAYSHIFT_DATA_DIR": str(tmp_path / "data"), "DAYSHIFT_WINDOW_SECONDS": str(window),
           "DAYSHIFT_CHECKPOINT_SECONDS": "4", "DAYSHIFT_WARNING_SECONDS": "2", "DAYSHIFT_DEFAULT_TIMEZONE": "UTC",
           "DAYSHIFT_MODEL": "offline"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(settings, stop))
    connected = asyncio.ensure_future(slack.wait_connected(timeout=60))
    await asyncio.wait({task, connected}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        connected.cancel()
        task.result()  # raises what stopped the bot
    await connected
    store = await Store.open(settings.database_path)
    try:
        yield Bot(slack=slack, settings=settings, store=store, env=dev_env)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await store.close()
        await slack.stop()
