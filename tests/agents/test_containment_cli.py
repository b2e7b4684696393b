"""Containment, tried as an attacker would: the real claude-agent-sdk + bundled CLI against the offline model,
with Claude Code's real OS sandbox (bubblewrap), real SQLite. The offline model's ``script`` directive makes an
executor run the given tool calls; ``model.tool_results`` is exactly what the model (the attacker) saw back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agents.contracts import AgentFailure, ExecRequest, ExecResult
from agents.offline import OfflineModel
from agents.offline.roles import script
from agents.runtime import AgentConfig, ClaudeAgentRuntime
from agents.sandbox import ContainmentPolicy
from storage.redaction import register_secret
from storage.store import Store
from tests.agents.conftest import claude_processes, monitor

pytestmark = pytest.mark.cli
DAY = "2026-11-28"
REAL_KEY = "sk-ant-api03-REAL-anthropic-key-never-in-agents-0123456789"
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-111-222-bot-token-canary",
    "SLACK_APP_TOKEN": "xapp-1-A111-app-token-canary",
    "TEMPORAL_API_KEY": "temporal-cloud-key-canary-98765",
    "DAYSHIFT_DATABASE_URL": "postgresql://dayshift:pg-password-canary@db/dayshift",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-canary-abcdefghijkl",
    "ANTHROPIC_API_KEY": REAL_KEY,
}
# What may be set in an agent's Bash, name by name: our launcher's allowlist (agents/env.py), the SDK's own
# variables, and what the CLI and its sandbox add (the proxy variables point at the sandbox's own proxy).
ALLOWED_NAMES = frozenset({
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR", "PWD", "OLDPWD", "SHLVL", "_", "SHELL",
    "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "AI_AGENT", "CLAUDECODE", "CLAUDE_PID", "CLAUDE_TMPDIR",
    "CLAUDE_CONFIG_DIR", "CLAUDE_AGENT_SDK_CLIENT_APP", "CLAUDE_AGENT_SDK_VERSION", "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_SDK_READS_SESSION_STATE", "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING", "CLAUDE_CODE_EXECPATH",
    "CLAUDE_CODE_CHILD_NOTES_DIR", "CLAUDE_CODE_CHILD_SESSION", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "CLAUDE_CODE_HOST_HTTP_PROXY_PORT", "CLAUDE_CODE_HOST_SOCKS_PROXY_PORT", "CLAUDE_CODE_MAX_RETRIES",
    "CLAUDE_CODE_MESSAGING_SOCKET", "CLAUDE_CODE_MESSAGING_TOKEN", "CLAUDE_CODE_SESSION_ATTENDED",
    "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_TMPDIR", "DISABLE_AUTOUPDATER", "DISABLE_ERROR_REPORTING",
    "DISABLE_TELEMETRY", "COREPACK_ENABLE_AUTO_PIN", "GIT_CONFIG_PARAMETERS", "GIT_EDITOR", "GIT_SSH_COMMAND",
    "SANDBOX_RUNTIME", "TMPPREFIX", "NoDefaultCurrentDirectoryInExePath",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY", "NO_PROXY", "RSYNC_PROXY", "GRPC_PROXY",
    "DOCKER_HTTP_PROXY", "DOCKER_HTTPS_PROXY", "http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy",
    "grpc_proxy", "CLOUDSDK_PROXY_ADDRESS", "CLOUDSDK_PROXY_PORT", "CLOUDSDK_PROXY_TYPE",
    "CLOUDSDK_PROXY_USERNAME", "CLOUDSDK_PROXY_PASSWORD",
})
# Set in the worker's environment with the prefixes the CLI's own variables have: none may reach Bash.
PREFIX_CANARIES = {
    "OTEL_EXPORTER_OTLP_HEADERS": "authorization=otel-canary-123", "NODE_OPTIONS": "--require=/tmp/node-canary.js",
    "GIT_ASKPASS": "/tmp/git-canary", "CLOUDSDK_AUTH_ACCESS_TOKEN": "cloudsdk-canary-456",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": "/tmp/grpc-canary", "SOCKS_PROXY": "socks5://proxy-canary:1080",
    "CURL_CA_BUNDLE": "/tmp/ca-canary.pem", "NODE_EXTRA_CA_CERTS": "/tmp/node-ca-canary.pem",
    "CLAUDE_CODE_OAUTH_TOKEN": "oauth-canary-789", "ANTHROPIC_AUTH_TOKEN": "auth-token-canary-012",
}


@pytest.fixture
def attacker_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The worker process holds every secret of the deployment, as `dayshift run` does."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
        register_secret(value)
    monkeypatch.setenv("SOME_UNKNOWN_VARIABLE", "unknown-variable-canary")
    for name, value in PREFIX_CANARIES.items():
        monkeypatch.setenv(name, value)
    return SECRETS


@pytest.fixture
async def contained(model: OfflineModel, tmp_path: Path) -> AsyncIterator[ClaudeAgentRuntime]:
    """A runtime as deployed: the SQLite file inside the data dir, a service home holding credentials."""
    home = tmp_path / "service-home"
    home.mkdir()
    (home / ".netrc").write_text("machine example.com login me password netrc-canary\n")
    store = await Store.open(tmp_path / "data" / "dayshift.db")
    await store.users.ensure("UB")
    await store.memory.set("UB", "plans", "sqlite-row-canary of user B", "agent")
    await store.tasks.create("UB", "B's secret task", generated_by="user", workflow_id=f"day-UA-{DAY}")
    rt = ClaudeAgentRuntime(store, AgentConfig(
        data_dir=tmp_path / "data", base_url=model.base_url, api_key=REAL_KEY, daily_budget_usd=50,
        agent_budget_usd=5, service_home=home,
        policy=ContainmentPolicy(http_allowed_domains=("example.com",))))
    yield rt
    await rt.aclose()
    await store.close()


def req(description: str, caps: list[str], user: str = "UA", short: str = "atk001") -> ExecRequest:
    return ExecRequest(user_id=user, workflow_id=f"day-{user}-{DAY}", day=DAY, task_id=str(uuid.uuid4()),
                       short_id=short, description=description, capabilities=caps,
                       deadline="2099-01-01T00:00:00+00:00", warn_at="2099-01-01T00:00:00+00:00")


async def attack(rt: ClaudeAgentRuntime, model: OfflineModel, calls: list[tuple[str, dict[str, Any]]],
                 caps: list[str], **kw: str) -> tuple[ExecResult, list[dict[str, Any]]]:
    """Run one executor doing ``calls``; return its result and, per call, what the attacker saw."""
    before = set(model.tool_results)
    result = await rt.run_task(req("Routine chore " + script(*calls), caps, **kw), monitor())
    seen = [r for k, r in model.tool_results.items() if k not in before and (r["tool"], r["input"]) in calls]
    assert [(r["tool"], r["input"]) for r in seen] == [(n, a) for n, a in calls], "not every call was answered"
    return result, seen


async def test_bash_environment_holds_no_secret_and_nothing_off_the_allowlist(
        contained: ClaudeAgentRuntime, model: OfflineModel, attacker_env: dict[str, str]) -> None:
    result, seen = await attack(contained, model, [
        ("Bash", {"command": "env"}),
        ("Bash", {"command": "printenv"}),
        ("Bash", {"command": "cat /proc/$PPID/environ /proc/1/environ 2>&1 | tr '\\0' '\\n'"}),
    ], ["compute"])
    env_out = seen[0]["content"]
    assert "PATH=" in env_out and "HOME=" in env_out  # the command really ran
    for r in seen:
        for name, value in attacker_env.items():
            assert value not in r["content"], f"{name} visible to Bash via {r['input']}"
        assert "unknown-variable-canary" not in r["content"] and "SOME_UNKNOWN_VARIABLE" not in r["content"]
    names = {line.split("=", 1)[0] for line in env_out.splitlines() if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line)}
    off_list = sorted(names - ALLOWED_NAMES)
    assert off_list == [], off_list
    for name, value in PREFIX_CANARIES.items():
        assert all(value not in r["content"] for r in seen), name
    # Bash sees only a per-run gateway token; the gateway put the real key on the upstream call.
    token = re.search(r"^ANTHROPIC_API_KEY=(.*)$", env_out, re.MULTILINE)
    assert token and token.group(1).startswith("dsgw-")
    keys_upstream = {r["api_key"] for r in model.requests if r["role"] == "execute"}
    assert keys_upstream == {REAL_KEY}
    assert REAL_KEY not in result.output and token.group(1) not in result.output  # redacted before it is kept


async def test_writes_outside_the_workspace_fail_and_the_workspace_still_works(
        contained: ClaudeAgentRuntime, model: OfflineModel) -> None:
    """Outside the workspace the file system is read-only; the denied folders (data dir, home, /tmp) are
    replaced by an empty throw-away tmpfs, so a write there lands nowhere: not on disk, not in the next command."""
    uid = uuid.uuid4().hex[:8]
    other = contained.workspace("UB", DAY, "vic001")
    ws = contained.workspace("UA", DAY, "atk001")
    targets = {"abs": Path(f"/var/lib/atk-{uid}"), "etc": Path(f"/etc/atk-{uid}"), "tmp": Path(f"/tmp/atk-{uid}"),
               "up": ws.parent / f"up-{uid}", "py": ws.parent / f"py-{uid}", "other": other / f"planted-{uid}"}
    result, seen = await attack(contained, model, [
        ("Bash", {"command": "cd ~ && echo x > f && echo WROTE"}),
        ("Bash", {"command": 'cd "$HOME" && echo x > f2 && echo WROTE'}),
        ("Bash", {"command": f"echo x > {targets['abs']} && echo WROTE"}),
        ("Bash", {"command": f"python3 -c \"open('{targets['etc']}','w').write('x'); print('WROTE')\""}),
        ("Bash", {"command": f"echo x > {targets['tmp']}; echo x > ../up-{uid}; echo x > {targets['other']}"}),
        ("Bash", {"command": f"python3 -c \"open('../py-{uid}','w').write('x')\""}),
        ("Bash", {"command": f"cat {targets['tmp']} ../up-{uid} ../py-{uid} {targets['other']} 2>&1 | grep -cx x"}),
        ("Bash", {"command": "echo ok > out.txt && cat out.txt"}),
        ("Bash", {"command": 'echo scratch > "$TMPDIR/t" && cat "$TMPDIR/t"'}),
        ("Bash", {"command": "curl -sS -m 3 http://example.com/ 2>&1"}),
    ], ["compute"])
    for r in seen[:4]:
        assert "WROTE" not in r["content"], r
    assert "No such file or directory" in seen[0]["content"]  # the agent's home is invisible to Bash
    assert "Read-only file system" in seen[2]["content"] and "Read-only file system" in seen[3]["content"]
    assert re.search(r"^0$", seen[6]["content"], re.M)  # nothing written in steps 5-6 survives to the next command
    for path in targets.values():
        assert not path.exists(), path
    assert seen[7]["content"].strip().startswith("ok") and (ws / "out.txt").read_text() == "ok\n"
    assert seen[8]["content"].strip().startswith("scratch")
    assert "blocked by network allowlist" in seen[9]["content"]  # no http capability: not even listed domains
    assert result.artifacts == ["out.txt"]


async def test_secrets_on_disk_are_unreadable_by_bash_and_by_read(
        contained: ClaudeAgentRuntime, model: OfflineModel, tmp_path: Path) -> None:
    db = tmp_path / "data" / "dayshift.db"
    netrc = tmp_path / "service-home" / ".netrc"
    victim = contained.workspace("UB", DAY, "vic001") / "notes.txt"
    victim.write_text("workspace-canary of user B\n")
    ws = contained.workspace("UA", DAY, "atk001")
    (ws / "link").symlink_to(victim.parent)  # planted links, as a previous Bash step could
    outside = tmp_path / "outside.txt"
    outside.write_text("hardlink-canary\n")
    os.link(outside, ws / "hard.txt")
    log_file = tmp_path / "data" / "temporal-server.log"  # a text file of the data dir
    log_file.write_text("datadir-canary\n")
    _result, by_bash = await attack(contained, model, [
        ("Bash", {"command": f"cat {netrc}"}),
        ("Bash", {"command": "cat ~/.netrc"}),
        ("Bash", {"command": f"cat {db}; ls {db.parent}"}),
        ("Bash", {"command": f"python3 -c \"print(open('{db}','rb').read())\""}),
        ("Bash", {"command": f"cat {victim} link/notes.txt"}),
    ], ["compute"])
    _result, by_tools = await attack(contained, model, [
        ("Read", {"file_path": str(netrc)}),
        ("Read", {"file_path": str(db)}),
        ("Read", {"file_path": str(log_file)}),
        ("Read", {"file_path": str(victim)}),
        ("Read", {"file_path": "link/notes.txt"}),
        ("Read", {"file_path": str(ws / "hard.txt")}),
        ("Grep", {"pattern": "canary", "path": str(tmp_path)}),
        ("mcp__dayshift__read_memory", {"key": "plans"}),  # user B's memory key, through our own MCP tools
        ("mcp__dayshift__list_tasks", {"status": "all"}),
    ], ["files"])  # (a task with compute gets no in-process file tools at all)
    seen = by_bash + by_tools
    for r in seen:
        for canary in ("netrc-canary", "sqlite-row-canary", "workspace-canary", "hardlink-canary", "datadir-canary"):
            assert canary not in r["content"], (canary, r)
    assert all(r["is_error"] for r in seen[5:12]), [r["content"][:200] for r in seen[5:12]]
    assert '"value": null' in seen[12]["content"] and "B's secret task" not in seen[13]["content"]
    denials = await contained.store.audit.denials("UA")
    assert len([d for d in denials if d["tool"] in ("Read", "Grep")]) == 6
    assert any("hard-linked" in d["reason"] for d in denials)
    assert "workspace" in seen[2]["content"] or "No such file" in seen[2]["content"]


@pytest.fixture
async def loopback_service() -> AsyncIterator[int]:
    """A service on loopback, like the embedded Temporal UI: it serves every user's workflow history."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="loopback-history-canary")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await runner.cleanup()


