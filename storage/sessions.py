"""A SQLite-backed Claude Agent SDK ``SessionStore`` (duck-typed: storage imports nothing of the SDK).

Lets a retried executor resume its session after a crash, even on another worker whose local
``CLAUDE_CONFIG_DIR`` never saw the transcript.
"""

from __future__ import annotations

import json
import time
from typing import Any

from storage.db import Database
from storage.redaction import redact_value


def _subpath(key: dict[str, Any]) -> str:
    return str(key.get("subpath") or "")


class SqliteSessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, key: dict[str, Any], entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        now_ms = int(time.time() * 1000)
        async with self.db.transaction() as conn:
            await conn.lock("session", key["project_key"], key["session_id"], _subpath(key))
            cur = await conn.execute(
                "SELECT COALESCE(MAX(seq), -1) FROM agent_sessions WHERE project_key = ? AND session_id = ?"
                " AND subpath = ?",
                (key["project_key"], key["session_id"], _subpath(key)),
            )
            row = await cur.fetchone()
            seq = int(row[0]) if row else -1
            for entry in entries:
                seq += 1
                await conn.execute(
                    "INSERT OR IGNORE INTO agent_sessions(project_key, session_id, subpath, seq, entry_uuid,"
                    " entry_json, mtime_ms) VALUES (?,?,?,?,?,?,?)",
                    (key["project_key"], key["session_id"], _subpath(key), seq, entry.get("uuid"),
                     json.dumps(redact_value(entry)), now_ms),  # transcripts quote tool output
                )

    async def load(self, key: dict[str, Any]) -> list[dict[str, Any]] | None:
        rows = await self.db.fetchall(
            "SELECT entry_json FROM agent_sessions WHERE project_key = ? AND session_id = ? AND subpath = ?"
            " ORDER BY seq",
            (key["project_key"], key["session_id"], _subpath(key)),
        )
        if not rows:
            return None
        return [json.loads(r["entry_json"]) for r in rows]

    async def list_sessions(self, project_key: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT session_id, MAX(mtime_ms) AS mtime FROM agent_sessions WHERE project_key = ? AND subpath = ''"
            " GROUP BY session_id",
            (project_key,),
        )
        return [{"session_id": r["session_id"], "mtime": int(r["mtime"])} for r in rows]

    async def delete(self, key: dict[str, Any]) -> None:
        if key.get("subpath"):
            await self.db.execute(
                "DELETE FROM agent_sessions WHERE project_key = ? AND session_id = ? AND subpath = ?",
                (key["project_key"], key["session_id"], key["subpath"]),
            )
        else:
            await self.db.execute(
                "DELETE FROM agent_sessions WHERE project_key = ? AND session_id = ?",
                (key["project_key"], key["session_id"]),
            )

    async def list_subkeys(self, key: dict[str, Any]) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT DISTINCT subpath FROM agent_sessions WHERE project_key = ? AND session_id = ? AND subpath != ''",
            (key["project_key"], key["session_id"]),
        )
        return [r["subpath"] for r in rows]
