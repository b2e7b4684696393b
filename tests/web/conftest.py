"""Dashboard fixtures: the real app served by uvicorn in the test's loop (the same Dashboard class
``dayshift run`` uses), a real SQLite Store and ShiftControl on the Temporal dev server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from bot.control import ShiftControl
from bot.settings import Settings
from bot.web.auth import COOKIE
from bot.web.server import Dashboard
from storage.store import Store
from tests.conftest import queue


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
        link = self.dash.link_for(user_id)
        resp = await client.get(link.removeprefix(self.url))
        assert resp.status_code == 303 and COOKIE in resp.cookies, resp.text[:300]
        return client


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