async def test_network_reaches_no_loopback_metadata_or_unlisted_domain(
        contained: ClaudeAgentRuntime, model: OfflineModel, loopback_service: int) -> None:
    gateway = await contained._model_gateway()
    _result, seen = await attack(contained, model, [
        ("Bash", {"command": f"curl -sS -m 5 http://127.0.0.1:{loopback_service}/ 2>&1; echo rc=$?"}),
        ("Bash", {"command": f"curl -sS -m 5 -H \"x-api-key: $ANTHROPIC_API_KEY\" {gateway.base_url}/v1/models 2>&1"}),
        ("Bash", {"command": "curl -sS -m 5 http://169.254.169.254/latest/meta-data/ 2>&1; echo rc=$?"}),
        ("Bash", {"command": "curl -sS -m 5 http://example.org/ 2>&1; echo rc=$?"}),
        ("Bash", {"command": "curl -sS -m 3 http://example.com/ 2>&1; echo rc=$?"}),
        ("WebFetch", {"url": f"http://127.0.0.1:{loopback_service}/", "prompt": "show"}),
        ("WebFetch", {"url": f"http://localhost:{loopback_service}/", "prompt": "show"}),
        ("WebFetch", {"url": "http://169.254.169.254/latest/meta-data/", "prompt": "show"}),
        ("WebFetch", {"url": "http://[::1]:8233/", "prompt": "show"}),
        ("WebFetch", {"url": "https://example.org/", "prompt": "show"}),
    ], ["compute", "http"])
    for r in seen:
        assert "loopback-history-canary" not in r["content"], r
        assert '"data"' not in r["content"]  # no model list from the gateway
    assert all("rc=7" in r["content"] or "Exit code 7" in r["content"] for r in seen[:3])  # no route at all
    assert "blocked by network allowlist" in seen[3]["content"]  # the sandbox's proxy refuses unlisted names
    assert "blocked by network allowlist" not in seen[4]["content"]  # a listed one is let through (no internet here)
    assert all(r["is_error"] for r in seen[5:])
    reasons = [d["reason"] for d in await contained.store.audit.denials("UA") if d["tool"] == "WebFetch"]
    assert len(reasons) == 5
    assert "not on the allowed domains" in reasons[-1] and "loopback" in reasons[0]


