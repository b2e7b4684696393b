"""The concurrency contracts on both backends, with two Stores on one database as two worker processes would
have (SQLite: two connections to one file; PostgreSQL: two connection pools). Real databases, no fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.db import Database, available_migrations, postgres_migrations, translate
from storage.ledger import BudgetExceeded
from storage.models import TaskMirror, TaskStatus
from storage.store import Store
from tests import pg

MakeDb = Callable[[], Awaitable[str | Path]]


@pytest.fixture
async def two(db_factory: MakeDb) -> AsyncIterator[tuple[Store, Store]]:
    target = await db_factory()
    a = await Store.open(target)
    b = await Store.open(target)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_ledger_reservations_across_processes_never_exceed_the_day(two: tuple[Store, Store]) -> None:
    a, b = two

    async def reserve(i: int) -> float:
        try:
            return await (a if i % 2 else b).ledger.reserve(
                "U1", "d", f"e{i}", amount_usd=0.25, daily_cap_usd=1.0, agent_kind="executor",
                wait_seconds=0.2, poll_seconds=0.05)
        except BudgetExceeded:
            return 0.0

    held = await asyncio.gather(*(reserve(i) for i in range(12)))
    assert sum(held) == pytest.approx(1.0)
    assert sorted(held, reverse=True)[:4] == pytest.approx([0.25] * 4)
    assert await a.ledger.runs("U1", "d") == 4
    # idempotent per entry: asking again for a held entry returns the same hold, adds no row
    first = next(f"e{i}" for i, h in enumerate(held) if h)
    assert await b.ledger.reserve("U1", "d", first, amount_usd=0.25, daily_cap_usd=1.0,
                                  agent_kind="executor") == pytest.approx(0.25)
    assert await b.ledger.runs("U1", "d") == 4


async def test_processed_event_dedupe_and_tool_keys_win_once(two: tuple[Store, Store]) -> None:
    a, b = two
    seen = await asyncio.gather(*((a if i % 2 else b).audit.first_time("Ev1") for i in range(16)))
    assert seen.count(True) == 1
    recorded = await asyncio.gather(*((a if i % 2 else b).audit.record_tool_result("k1", "U1", "slack", f"r{i}")
                                      for i in range(8)))
    assert recorded.count(True) == 1


async def test_escalation_answered_once_across_processes(two: tuple[Store, Store]) -> None:
    a, b = two
    await a.users.ensure("U1")
    await a.escalations.create("U1", "t1", "day-U1-d", escalation_id="e1", reason="boom", suggestion=None,
                               attempts=3)
    answers = await asyncio.gather(*((a if i % 2 else b).escalations.resolve("U1", "t1", f"r{i}")
                                     for i in range(10)))
    assert answers.count(True) == 1


async def test_create_with_one_source_ref_makes_one_task(two: tuple[Store, Store]) -> None:
    a, b = two
    await a.users.ensure("U1")
    results = await asyncio.gather(*((a if i % 2 else b).tasks.create("U1", "from slack", generated_by="user",
                                                                      source_ref="msg-1") for i in range(10)))
    assert sum(1 for _, created in results if created) == 1
    assert len({t.task_id for t, _ in results}) == 1
    assert len(await a.tasks.for_user("U1")) == 1


async def test_session_appends_across_processes_keep_one_order(two: tuple[Store, Store]) -> None:
    a, b = two
    key = {"project_key": "p", "session_id": "s"}
    await asyncio.gather(*((a if i % 2 else b).sessions.append(key, [{"uuid": f"u{i}", "n": i}])
                           for i in range(20)))
    entries = await a.sessions.load(key)
    assert entries is not None and sorted(e["n"] for e in entries) == list(range(20))


async def test_migrations_once_when_processes_start_together(db_factory: MakeDb) -> None:
    target = await db_factory()
    dbs = await asyncio.gather(*(Database.open(target) for _ in range(3)))
    try:
        rows = await dbs[0].fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [v for v, _, _ in available_migrations()]
        assert await dbs[0].migrate() == []
    finally:
        for db in dbs:
            await db.close()


async def test_postgres_failed_migration_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg

    import storage.db as dbmod

    url = await pg.create_database()
    try:
        good = postgres_migrations()
        broken = [*good, (9999, "9999_broken.sql", "CREATE TABLE ok_table(x BIGINT); CREATE TABLE bad syntax here")]
        monkeypatch.setattr(dbmod, "postgres_migrations", lambda: broken)
        db = await Database.open(url, migrate=False)
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await db.migrate()
        assert await db.schema_version() == good[-1][0]
        assert await db.fetchone("SELECT to_regclass('ok_table') AS t") == (None,)
        await db.close()
    finally:
        await pg.drop_database(url)


def test_translation_of_the_sqlite_dialect() -> None:
    assert translate("INSERT OR IGNORE INTO t(a, b) VALUES (?, ?)") == \
        "INSERT INTO t(a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    assert translate("UPDATE tasks SET progress = MAX(progress, ?) WHERE note = '?' AND id = ?") == \
        "UPDATE tasks SET progress = GREATEST(progress, $1) WHERE note = '?' AND id = $2"
    assert translate("SELECT MAX(seq) FROM s WHERE k = ?") == "SELECT MAX(seq) FROM s WHERE k = $1"
    assert "EXTRACT(EPOCH FROM (end_time::timestamptz - start_time::timestamptz))" in translate(
        "SELECT AVG((julianday(end_time) - julianday(start_time)) * 1440) FROM x")


def test_database_url_wins_over_sqlite_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from bot.settings import Settings

    monkeypatch.setenv("DAYSHIFT_DB", str(tmp_path / "x.db"))
    assert Settings().database_target == tmp_path / "x.db"
    monkeypatch.setenv("DAYSHIFT_DATABASE_URL", "postgresql://u:pw@db.example:5432/dayshift?sslmode=require")
    assert Settings().database_target == "postgresql://u:pw@db.example:5432/dayshift?sslmode=require"
    assert "pw" not in repr(Settings())
    monkeypatch.setenv("DAYSHIFT_DATABASE_URL", "mysql://u@h/db")
    with pytest.raises(ValidationError, match="DAYSHIFT_DATABASE_URL must be a postgresql://"):
        Settings()


async def test_a_link_nonce_opens_one_session_across_processes(two: tuple[Store, Store]) -> None:
    """Two dashboards (or two clicks) redeeming one sign-in link at once: exactly one wins the nonce."""
    a, b = two
    now = datetime.now(UTC)
    won = await asyncio.gather(*((a if i % 2 else b).web_sessions.use_link(
        "n-1", "UA", now=now, expires_at=now + timedelta(minutes=10)) for i in range(12)))
    assert won.count(True) == 1


class _Gates:
    """Holds a transaction right after a statement containing ``marker`` ran (both backends' Tx classes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from storage import db as dbmod

        self.waiting: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}
        for cls in (dbmod._PgTx, dbmod._SqliteTx):
            original = cls.execute

            async def execute(tx, sql, params=(), _original=original):  # type: ignore[no-untyped-def]
                cur = await _original(tx, sql, params)
                for marker, (reached, go) in list(self.waiting.items()):
                    if marker in sql:
                        del self.waiting[marker]
                        reached.set()
                        await go.wait()
                return cur

            monkeypatch.setattr(cls, "execute", execute)

    def hold(self, marker: str) -> tuple[asyncio.Event, asyncio.Event]:
        self.waiting[marker] = (asyncio.Event(), asyncio.Event())
        return self.waiting[marker]


