"""`dayshift run` as deployed: a subprocess with the embedded Temporal server, the offline model and the real
Bolt socket-mode client, against the fake Slack. SIGTERM must leave no child process behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from storage.store import Store
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.devserver, pytest.mark.cli]
BIN = Path(sys.executable).parent


async def test_run_posts_report_in_thread_and_stops_cleanly_on_sigterm(tmp_path: Path, db_factory) -> None:  # type: ignore[no-untyped-def]
    """Runs on SQLite and on a fresh PostgreSQL database (DAYSHIFT_DATABASE_URL)."""
    target = await db_factory()
    slack = await FakeSlack().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    env |= {"SLACK_BOT_TOKEN": "xoxb-proc-test-000", "SLACK_APP_TOKEN": "xapp-1-A1-proc-000",
            "SLACK_API_URL": slack.api_url, "DAYSHIFT_DATA_DIR": str(tmp_path / "data"),
            "DAYSHIFT_WINDOW_SECONDS": "10", "DAYSHIFT_CHECKPOINT_SECONDS": "3", "DAYSHIFT_WARNING_SECONDS": "2",
            "DAYSHIFT_TEMPORAL_UI_PORT": "0", "DAYSHIFT_WEB_PORT": "0", "DAYSHIFT_MODEL": "offline",
            "DAYSHIFT_DB": str(tmp_path / "data" / "dayshift.db")}
    if isinstance(target, str):
        env["DAYSHIFT_DATABASE_URL"] = target  # wins over DAYSHIFT_DB: no SQLite file may appear
    else:
        env["DAYSHIFT_DB"] = str(target)
    proc = await asyncio.create_subprocess_exec(str(BIN / "dayshift"), "run", env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await slack.wait_connected(timeout=90)
        payload = slack.command("UPROC", "run")
        eid = await slack.send("slash_commands", payload)
        await slack.wait_ack(eid)
        report = await slack.wait_for(lambda: [c for c in slack.called("chat.postMessage")
                                               if "Daily Task Summary" in json.dumps(c.get("blocks", ""))],
                                      timeout=90)
        assert report[0]["thread_ts"] and "Dayshift for" in slack.called("chat.postMessage")[0]["text"]
        assert "✅ COMPLETED" in json.dumps(report[0]["blocks"], ensure_ascii=False)
        # DAYSHIFT_MODEL=offline: the thread and the report say the work was scripted
        assert "offline model" in slack.called("chat.postMessage")[0]["text"]
        assert "Ran on the offline model" in json.dumps(report[0]["blocks"], ensure_ascii=False)
        # The post lands a moment before the delivery is recorded (and then the header is edited): wait for the
        # record, or SIGTERM would cancel the delivery between the two (it is then finished on the next start).
        for _ in range(300):
            watcher = await Store.open(target)
            try:
                if await watcher.db.fetchall("SELECT 1 FROM workflows WHERE user_id = 'UPROC'"
                                             " AND report_delivered = 1"):
                    break
            finally:
                await watcher.close()
            await asyncio.sleep(0.1)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("temporal" in " ".join(c.cmdline()) for c in children)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
        assert code == 0
        await asyncio.sleep(0.5)
        assert [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []
        stderr = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        assert "xoxb-proc-test-000" not in stderr and "xapp-1-A1-proc-000" not in stderr
        assert '"event": "bot_connected"' in stderr
        store = await Store.open(target)  # the day's record is in the selected database
        try:
            runs = await store.runs.undelivered_reports()
            delivered = await store.db.fetchall("SELECT workflow_id FROM workflows WHERE user_id = 'UPROC'"
                                                " AND report_delivered = 1")
            assert runs == [] and len(delivered) == 1
        finally:
            await store.close()
        if isinstance(target, str):
            assert not (tmp_path / "data" / "dayshift.db").exists()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await slack.stop()
