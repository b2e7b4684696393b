"""Two processes (real SQLite, real files) open one fresh database at the same instant: both must come up
with the schema applied once, neither failing on "table already exists" or a duplicate migration row."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPENER = """
import asyncio, sys, time
from storage.db import Database
async def main():
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    db = await Database.open(sys.argv[1])
    print(await db.schema_version())
    await db.close()
asyncio.run(main())
"""


def test_two_processes_migrate_one_fresh_database(tmp_path: Path) -> None:
    from storage.db import available_migrations

    latest = available_migrations()[-1][0]
    for round_ in range(6):  # the race is a matter of milliseconds: several fresh databases
        path = tmp_path / f"fresh-{round_}.db"
        start_at = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(path), str(start_at)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
        for proc, (out, err) in zip(procs, outs, strict=True):
            assert proc.returncode == 0, err[-2000:]
            assert out.strip() == str(latest)
        import sqlite3

        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [r[0] for r in rows] == [v for v, _, _ in available_migrations()]
