"""Losing PostgreSQL: a TCP proxy between the Store and the real server is cut and restored. Statements retry
with backoff across a short outage; a long one fails the caller with DatabaseUnavailable (a plain exception,
so Temporal retries the activity) and never a silent success. Real PostgreSQL; the proxy is the test's."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from storage.db import DatabaseUnavailable
from storage.store import Store
from tests import pg


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        self.writers.clear()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_w]

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


def _via(url: str, port: int) -> str:
    p = urlsplit(url)
    netloc = p.netloc.rsplit(":", 1)[0] if ":" in p.netloc.split("@")[-1] else p.netloc
    return urlunsplit((p.scheme, f"{netloc}:{port}", p.path, p.query, p.fragment))


async def test_statements_retry_through_an_outage_and_fail_retryably_after(monkeypatch: pytest.MonkeyPatch) -> None:
    url = await pg.create_database()
    proxy = Proxy(urlsplit(url).port or 5432)
    await proxy.start()
    store = await Store.open(_via(url, proxy.port))
    try:
        await store.users.ensure("U1")
        monkeypatch.setenv("DAYSHIFT_DB_RETRY_SECONDS", "20")
        await proxy.cut()

        async def restore_later() -> None:
            await asyncio.sleep(1.5)
            await proxy.start()  # same port

        restoring = asyncio.create_task(restore_later())
        started = time.monotonic()
        task, created = await store.tasks.create("U1", "written after the outage", generated_by="user")
        assert created and time.monotonic() - started >= 1.0  # it waited the outage out
        await restoring
        assert [t.description for t in await store.tasks.for_user("U1")] == ["written after the outage"]

        monkeypatch.setenv("DAYSHIFT_DB_RETRY_SECONDS", "1")
        await proxy.cut()
        with pytest.raises(DatabaseUnavailable):
            await store.tasks.set_progress("U1", task.task_id, 50)
        with pytest.raises(DatabaseUnavailable):
            await store.tasks.transition("U1", task.task_id, task.status)
    finally:
        await store.close()
        await pg.drop_database(url)


async def test_an_activity_on_a_lost_database_fails_retryably_not_successfully(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow's record_tasks activity, run by Temporal's ActivityEnvironment: with the database gone it
    raises DatabaseUnavailable (not a non-retryable ApplicationError), so Temporal retries it; nothing returns."""
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from tests.fakes.agents import RecordingNotifier, ScriptedAgents
    from workflows.activities import RecordInput, ShiftActivities
    from workflows.models import TaskState

    url = await pg.create_database()
    proxy = Proxy(urlsplit(url).port or 5432)
    await proxy.start()
    store = await Store.open(_via(url, proxy.port))
    try:
        await store.users.ensure("U1")
        task, _ = await store.tasks.create("U1", "mirror me", generated_by="orchestrator", workflow_id="wf")
        acts = ShiftActivities(store, ScriptedAgents(), RecordingNotifier())
        state = TaskState(task_id=task.task_id, short_id=task.short_id, description="mirror me", progress=40)
        monkeypatch.setenv("DAYSHIFT_DB_RETRY_SECONDS", "1")
        await proxy.cut()
        with pytest.raises(DatabaseUnavailable) as raised:
            await ActivityEnvironment().run(acts.record_tasks, RecordInput(user_id="U1", workflow_id="wf",
                                                                           tasks=[state]))
        assert not isinstance(raised.value, ApplicationError)
        await proxy.start()
        await ActivityEnvironment().run(acts.record_tasks, RecordInput(user_id="U1", workflow_id="wf",
                                                                       tasks=[state]))  # Temporal's retry
        assert (await store.tasks.get("U1", task.task_id)).progress == 40
    finally:
        await store.close()
        await pg.drop_database(url)
