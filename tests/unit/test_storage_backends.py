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
