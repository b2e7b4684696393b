"""Storage against a real SQLite file and a real PostgreSQL database (no fakes): each test runs on both."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.db import Database, available_migrations
from storage.ledger import BudgetExceeded
from storage.models import TaskMirror, TaskStatus, User
from storage.store import Store
from storage.tasks import NotFound


@pytest.fixture
def store(any_store: Store) -> Store:
    """This module's storage tests run on both backends (PostgreSQL skips when unreachable)."""
    return any_store


async def test_migrations_from_empty_and_reapply(tmp_path) -> None:
    path = tmp_path / "m.db"
    db = await Database.open(path, migrate=False)
    applied = await db.migrate()
    assert applied == [v for v, _, _ in available_migrations()]
    assert await db.migrate() == []  # idempotent
    mode = await db.fetchone("PRAGMA journal_mode")
    assert mode is not None and mode[0] == "wal"
    fk = await db.fetchone("PRAGMA foreign_keys")
    assert fk is not None and fk[0] == 1
    await db.close()


async def test_reopen_keeps_data(db_factory) -> None:
    path = await db_factory()
    s = await Store.open(path)
    await s.users.ensure("U1")
    await s.tasks.create("U1", "write the weekly summary", generated_by="user")
    await s.close()
    s2 = await Store.open(path)
    assert [t.description for t in await s2.tasks.for_user("U1")] == ["write the weekly summary"]
    await s2.close()


async def test_failed_migration_rolls_back(tmp_path, monkeypatch) -> None:
    import storage.db as dbmod

    good = available_migrations()
    broken = [*good, (9999, "9999_broken.sql", "CREATE TABLE ok_table(x INTEGER); CREATE TABLE bad syntax here")]
    monkeypatch.setattr(dbmod, "available_migrations", lambda: broken)
    db = await Database.open(tmp_path / "b.db", migrate=False)
    with pytest.raises(sqlite3.OperationalError):
        await db.migrate()
    assert await db.schema_version() == good[-1][0]
    assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'ok_table'") is None
    await db.close()


async def test_task_lifecycle_and_audit(store: Store) -> None:
    await store.users.ensure("U1")
    task, created = await store.tasks.create("U1", "triage inbox", generated_by="orchestrator",
                                             capabilities=["files"], category="ops")
    assert created and task.status is TaskStatus.PENDING and len(task.short_id) == 6
    assert (await store.tasks.find("U1", task.short_id)).task_id == task.task_id
    assert (await store.tasks.find("U1", task.task_id.upper())).task_id == task.task_id
    await store.tasks.transition("U1", task.task_id, TaskStatus.IN_PROGRESS, fields={"assigned_to": "exec-1"})
    assert [t.task_id for t in await store.tasks.assigned("U1")] == [task.task_id]
    await store.tasks.set_progress("U1", task.task_id, 40, "halfway")
    await store.tasks.set_progress("U1", task.task_id, 20)  # progress never goes backwards
    done = await store.tasks.transition("U1", task.task_id, TaskStatus.COMPLETED, message="ok",
                                        fields={"output": "42 mails sorted"})
    assert done.progress == 40 and done.output == "42 mails sorted"
    kinds = [(e.kind, e.to_status) for e in await store.tasks.events("U1", task.task_id)]
    assert kinds == [("created", "pending"), ("status", "in_progress"), ("status", "completed")]
    with pytest.raises(ValueError, match="only pending"):
        await store.tasks.edit_pending("U1", task.task_id, "new text")


async def test_pending_edit_cancel_claim(store: Store) -> None:
    await store.users.ensure("U1")
    a, _ = await store.tasks.create("U1", "a", generated_by="user")
    b, _ = await store.tasks.create("U1", "b", generated_by="user")
    assert [t.description for t in await store.tasks.pending_unassigned("U1")] == ["a", "b"]
    assert (await store.tasks.edit_pending("U1", a.task_id, "a2")).description == "a2"
    await store.tasks.cancel_pending("U1", b.task_id)
    claimed = await store.tasks.claim_pending("U1", "day-U1-2026-11-28")
    assert [t.description for t in claimed] == ["a2"]
    assert await store.tasks.pending_unassigned("U1") == []
    assert [t.description for t in await store.tasks.claim_pending("U1", "day-U1-2026-11-28")] == ["a2"]


async def test_source_ref_makes_create_idempotent(store: Store) -> None:
    await store.users.ensure("U1")
    first, c1 = await store.tasks.create("U1", "from msg", generated_by="user", source_ref="T1/C1/1.2")
    again, c2 = await store.tasks.create("U1", "from msg", generated_by="user", source_ref="T1/C1/1.2")
    assert c1 and not c2 and first.task_id == again.task_id


