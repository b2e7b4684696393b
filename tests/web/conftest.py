"""Dashboard fixtures: the real app served by uvicorn in the test's loop (the same Dashboard class
``dayshift run`` uses), a real SQLite Store and ShiftControl on the Temporal dev server."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright
from temporalio.testing import WorkflowEnvironment

from bot.control import ShiftControl
from bot.main_run import run_bot
from bot.settings import Settings
from bot.web.auth import COOKIE
from bot.web.server import Dashboard
from storage.store import Store
from tests.bot.conftest import Bot
from tests.conftest import queue
from tests.fakes.slack import FakeSlack


@dataclass
class Web:
    dash: Dashboard
    control: ShiftControl
    store: Store

    @property
    def url(self) -> str:
        return self.dash.base_url

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, follow_redirects=False, timeout=20)

    async def signed_in(self, user_id: str) -> httpx.AsyncClient:
        """A client that opened a fresh link for ``user_id`` (so it holds that user's session cookie)."""
        client = self.client()
        resp = await open_link(client, self.dash.link_for(user_id))
        assert resp.status_code == 303 and COOKIE in resp.cookies, resp.text[:300]
        return client


async def open_link(client: httpx.AsyncClient, link: str) -> httpx.Response:
    """What a person does with the link: open it (a page that only asks), then press Continue (the POST
    that redeems it)."""
    page = await client.get(link)
    assert page.status_code == 200 and "Continue as" in page.text, page.text[-400:]
    token = re.search(r'name="t" value="([^"]+)"', page.text)
    assert token, "no token field on the Continue page"
    return await client.post(link.split("?", 1)[0], data={"t": token.group(1)})


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


@pytest.fixture
async def web(dev_env: WorkflowEnvironment, store: Store) -> AsyncIterator[Web]:
    settings = Settings()
    control = ShiftControl(store, dev_env.client, settings, task_queue=queue())
    dash = await Dashboard(control, host="127.0.0.1", port=0, public_url=None).start()
    try:
        yield Web(dash=dash, control=control, store=store)
    finally:
        await dash.stop()


# ---- the browser: Debian's chromium driven by Playwright (no browser download) --------------------------

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = os.environ.get("DAYSHIFT_SCREENSHOT_DIR")  # read at import: the autouse fixture clears DAYSHIFT_*
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def screens() -> Path:
    """Where browser tests save screenshots (printed): $DAYSHIFT_SCREENSHOT_DIR, else a folder under the system's
    temporary directory that pytest's tmp_path rotation does not remove."""
    folder = Path(SCREENSHOT_DIR or Path(tempfile.gettempdir()) / "dayshift-screens")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def require_chromium(path: str = CHROMIUM) -> None:
    """Browser tests skip, saying why, on a machine without Debian's chromium (CI installs it when root)."""
    if not Path(path).exists():
        pytest.skip(f"browser test skipped: {path} is missing; install it with `apt-get install -y chromium` "
                    "(`make install` and .ci/run do that when run as root)")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def web_bot(dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bot]:
    """``run_bot`` as ``dayshift run`` runs it (fake Slack, dev server, offline model) with the dashboard on,
    and a window long enough to watch: 45 s, checkpoints every 10 s, the warning 8 s before the deadline."""
    slack = await FakeSlack().start()
    env = {"SLACK_BOT_TOKEN": "xoxb-test-token-123456", "SLACK_APP_TOKEN": "xapp-1-A1-test-654321",
           "SLACK_API_URL": slack.api_url, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "DAYSHIFT_DATA_DIR": str(tmp_path / "data"), "DAYSHIFT_WINDOW_SECONDS": "45",
           "DAYSHIFT_CHECKPOINT_SECONDS": "10", "DAYSHIFT_WARNING_SECONDS": "8", "DAYSHIFT_DEFAULT_TIMEZONE": "UTC",
           "DAYSHIFT_WEB_PORT": str(free_port())}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(settings, stop))
    connected = asyncio.ensure_future(slack.wait_connected(timeout=60))
    await asyncio.wait({task, connected}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        connected.cancel()
        task.result()
    await connected
    store = await Store.open(settings.database_path)
    try:
        yield Bot(slack=slack, settings=settings, store=store, env=dev_env)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await store.close()
        await slack.stop()