async def _running_task(store: Store, user: str, workflow_id: str, generated_by: str) -> TaskMirror:
    await store.users.ensure(user)
    t, _ = await store.tasks.create(user, "do it", generated_by=generated_by, workflow_id=workflow_id)
    row = TaskMirror.model_validate({**t.model_dump(), "status": TaskStatus.IN_PROGRESS,
                                     "assigned_to": "executor-x-r1"})
    await store.tasks.mirror(row)
    return row.model_copy(update={"status": TaskStatus.COMPLETED, "progress": 100})


async def test_a_late_completion_and_the_archive_never_interleave(two: tuple[Store, Store],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An executor recording its success while the day is archived (an abandoned runner, the sweeper): either
    the completion lands first and is archived as completed, or it finds its row gone. Never an archived task
    back in the live table, nor a just-completed user task carried over to run again tomorrow."""
    a, b = two
    gates = _Gates(monkeypatch)
    # 1. The completion is under way (row read, not yet written) when the archive starts: the archive waits.
    done = await _running_task(a, "U1", "wf1", "orchestrator")
    reached, go = gates.hold("SELECT status, assigned_to FROM tasks")
    completing = asyncio.ensure_future(a.tasks.complete(done, output="out", cost_usd=0.1, input_tokens=1,
                                                        output_tokens=1))
    await asyncio.wait_for(reached.wait(), 10)
    archiving = asyncio.ensure_future(b.history.archive_day("U1", "wf1", "2026-11-28"))
    await asyncio.sleep(0.5)
    assert not archiving.done()  # it waits for the completion's lock
    go.set()
    assert await completing == "in_progress"
    assert await archiving == (1, 0)
    assert await a.db.fetchall("SELECT task_id FROM tasks WHERE workflow_id = 'wf1'") == []
    [h] = await a.history.day("U1", "2026-11-28")
    assert h.status is TaskStatus.COMPLETED and h.output == "out"
    # 2. The archive is under way (unfinished user tasks read) when the completion comes: the completion waits,
    #    then finds its row gone; the task was archived as it stood and carried over once, as unfinished.
    done = await _running_task(a, "U2", "wf2", "user")
    reached, go = gates.hold("AND status IN ('generated'")
    archiving = asyncio.ensure_future(b.history.archive_day("U2", "wf2", "2026-11-28"))
    await asyncio.wait_for(reached.wait(), 10)
    completing = asyncio.ensure_future(a.tasks.complete(done, output="out", cost_usd=0.1, input_tokens=1,
                                                        output_tokens=1))
    await asyncio.sleep(0.5)
    assert not completing.done()
    go.set()
    assert await archiving == (1, 1)
    assert await completing is None
    [h] = await a.history.day("U2", "2026-11-28")
    assert h.status is TaskStatus.IN_PROGRESS
    live = await a.tasks.for_user("U2")
    assert [(t.status, t.task_id != done.task_id) for t in live] == [(TaskStatus.PENDING, True)]


async def test_completed_is_final_and_a_note_goes_with_the_progress_that_won(any_store: Store) -> None:
    store = any_store
    done = await _running_task(store, "U3", "wf3", "orchestrator")
    await store.tasks.set_progress("U3", done.task_id, 70, "step 7 of 10")
    stale = done.model_copy(update={"status": TaskStatus.IN_PROGRESS, "progress": 25, "progress_note": "started"})
    await store.tasks.mirror(stale)  # the workflow's throttled view: lower progress, older note
    row = await store.tasks.get("U3", done.task_id)
    assert (row.progress, row.progress_note) == (70, "step 7 of 10")
    assert await store.tasks.complete(done, output="out", cost_usd=0.5, input_tokens=3, output_tokens=2) == \
        "in_progress"
    # A delayed older record (e.g. "ready for assignment") cannot undo the completion, and adds no event.
    assert await store.tasks.mirror(stale.model_copy(update={"status": TaskStatus.PENDING})) == "completed"
    # The same round's success recorded again (two attempts ran the agent): the record and output stay, the
    # second run's real usage is added.
    assert await store.tasks.complete(done, output="again", cost_usd=0.5, input_tokens=3, output_tokens=2) == \
        "completed"
    row = await store.tasks.get("U3", done.task_id)
    assert (row.status, row.output, row.cost_usd, row.input_tokens) == (TaskStatus.COMPLETED, "out", 1.0, 6)
    # At an equal value the workflow's (older) note does not replace the executor's; the executor's own does.
    await store.tasks.set_progress("U4", "nope", 10)  # another user's / no task: nothing happens
    t2 = await _running_task(store, "U4", "wf4", "orchestrator")
    await store.tasks.set_progress("U4", t2.task_id, 40, "reading")
    await store.tasks.mirror(t2.model_copy(update={"status": TaskStatus.IN_PROGRESS, "progress": 40,
                                                    "progress_note": "older"}))
    assert (await store.tasks.get("U4", t2.task_id)).progress_note == "reading"
    await store.tasks.set_progress("U4", t2.task_id, 40, "writing")
    await store.tasks.set_progress("U4", t2.task_id, 30, "stale")
    assert (await store.tasks.get("U4", t2.task_id)).progress_note == "writing"
    statuses = [e.to_status for e in await store.tasks.events("U3", done.task_id) if e.kind == "status"]
    assert statuses[-2:] == ["in_progress", "completed"] and statuses.count("completed") == 1