async def test_user_scoping(store: Store) -> None:
    await store.users.ensure("UA")
    await store.users.ensure("UB")
    b_task, _ = await store.tasks.create("UB", "B's private task", generated_by="user")
    with pytest.raises(NotFound):
        await store.tasks.get("UA", b_task.task_id)
    with pytest.raises(NotFound):
        await store.tasks.find("UA", b_task.short_id)
    with pytest.raises(NotFound):
        await store.tasks.edit_pending("UA", b_task.task_id, "hijacked")
    with pytest.raises(NotFound):
        await store.tasks.transition("UA", b_task.task_id, TaskStatus.CANCELLED)
    with pytest.raises(NotFound):
        await store.tasks.create("UA", "same id", generated_by="user", task_id=b_task.task_id)
    # A mirror write that names B's task under A's user id does not move or change it.
    forged = b_task.model_copy(update={"user_id": "UA", "description": "hijacked"})
    with pytest.raises(NotFound):
        await store.tasks.mirror(forged)
    assert (await store.tasks.get("UB", b_task.task_id)).description == "B's private task"
    assert await store.tasks.for_user("UA") == []
    await store.memory.set("UB", "secret", "b-only", "agent")
    assert await store.memory.get("UA", "secret") is None
    assert await store.tasks.events("UA", b_task.task_id) == []


async def _rows(store: Store, table: str) -> int:
    row = await store.db.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


async def test_web_sessions_resolve_only_to_their_own_user_and_expire(store: Store) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    hour = timedelta(hours=1)
    await store.web_sessions.open("hash-a", "UA", now=now, expires_at=now + hour)
    await store.web_sessions.open("hash-b", "UB", now=now, expires_at=now + hour)
    assert await store.web_sessions.user_of("hash-a", now=now) == "UA"
    assert await store.web_sessions.user_of("hash-b", now=now) == "UB"
    assert await store.web_sessions.user_of("hash-c", now=now) is None
    with pytest.raises(sqlite3.IntegrityError):  # a hash is one session: B cannot take over A's row
        await store.web_sessions.open("hash-a", "UB", now=now, expires_at=now + 2 * hour)
    assert await store.web_sessions.user_of("hash-a", now=now) == "UA"
    await store.web_sessions.close("hash-b")  # B signs out; A's session is untouched
    assert await store.web_sessions.user_of("hash-b", now=now) is None
    assert await store.web_sessions.user_of("hash-a", now=now) == "UA"
    # Expiry: the same instant as expires_at is already too late; a time in another zone means the same instant.
    assert await store.web_sessions.user_of("hash-a", now=now + hour - timedelta(microseconds=1)) == "UA"
    assert await store.web_sessions.user_of("hash-a", now=now + hour) is None
    tokyo = (now + hour / 2).astimezone(ZoneInfo("Asia/Tokyo"))
    assert await store.web_sessions.user_of("hash-a", now=tokyo) == "UA"
    # Opening a session later forgets the expired ones.
    await store.web_sessions.open("hash-d", "UB", now=now + 2 * hour, expires_at=now + 3 * hour)
    assert await _rows(store, "web_sessions") == 1
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.web_sessions.user_of("hash-d", now=datetime(2026, 11, 28, 12, 0))


async def test_web_link_nonces_are_single_use_and_forgotten_after_expiry(store: Store) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    ten = timedelta(minutes=10)
    assert not await store.web_sessions.link_used("n-1")
    assert await store.web_sessions.use_link("n-1", "UA", now=now, expires_at=now + ten)
    assert await store.web_sessions.link_used("n-1") and not await store.web_sessions.link_used("n-2")
    assert not await store.web_sessions.use_link("n-1", "UA", now=now, expires_at=now + ten)  # once
    assert not await store.web_sessions.use_link("n-1", "UB", now=now, expires_at=now + ten)  # and not for B
    row = await store.db.fetchone("SELECT user_id FROM web_link_nonces WHERE nonce = ?", ("n-1",))
    assert row is not None and row["user_id"] == "UA"
    # A used nonce is kept until a minute after its link expired (the link's own expiry refuses it after that).
    later = now + ten + timedelta(seconds=30)
    assert await store.web_sessions.use_link("n-2", "UB", now=later, expires_at=later + ten)
    assert await store.web_sessions.link_used("n-1")
    last = now + ten + timedelta(seconds=61)
    assert await store.web_sessions.use_link("n-3", "UA", now=last, expires_at=last + ten)
    assert not await store.web_sessions.link_used("n-1")
    assert await store.web_sessions.link_used("n-2") and await store.web_sessions.link_used("n-3")