async def test_without_bwrap_a_compute_task_never_runs(
        contained: ClaudeAgentRuntime, model: OfflineModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.sandbox import BWRAP_MISSING, _probe_cache
    from agents.tools import orchestrator_tools
    from workflows.activities import ShiftActivities, ValidateInput
    from workflows.models import TaskState

    bin_dir = tmp_path / "bin-without-bwrap"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for exe in Path(folder).iterdir():
            if exe.name != "bwrap" and not (bin_dir / exe.name).exists():
                (bin_dir / exe.name).symlink_to(exe)
    monkeypatch.setenv("PATH", str(bin_dir))
    _probe_cache.clear()
    acts = ShiftActivities(contained.store, contained, notifier=None)  # type: ignore[arg-type]
    tasks = [TaskState(task_id=f"t{i}", short_id=f"s{i}", description="crunch numbers", capabilities=caps)
             for i, caps in enumerate((["compute"], ["files"], ["files", "compute"]))]
    checked = await acts.validate_tasks(ValidateInput(user_id="UA", day=DAY, tasks=tasks))
    assert [(v.ok, v.reason) for v in checked] == [(False, BWRAP_MISSING), (True, None), (False, BWRAP_MISSING)]
    ctx = contained._ctx("UA", f"day-UA-{DAY}", DAY, "orch", "")
    create = {t.name: t for t in orchestrator_tools(ctx)}["create_task"]
    refused = await create.handler({"description": "crunch", "capabilities": ["compute"]})
    assert refused.get("is_error") and BWRAP_MISSING in refused["content"][0]["text"] and not ctx.drafts
    # Even run directly, past pre-validation, Bash does not run unsandboxed: failIfUnavailable holds.
    ws = contained.workspace("UA", DAY, "atk001")
    with pytest.raises(AgentFailure) as failed:
        await contained.run_task(req("x " + script(("Bash", {"command": "touch ran-unsandboxed"})), ["compute"]),
                                 monitor())
    assert failed.value.kind == "SandboxUnavailable" and not failed.value.retryable
    assert not (ws / "ran-unsandboxed").exists() and not [r for r in model.tool_results.values() if r["tool"] == "Bash"]
    _probe_cache.clear()
    assert claude_processes() == []


async def test_a_url_the_two_parsers_read_differently_never_reaches_loopback(
        contained: ClaudeAgentRuntime, model: OfflineModel, loopback_service: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``http://127.0.0.1:PORT\\@example.com/``: example.com to Python's urlsplit, 127.0.0.1 to the CLI's WHATWG
    parser. example.com is allowlisted and (faked here, there is no DNS) resolves to a public address."""
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo

    async def public_example(host: Any, port: Any, **kw: Any) -> Any:
        if host == "example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return await real_getaddrinfo(host, port, **kw)

    monkeypatch.setattr(loop, "getaddrinfo", public_example)
    tricks = [f"http://127.0.0.1:{loopback_service}\\@example.com/", f"http://2130706433:{loopback_service}/",
              f"http://0x7f.1:{loopback_service}/", f"http://localhost.:{loopback_service}/"]
    _result, seen = await attack(contained, model, [("WebFetch", {"url": u, "prompt": "show"}) for u in tricks],
                                 ["http"])
    for r in seen:
        assert r["is_error"] and "loopback-history-canary" not in r["content"], r
    reasons = [d["reason"] for d in await contained.store.audit.denials("UA") if d["tool"] == "WebFetch"]
    assert len(reasons) == len(tricks) and "backslash" in reasons[0]


async def test_the_symlink_race_has_no_parts_background_bash_and_file_tools_beside_bash(
        contained: ClaudeAgentRuntime, model: OfflineModel) -> None:
    """The race: a background Bash loop flips ``flip`` between an own file and another user's file while Read
    (in the CLI process, outside the sandbox) opens it after the guard's check. Both halves are gone."""
    victim = contained.workspace("UB", DAY, "vic001") / "notes.txt"
    victim.write_text("race-canary of user B\n")
    ws = contained.workspace("UA", DAY, "atk001")
    (ws / "own.txt").write_text("own\n")
    flipper = f"for i in $(seq 300); do ln -sfn {victim} flip; ln -sfn own.txt flip; done"
    _result, seen = await attack(contained, model, [
        ("Bash", {"command": flipper, "run_in_background": True}),
        ("Read", {"file_path": "own.txt"}),
        ("Read", {"file_path": "flip"}),
        ("Bash", {"command": "cat own.txt"}),
    ], ["compute", "files"])
    assert seen[0]["is_error"] and "run_in_background" in seen[0]["content"]
    assert all(r["is_error"] and "own" not in r["content"].split("\n")[0] for r in seen[1:3]), seen[1:3]
    assert seen[3]["content"].strip().startswith("own")  # the files capability is served by Bash in the sandbox
    for r in seen:
        assert "race-canary" not in r["content"]
    denied = [d for d in await contained.store.audit.denials("UA") if d["tool"] == "Bash"]
    assert len(denied) == 1 and "run_in_background" in denied[0]["reason"]


async def test_a_secret_in_the_agents_hands_is_redacted_in_output_progress_file_names_and_messages(
        contained: ClaudeAgentRuntime, model: OfflineModel, tmp_path: Path) -> None:
    """The agent makes token-shaped secrets (Bash assembles one, so the task text never holds it) and puts
    them in its output, a progress note (heartbeat details, kept by Temporal), a file name (the artifact list,
    also kept by Temporal) and a message to the user. None reaches the monitor, the result, the message or
    SQLite."""
    sent: list[tuple[str, str]] = []

    async def send(user: str, text: str) -> None:
        sent.append((user, text))

    contained.send_message = send
    made, note, message = "xoxb-cli-made-000777", "xoxb-cli-note-000888", "xoxb-cli-send-000999"
    mon = monitor()
    before = set(model.tool_results)
    calls = [
        ("Bash", {"command": "S=$(printf 'xoxb-%s' cli-made-000777); echo \"$S\" > leak.txt; "
                             "touch \"$S.txt\"; cat leak.txt; ls"}),
        ("mcp__dayshift__report_progress", {"percent": 30, "note": f"found {note}"}),
        ("mcp__dayshift__send_message", {"text": f"here it is: {message}"}),
    ]
    result = await contained.run_task(req("Leak it " + script(*calls), ["compute", "notify"]), mon)
    seen = [r for k, r in model.tool_results.items() if k not in before]
    assert made in seen[0]["content"]  # the secret really was in the agent's hands
    assert sent and sent[0][0] == "UA" and "here it is" in sent[0][1]
    beats = mon._heartbeat.details  # type: ignore[attr-defined]
    assert any(b.get("percent") == 30 for b in beats)
    kept = [result.output, *result.artifacts, json.dumps(beats), json.dumps(sent), str(mon.note)]
    raw = b"".join(p.read_bytes() for p in sorted((tmp_path / "data").glob("dayshift.db*")))
    assert b"Leak it" in raw  # the transcript is in the file: the grep below can fail
    for secret in (made, note, message):
        assert all(secret not in text for text in kept), (secret, kept)
        assert secret.encode() not in raw, secret
    assert "[REDACTED].txt" in result.artifacts
