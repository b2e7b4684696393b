"""The ``database`` capability (issue 13 item 4): Dayshift's db_query / db_execute tools, called as the executor's
MCP tools are called, over real SQLite files in the data dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.integrations_db import ScratchDatabases
from agents.profiles import allowed_tools
from agents.tools import AgentContext, executor_tools
from storage.store import Store


async def call(store: Store, scratch: ScratchDatabases, user: str, tool: str, **args: Any) -> tuple[Any, bool]:
    ctx = AgentContext(store=store, user_id=user, workflow_id="w", day="2026-11-28", agent_id="executor-x",
                       deadline="", scratch=scratch)
    [handler] = [t.handler for t in executor_tools(ctx) if t.name == tool]
    out = await handler(args)
    text = out["content"][0]["text"]
    return (text if out.get("is_error") else json.loads(text)), bool(out.get("is_error"))


async def test_a_users_scratch_database_persists_across_days_and_stays_theirs(store: Store, tmp_path: Path) -> None:
    assert "mcp__dayshift__db_query" in allowed_tools(["database"])
    assert "mcp__dayshift__db_query" not in allowed_tools(["files"])
    scratch = ScratchDatabases(tmp_path / "scratch-db")
    _, error = await call(store, scratch, "U1", "db_execute", sql="CREATE TABLE leads (name TEXT, score INT)")
    assert not error
    out, _ = await call(store, scratch, "U1", "db_execute", sql="INSERT INTO leads VALUES (?, ?)", params=["Ada", 9])
    assert out["rows_affected"] == 1
    # Another day: a new context, the same file.
    tomorrow = ScratchDatabases(tmp_path / "scratch-db")
    out, _ = await call(store, tomorrow, "U1", "db_query", sql="SELECT name, score FROM leads WHERE score > ?",
                        params=[5])
    assert out["rows"] == [["Ada", 9]]
    theirs, error = await call(store, tomorrow, "U2", "db_query", sql="SELECT * FROM leads")
    assert error and "no such table: leads" in theirs


async def test_the_application_database_and_other_files_are_out_of_reach(store: Store, tmp_path: Path) -> None:
    scratch = ScratchDatabases(tmp_path / "scratch-db", max_bytes=64_000)
    app_db = store.db.path
    for sql in (f"ATTACH DATABASE '{app_db}' AS app", f"VACUUM INTO '{tmp_path}/copy.db'",
                "PRAGMA writable_schema = 1"):
        out, error = await call(store, scratch, "U1", "db_execute", sql=sql)
        assert error and ("not authorized" in out or "VACUUM is not allowed" in out), (sql, out)
    assert not (tmp_path / "copy.db").exists()
    await call(store, scratch, "U1", "db_execute", sql="CREATE TABLE t (v TEXT)")
    out, error = await call(store, scratch, "U1", "db_query", sql="WITH x AS (SELECT 1) DELETE FROM t")
    assert error and "readonly" in out
    out, error = await call(store, scratch, "U1", "db_query", sql="SELECT 1; DROP TABLE t")
    assert error
    out, error = await call(store, scratch, "U1", "db_execute", sql="INSERT INTO t SELECT hex(randomblob(100000))")
    assert error and "full" in out.lower()  # the size cap