async def test_history_get_finds_only_the_users_own_archived_task(store: Store) -> None:
    await store.users.ensure("UA")
    task, _ = await store.tasks.create("UA", "A's archived task", generated_by="orchestrator", workflow_id="w-a")
    await store.history.archive_day("UA", "w-a", "2026-11-27")
    found = await store.history.get("UA", task.task_id)
    assert found is not None and (found.description, found.day) == ("A's archived task", "2026-11-27")
    assert await store.history.get("UB", task.task_id) is None
    assert await store.history.get("UA", task.short_id) is None  # full ids only
    assert await store.history.get("UA", "no-such-task") is None
    # An id with a NUL (a forged URL) is no task on either backend; PostgreSQL would refuse the parameter.
    nul = task.task_id[:8] + "\x00"
    assert await store.history.get("UA", nul) is None
    for lookup in (store.tasks.get, store.tasks.find):
        with pytest.raises(NotFound):
            await lookup("UA", nul)


async def test_history_queries_archive_and_carry_over(store: Store) -> None:
    await store.users.ensure("U1")
    wf = "day-U1-2026-11-27"
    done, _ = await store.tasks.create("U1", "done", generated_by="orchestrator", workflow_id=wf, category="docs")
    failed, _ = await store.tasks.create("U1", "broke", generated_by="orchestrator", workflow_id=wf)
    mine, _ = await store.tasks.create("U1", "user waiting", generated_by="user", workflow_id=wf)
    await store.tasks.transition("U1", done.task_id, TaskStatus.COMPLETED,
                                 fields={"start_time": "2026-11-27T08:00:00+00:00",
                                         "end_time": "2026-11-27T08:12:00+00:00"})
    await store.tasks.transition("U1", failed.task_id, TaskStatus.FAILED, fields={"error_message": "API 500"})
    archived, carried = await store.history.archive_day("U1", wf, "2026-11-27")
    assert (archived, carried) == (3, 1)
    assert await store.history.archive_day("U1", wf, "2026-11-27") == (0, 0)
    pending = await store.tasks.pending_unassigned("U1")
    assert [t.description for t in pending] == ["user waiting"] and pending[0].task_id != mine.task_id
    today = date(2026, 11, 28)
    assert {h.description for h in await store.history.last_days("U1", 7, today)} == {"done", "broke", "user waiting"}
    assert await store.history.last_days("U1", 1, today) == []
    cats = await store.history.completed_by_category("U1", 7, today)
    assert [(c.category, c.count, round(c.avg_minutes or 0)) for c in cats] == [("docs", 1, 12)]
    patterns = await store.history.failure_patterns("U1", 7, today)
    assert [(p.error_message, p.count) for p in patterns] == [("API 500", 1)]
    totals = await store.history.day_totals("U1", 7, today)
    assert totals[0]["completed"] == 1 and round(float(totals[0]["avg_seconds"])) == 720
    # One shape on both backends: no Decimal (PostgreSQL's NUMERIC) reaches the dashboards.
    assert [{k: type(v) for k, v in row.items()} for row in totals] == [
        {"day": str, "total": int, "completed": int, "failed": int, "avg_seconds": float, "cost_usd": float}]


async def test_retention_purge(store: Store) -> None:
    await store.users.ensure("U1")
    today = date(2026, 11, 28)
    for age in (1, 89, 90, 91, 200):
        day = (today - timedelta(days=age)).isoformat()
        await store.tasks.create("U1", f"age {age}", generated_by="orchestrator", workflow_id=f"w{age}")
        await store.history.archive_day("U1", f"w{age}", day)
    removed = await store.history.purge(today, keep_days=90)
    assert removed == 2
    left = {h.description for h in await store.history.last_days("U1", 365, today)}
    assert left == {"age 1", "age 89", "age 90"}
    with pytest.raises(ValueError):
        await store.history.purge(today, keep_days=0)


async def test_memory_and_users(store: Store) -> None:
    await store.users.save(User(user_id="U1", timezone="Europe/Berlin", preferred_start_time="10:00"))
    u = await store.users.get("U1")
    assert u is not None and u.timezone == "Europe/Berlin"
    await store.memory.set("U1", "focus", "docs", "orchestrator")
    await store.memory.set("U1", "focus", "tests", "executor-1")
    entry = await store.memory.get("U1", "focus")
    assert entry is not None and entry.state_value == "tests" and entry.agent_id == "executor-1"
    with pytest.raises(ValueError):
        await store.memory.set("U1", "", "x", "a")
    with pytest.raises(ValueError):
        await store.memory.set("U1", "big", "x" * 20_000, "a")
    assert await store.memory.delete("U1", "focus")


