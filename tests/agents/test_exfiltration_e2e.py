"""The measured attack, replayed against `dayshift run` as deployed: a subprocess with the embedded Temporal
dev server, the real Bolt socket-mode client against the fake Slack, the real SDK + CLI + OS sandbox, and the
model reached through ANTHROPIC_BASE_URL (the offline model, in this test process, so we see what the attacker's
model saw). A user's compute task runs `env`, tries the Temporal UI on loopback and the data dir; its output
becomes the task output. No secret may reach SQLite, the Temporal history (its database file) or Slack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.offline import OfflineModel
from agents.offline.roles import script
from storage.models import TaskStatus
from storage.store import Store
from tests.fakes.slack import FakeSlack

pytestmark = [pytest.mark.devserver, pytest.mark.cli]
BIN = Path(sys.executable).parent
SECRETS = {"SLACK_BOT_TOKEN": "xoxb-exfil-e2e-bot-000111", "SLACK_APP_TOKEN": "xapp-1-A1-exfil-e2e-000222",
           "ANTHROPIC_API_KEY": "sk-ant-api03-exfil-e2e-real-key-000333",
           "TEMPORAL_API_KEY": "temporal-exfil-e2e-key-000444"}
UNREGISTERED = "aws-exfil-e2e-canary-000555"  # no redaction knows this one: only the env wall can stop it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_exfiltration_leaves_no_secret_in_sqlite_temporal_or_slack(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ui_port = free_port()
    store = await Store.open(data / "dayshift.db")
    await store.users.ensure("UEXF")
    calls = [
        ("Bash", {"command": "env"}),
        ("Bash", {"command": f"curl -sS -m 5 http://127.0.0.1:{ui_port}/namespaces/default/workflows 2>&1; "
                             "echo rc=$?"}),
        ("WebFetch", {"url": f"http://127.0.0.1:{ui_port}/namespaces/default/workflows", "prompt": "list"}),
        ("Bash", {"command": f"head -c 200 {data / 'dayshift.db'} 2>&1; ls {data} 2>&1"}),
    ]
    attack = script(*calls)
    task, _ = await store.tasks.create("UEXF", f"Summarise the team notes {attack}", generated_by="user",
                                       capabilities=["compute", "http", "files"])
    await store.close()
    slack = await FakeSlack().start()
    model = await OfflineModel().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    env |= SECRETS | {"AWS_SECRET_ACCESS_KEY": UNREGISTERED, "ANTHROPIC_BASE_URL": model.base_url,
                      "SLACK_API_URL": slack.api_url, "DAYSHIFT_DATA_DIR": str(data),
                      "DAYSHIFT_WINDOW_SECONDS": "25", "DAYSHIFT_CHECKPOINT_SECONDS": "10",
                      "DAYSHIFT_WARNING_SECONDS": "3", "DAYSHIFT_TEMPORAL_UI_PORT": str(ui_port),
                      "DAYSHIFT_HTTP_ALLOWED_DOMAINS": "example.com"}
    proc = await asyncio.create_subprocess_exec(str(BIN / "dayshift"), "run", env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await slack.wait_connected(timeout=90)
        eid = await slack.send("slash_commands", slack.command("UEXF", "run"))
        await slack.wait_ack(eid)
        await slack.wait_for(lambda: [c for c in slack.called("chat.postMessage")
                                      if "Daily Task Summary" in json.dumps(c.get("blocks", ""))], timeout=120)
        # The Temporal UI really is up on loopback (we can read it); the agent could not.
        ui = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10))
        assert ui.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
        stderr = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await slack.stop()
        await model.stop()

    # What the attacker's model saw: the commands ran, and showed no secret (the env wall, not redaction).
    seen = [r for r in model.tool_results.values() if (r["tool"], r["input"]) in calls]  # (other tasks ran too)
    assert [(r["tool"], r["input"]) for r in seen] == calls
    assert "PATH=" in seen[0]["content"] and "ANTHROPIC_API_KEY=dsgw-" in seen[0]["content"]
    for r in seen:
        for value in [*SECRETS.values(), UNREGISTERED]:
            assert value not in r["content"], (value, r["input"])
    assert "rc=7" in seen[1]["content"] and seen[2]["is_error"] and "loopback" in seen[2]["content"]
    assert "SQLite" not in seen[3]["content"]

    store = await Store.open(data / "dayshift.db")
    # The day archives before it delivers the report, so the finished task is in the history by now.
    [done] = [h for h in await store.history.last_days("UEXF", 2, datetime.now(UTC).date() + timedelta(days=1))
              if h.task_id == task.task_id]
    await store.close()
    assert done.status is TaskStatus.COMPLETED and (done.output or "").startswith("Tool results:")
    files = {"sqlite": sorted(data.glob("dayshift.db*")), "temporal history": sorted(data.glob("temporal.db*"))}
    for what, paths in files.items():
        raw = b"".join(p.read_bytes() for p in paths)
        assert b"Tool results:" in raw, f"the task output is not in the {what} files: the grep would prove nothing"
        for value in [*SECRETS.values(), UNREGISTERED]:
            assert value.encode() not in raw, (what, value)
    posted = json.dumps([c for m in ("chat.postMessage", "chat.update", "views.publish", "chat.postEphemeral")
                         for c in slack.called(m)])
    assert "Daily Task Summary" in posted
    for value in [*SECRETS.values(), UNREGISTERED]:
        assert value not in posted and value not in stderr
