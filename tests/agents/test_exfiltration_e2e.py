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
# Secrets in the agent's hands (not in the task text: the script directive is base64), travelling through
# its output, a progress note, a file name and a message to the user. Token-shaped or registered: redactable.
MADE = "xoxb-exfil-e2e-made-000666"  # assembled by Bash: in the Bash output and in a file name
NOTE = SECRETS["SLACK_BOT_TOKEN"]  # in a progress note (heartbeat details and progress signals: Temporal)
SENT = SECRETS["TEMPORAL_API_KEY"]  # in send_message (registered only: no pattern knows it)
HANDLED = [MADE, NOTE, SENT]


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
        ("Bash", {"command": "S=$(printf 'xoxb-%s' exfil-e2e-made-000666); echo \"$S\" > found.txt; "
                             "touch \"$S.txt\"; cat found.txt"}),
        ("mcp__dayshift__report_progress", {"percent": 60, "note": f"found {NOTE}"}),
        ("mcp__dayshift__send_message", {"text": f"your key: {SENT}"}),
    ]
    attack = script(*calls)
    task, _ = await store.tasks.create("UEXF", f"Summarise the team notes {attack}", generated_by="user",
                                       capabilities=["compute", "http", "files", "notify"])
    await store.close()
    slack = await FakeSlack().start()
    model = await OfflineModel().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    env |= SECRETS | {"AWS_SECRET_ACCESS_KEY": UNREGISTERED, "ANTHROPIC_BASE_URL": model.base_url,
                      "SLACK_API_URL": slack.api_url, "DAYSHIFT_DATA_DIR": str(data), "DAYSHIFT_WEB_PORT": "0",
                      "DAYSHIFT_WINDOW_SECONDS": "40", "DAYSHIFT_CHECKPOINT_SECONDS": "10",
                      "DAYSHIFT_WARNING_SECONDS": "3", "DAYSHIFT_TEMPORAL_UI_PORT": str(ui_port),
                      "DAYSHIFT_HTTP_ALLOWED_DOMAINS": "example.com",
                      # every progress note (agent text) signalled, so it is in the history the grep below reads
                      "DAYSHIFT_PROGRESS_SIGNAL_SECONDS": "0"}
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
        history = await _all_histories(proc.pid)
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
    assert MADE in seen[4]["content"]  # the secret really was in the agent's hands
    assert not seen[5]["is_error"] and not seen[6]["is_error"]
    assert "report_progress" in history and "Tool results:" in history  # the grep below can fail
    for value in [*SECRETS.values(), UNREGISTERED, *HANDLED]:
        assert value not in history, ("temporal history", value)

    files = {"sqlite": sorted(data.glob("dayshift.db*")), "temporal history": sorted(data.glob("temporal.db*"))}
    for what, paths in files.items():
        raw = b"".join(p.read_bytes() for p in paths)
        assert b"Tool results:" in raw, f"the task output is not in the {what} files: the grep would prove nothing"
        for value in [*SECRETS.values(), UNREGISTERED, *HANDLED]:
            assert value.encode() not in raw, (what, value)
    posted = json.dumps([c for m in ("chat.postMessage", "chat.update", "views.publish", "chat.postEphemeral")
                         for c in slack.called(m)])
    assert "Daily Task Summary" in posted and "your key: [REDACTED]" in posted
    for value in [*SECRETS.values(), UNREGISTERED, *HANDLED]:
        assert value not in posted and value not in stderr

    # The day ended, so its tasks were archived to task_history (archive_day), where the output is kept.
    store = await Store.open(data / "dayshift.db")
    done = await store.db.fetchone("SELECT status, output FROM task_history WHERE user_id = ? AND task_id = ?",
                                   ("UEXF", task.task_id))
    await store.close()
    assert done is not None and done["status"] == TaskStatus.COMPLETED.value
    assert str(done["output"]).startswith("Tool results:") and "[REDACTED]" in str(done["output"])


async def _all_histories(pid: int) -> str:
    """Every workflow history of the embedded Temporal server of ``dayshift run`` (process ``pid``), as JSON."""
    import psutil
    from temporalio.client import Client

    port = None
    for child in psutil.Process(pid).children(recursive=True):
        args = child.cmdline()
        if "start-dev" in args and "--port" in args:
            port = args[args.index("--port") + 1]
    assert port, "the embedded Temporal server was not found"
    client = await Client.connect(f"127.0.0.1:{port}")
    found = []
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        found.append(_decoded((await handle.fetch_history()).to_json_dict()))
    assert found
    return "\n".join(found)


def _decoded(value: object) -> str:
    """The history as text, with every payload's (base64) data decoded, so a grep sees what Temporal keeps."""
    import base64
    import binascii

    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if key == "data" and isinstance(item, str):
                try:
                    item = base64.b64decode(item, validate=True).decode("utf-8", "replace")
                except (binascii.Error, ValueError):
                    pass
            parts.append(f"{key}: {_decoded(item)}")
        return "\n".join(parts)
    if isinstance(value, list):
        return "\n".join(_decoded(v) for v in value)
    return str(value)