async def test_runs_escalations_audit(store: Store) -> None:
    await store.users.ensure("U1")
    run = await store.runs.open("U1", "day-U1-d", "d", start_time="s", deadline="e")
    assert run.status == "running"
    await store.runs.update("U1", "day-U1-d", thread_channel="C1", thread_ts="1.1", report_json="{}")
    assert [r.workflow_id for r in await store.runs.undelivered_reports()] == ["day-U1-d"]
    await store.runs.update("U1", "day-U1-d", report_delivered=1)
    assert await store.runs.undelivered_reports() == []
    esc = await store.escalations.create("U1", "t1", "day-U1-d", escalation_id="e1", reason="boom",
                                         suggestion="retry later", attempts=3)
    assert (await store.escalations.create("U1", "t1", "day-U1-d", escalation_id="e1", reason="x",
                                           suggestion=None, attempts=3)).reason == esc.reason
    assert await store.escalations.open_for_task("U1", "t1") is not None
    assert await store.escalations.resolve("U1", "t1", "skip")
    assert not await store.escalations.resolve("U1", "t1", "retry")
    assert await store.audit.first_time("Ev1") and not await store.audit.first_time("Ev1")
    assert await store.audit.record_tool_result("k1", "U1", "send_message", "sent")
    assert not await store.audit.record_tool_result("k1", "U1", "send_message", "sent again")
    assert await store.audit.tool_result("k1") == "sent"


async def test_budget_reservations_never_overspend(store: Store) -> None:
    await store.users.ensure("U1")

    async def try_reserve(i: int) -> float:
        try:
            return await store.ledger.reserve("U1", "d", f"e{i}", amount_usd=0.30, daily_cap_usd=1.00,
                                              agent_kind="executor", wait_seconds=0.3, poll_seconds=0.05)
        except BudgetExceeded:
            return 0.0

    results = await asyncio.gather(*(try_reserve(i) for i in range(10)))
    # Three full caps, then what remains; the rest waited for a settlement that did not come in time.
    assert sorted(results, reverse=True)[:4] == pytest.approx([0.30, 0.30, 0.30, 0.10])
    assert sum(results) == pytest.approx(1.00)
    assert await store.ledger.spent("U1", "d") == pytest.approx(1.00)
    held = [f"e{i}" for i, r in enumerate(results) if r]
    await store.ledger.settle("U1", held[0], actual_usd=0.05)
    assert await try_reserve(99) == pytest.approx(min(0.30, 1.00 - 0.05 - (sum(results) - results[int(held[0][1:])])))


async def test_concurrent_writers_in_process_and_across_connections(db_factory) -> None:
    path = await db_factory()
    a = await Store.open(path)
    b = await Store.open(path)  # a second connection, as a second worker process would have
    await a.users.ensure("U1")
    tasks = [(await a.tasks.create("U1", f"t{i}", generated_by="orchestrator"))[0] for i in range(20)]

    async def work(i: int, s: Store) -> None:
        t = tasks[i]
        await s.tasks.transition("U1", t.task_id, TaskStatus.IN_PROGRESS)
        await s.tasks.set_progress("U1", t.task_id, 50)
        await s.tasks.transition("U1", t.task_id, TaskStatus.COMPLETED, fields={"output": f"o{i}"})

    try:
        await asyncio.gather(*(work(i, a if i % 2 else b) for i in range(20)))
        done = await a.tasks.for_user("U1", statuses=[TaskStatus.COMPLETED])
        assert len(done) == 20
    finally:
        await a.close()
        await b.close()


async def test_session_store_passes_sdk_conformance(db_factory) -> None:
    from claude_agent_sdk.testing import run_session_store_conformance

    stores: list[Store] = []

    async def make() -> object:
        s = await Store.open(await db_factory())
        stores.append(s)
        return s.sessions

    await run_session_store_conformance(make)
    for s in stores:
        await s.close()


