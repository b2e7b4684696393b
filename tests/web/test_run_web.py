"""`dayshift run` as deployed serves the dashboard: a subprocess (embedded Temporal, offline model, real Bolt
socket-mode client against the fake Slack). The link from `/dayshift dashboard` opens it, a live event stream
stays open, and SIGTERM still stops the whole process cleanly (uvicorn does not take the bot's signals)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from bot import main_run
from bot.control import ShiftControl
from bot.settings import Settings
from bot.web.server import Dashboard
from tests.fakes.slack import FakeSlack
from tests.web.conftest import free_port, open_link

pytestmark = [pytest.mark.devserver]
BIN = Path(sys.executable).parent


@pytest.mark.timeout(180)
async def test_dayshift_run_serves_the_dashboard_and_stops_on_sigterm(tmp_path: Path) -> None:
    slack = await FakeSlack().start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    env |= {"SLACK_BOT_TOKEN": "xoxb-web-test-000", "SLACK_APP_TOKEN": "xapp-1-A1-web-000",
            "SLACK_API_URL": slack.api_url, "DAYSHIFT_DATA_DIR": str(tmp_path / "data"),
            "DAYSHIFT_TEMPORAL_UI_PORT": "0", "DAYSHIFT_WEB_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(str(BIN / "dayshift"), "run", env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await slack.wait_connected(timeout=90)
        payload = slack.command("UWEB", "dashboard")
        await slack.wait_ack(await slack.send("slash_commands", payload))
        rid = payload["response_url"].rsplit("/", 1)[1]
        [reply] = await slack.wait_for(lambda: [r for r in slack.responses if r["rid"] == rid], timeout=20)
        assert reply["response_type"] == "ephemeral"
        url = re.search(r"<(http://127\.0\.0\.1:(\d+)/auth/link\?t=[^|>]+)\|", reply["text"])
        assert url and int(url.group(2)) == port, reply["text"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            resp = await open_link(client, url.group(1))
            assert resp.status_code == 303
            resp = await client.get(resp.headers["location"])
            assert resp.status_code == 200 and "signed in as <code>UWEB</code>" in resp.text
            async with client.stream("GET", "/events") as stream:
                assert stream.status_code == 200
                lines = stream.aiter_lines()
                while "event: board" not in await asyncio.wait_for(anext(lines), timeout=20):
                    pass
                proc.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(proc.wait(), timeout=60)
        assert code == 0
        stderr = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        assert '"event": "web_started"' in stderr and '"event": "web_signed_in"' in stderr
        assert "xoxb-web-test-000" not in stderr and "/auth/link?t=" not in stderr  # no token or link in the log
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await slack.stop()


@pytest.mark.timeout(120)
async def test_a_failed_start_up_releases_the_dashboard_port(dev_env: WorkflowEnvironment, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """If anything after the dashboard's start fails (here building the Bolt app), run_bot stops the dashboard:
    the port is free again. Real dashboard and dev server; the failure is injected."""
    port = free_port()
    for key, value in {"SLACK_BOT_TOKEN": "xoxb-test-token-123456", "SLACK_APP_TOKEN": "xapp-1-A1-test-654321",
                       "SLACK_API_URL": "http://127.0.0.1:9/api/", "DAYSHIFT_DATA_DIR": str(tmp_path / "data"),
                       "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                       "DAYSHIFT_WEB_PORT": str(port)}.items():
        monkeypatch.setenv(key, value)
    started: list[int] = []
    real_start = main_run.start_dashboard

    async def start_dashboard(settings: Settings, control: ShiftControl) -> Dashboard | None:
        web = await real_start(settings, control)
        started.append(web.port if web else 0)
        return web

    def broken_app(*args: object, **kwargs: object) -> object:
        raise RuntimeError("injected: the Bolt app could not be built")

    monkeypatch.setattr(main_run, "start_dashboard", start_dashboard)
    monkeypatch.setattr(main_run, "create_app", broken_app)
    with pytest.raises(RuntimeError, match="injected"):
        await asyncio.wait_for(main_run.run_bot(Settings(), asyncio.Event()), timeout=60)
    assert started == [port]
    with socket.socket() as s:  # uvicorn let go of the port (its listening socket is closed)
        s.bind(("127.0.0.1", port))