async def test_stats_metrics(store: Store) -> None:
    from bot.stats import metrics, render_stats

    await store.users.ensure("U1")
    for day, delivered in (("2026-11-26", 1), ("2026-11-27", 0)):
        wf = f"day-U1-{day}"
        await store.runs.open("U1", wf, day, start_time=f"{day}T08:00:00+00:00", deadline=f"{day}T11:00:00+00:00")
        a, _ = await store.tasks.create("U1", "ok", generated_by="orchestrator", workflow_id=wf)
        b, _ = await store.tasks.create("U1", "bad", generated_by="orchestrator", workflow_id=wf)
        await store.tasks.transition("U1", a.task_id, TaskStatus.COMPLETED,
                                     fields={"start_time": f"{day}T08:00:00+00:00",
                                             "end_time": f"{day}T08:10:00+00:00"})
        await store.tasks.transition("U1", b.task_id, TaskStatus.FAILED, fields={"error_message": "API 529"})
        await store.history.archive_day("U1", wf, day)
        await store.runs.update("U1", wf, status="completed", report_json="{}", report_delivered=delivered)
        await store.ledger.reserve("U1", day, f"e{day}", amount_usd=1, daily_cap_usd=5, agent_kind="executor")
        await store.ledger.settle("U1", f"e{day}", actual_usd=0.25)
    m = await metrics(store, 7, date(2026, 11, 28))
    assert m["workflows"] == 2 and m["workflow_success_rate"] == 1.0
    assert m["average_tasks_per_day"] == 2 and m["average_completion_seconds"] == 600
    assert m["failure_rate"] == 0.5 and m["top_errors"] == [("API 529", 2)]
    assert m["status_delivery_success_rate"] == 0.5 and m["cost_per_day_usd"] == 0.25
    assert "Failure rate: 50%" in render_stats(m)
    # Another user's shift counts for everyone's stats, never in U1's own.
    await store.users.ensure("U2")
    await store.runs.open("U2", "day-U2-2026-11-27", "2026-11-27", start_time="2026-11-27T08:00:00+00:00",
                          deadline="2026-11-27T11:00:00+00:00")
    c, _ = await store.tasks.create("U2", "other", generated_by="orchestrator", workflow_id="day-U2-2026-11-27")
    await store.tasks.transition("U2", c.task_id, TaskStatus.FAILED, fields={"error_message": "U2 only"})
    await store.history.archive_day("U2", "day-U2-2026-11-27", "2026-11-27")
    everyone, own = await metrics(store, 7, date(2026, 11, 28)), await metrics(store, 7, date(2026, 11, 28), "U1")
    assert (everyone["workflows"], everyone["failure_rate"]) == (3, 0.6)
    assert own == m
    assert (await metrics(store, 1, date(2026, 11, 28)))["workflows"] == 0  # the window: only the 28th


async def test_executor_completion_is_one_write_and_never_revives_an_archived_row(store: Store) -> None:
    """``complete``: the completed row, the whole output and the usage land together with one audit event; a row
    that is gone (the day was archived) stays gone, and so does another user's task."""
    await store.users.ensure("UC")
    task, _ = await store.tasks.create("UC", "summarise the logs", generated_by="user")
    row = TaskMirror.model_validate({**task.model_dump(), "status": TaskStatus.COMPLETED, "progress": 100})
    secret = "sk-ant-api03-" + "x" * 40
    before = await store.tasks.complete(row, output=f"done, key {secret}", cost_usd=0.25, input_tokens=10,
                                        output_tokens=5)
    assert before == "pending"
    done = await store.tasks.get("UC", task.task_id)
    assert (done.status, done.progress, done.cost_usd, done.input_tokens, done.output_tokens) == (
        TaskStatus.COMPLETED, 100, 0.25, 10, 5)
    assert done.output is not None and secret not in done.output and done.output.startswith("done, key")
    assert [e.to_status for e in await store.tasks.events("UC", task.task_id) if e.to_status] == [
        "pending", "completed"]
    # A second (retried) completion adds no event; usage is the run's own, added once per successful run.
    assert await store.tasks.complete(row, output="done", cost_usd=0.0, input_tokens=0, output_tokens=0) == \
        "completed"
    assert len([e for e in await store.tasks.events("UC", task.task_id) if e.to_status == "completed"]) == 1

    ghost = row.model_copy(update={"task_id": "0" * 32, "short_id": "000000"})
    assert await store.tasks.complete(ghost, output="late", cost_usd=1.0, input_tokens=1, output_tokens=1) is None
    assert await store.tasks.mirror(ghost, create=False) is None
    with pytest.raises(NotFound):
        await store.tasks.get("UC", ghost.task_id)
    await store.users.ensure("UD")
    with pytest.raises(NotFound):
        await store.tasks.complete(row.model_copy(update={"user_id": "UD"}), output="x", cost_usd=0,
                                   input_tokens=0, output_tokens=0)
