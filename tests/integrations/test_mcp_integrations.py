"""Integrations as MCP servers (issue 13 item 2).

Config checks are unit tests. The end-to-end test runs the real claude-agent-sdk and its bundled CLI against the
offline model, with the real ``mcp-server-git`` from PyPI over a git repository the test creates, then delivers
the report with the real SlackNotifier to the fake Slack. The pre-validation tests run a whole day on the real
time-skipping Temporal server with scripted (fake) agents, whose runtime offers the integrations given.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from agents.contracts import ExecRequest, PlanRequest, PlanResult, TaskDraft
from agents.guard import WorkspaceGuard
from agents.integrations import Integration, IntegrationConfigError, Integrations, load_integrations
from agents.offline import OfflineModel
from agents.offline.roles import CHANGELOG_TASK
from agents.runtime import AgentConfig, ClaudeAgentRuntime
from bot.blocks import task_list_blocks
from bot.settings import Settings
from bot.slack_client import web_client
from bot.slack_notifier import SlackNotifier
from storage.store import Store
from tests.agents.conftest import monitor
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from tests.fakes.slack import FakeSlack
from tests.workflows.test_day_timeskipping import DAY, day_input, run_day
from workflows.models import DayState, ReportItem, StatusReport

GIT_SERVER = str(Path(sys.executable).parent / "mcp-server-git")
SECRET = "s3cr3t-only-for-the-git-server-" + uuid.uuid4().hex[:8]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "integrations.toml"
    path.write_text(body)
    return path


# ---- config ---------------------------------------------------------------------------------------------

def test_a_good_file_loads_and_expands_secrets(tmp_path: Path) -> None:
    path = _write(tmp_path, '[servers.git]\ncapability = "git"\ndescription = "The repo"\n'
                            'command = ["mcp-server-git", "--repository", "/srv/r"]\n'
                            'env = { TOKEN = "${DS_T}" }\nusers = ["U1"]\n')
    found = load_integrations(path, {"DS_T": "tok"})
    git = found.servers["git"]
    assert git.env == {"TOKEN": "tok"} and git.command == ["mcp-server-git", "--repository", "/srv/r"]
    assert found.visible_to("U1") == {"git": "The repo"} and found.visible_to("U2") == {}
    assert "not available to this user" in (found.problem(["git"], "U2") or "")


@pytest.mark.parametrize(("body", "line", "words"), [
    ('[servers.git]\ncapability = "git"\ndescription = "d"\ncommand = ["x"]\ncolour = "red"\n', 5,
     "unknown key 'colour'"),
    ('[servers.git]\ncapability = "git"\ndescription = "d"\n', 1, "exactly one of command"),
    ('[servers.git]\ncapability = "git"\ndescription = "d"\ncommand = ["x"]\nenv = { T = "${DS_MISSING}" }\n', 5,
     "${DS_MISSING}, which is not set"),
    ('[servers.git]\ncapability = "files"\ndescription = "d"\ncommand = ["x"]\n', 1, "built in"),
    ('title = "x"\n[servers.git]\n', 1, "unknown key 'title'"),
    ('[servers.git_]\ncapability = "git"\ndescription = "d"\ncommand = ["x"]\n', 1, "servers.git_.name"),
    ('[servers.git]\ncapability = "git"\ndescription = "d"\ncommand = []\n', 4, "command is empty"),
])
def test_bad_config_names_the_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(IntegrationConfigError) as err:
        load_integrations(path, {})
    assert f"{path}:{line}:" in str(err.value) and words in str(err.value)


def test_bad_config_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.services import load_integrations_or_exit

    path = _write(tmp_path, '[servers.git]\ncapability = "git"\ndescription = "d"\ncommand = ["x"]\nnope = 1\n')
    monkeypatch.setenv("DAYSHIFT_INTEGRATIONS", str(path))
    monkeypatch.setenv("DAYSHIFT_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit, match=r"integrations\.toml:5: unknown key 'nope'"):
        load_integrations_or_exit(Settings())


async def test_the_guard_allows_exactly_the_tasks_servers(tmp_path: Path) -> None:
    guard = WorkspaceGuard(tmp_path, ["mcp__dayshift__complete_task"], allowed_prefixes=["mcp__git__"])
    assert await guard.check("mcp__git__git_log", {}) is None
    assert "not in this task's capability profile" in (await guard.check("mcp__jira__search", {}) or "")
    assert "not in this task's capability profile" in (await guard.check("mcp__gitx__git_log", {}) or "")


# ---- the real mcp-server-git through the CLI -----------------------------------------------------------------

def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "team-repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@x",
           "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    for n, subject in enumerate(["Add login page", "Fix crash on empty cart", "Speed up search"]):
        (repo / f"f{n}.txt").write_text(subject)
        subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", subject], check=True, env=env)
    return repo


@pytest.mark.cli
async def test_changelog_task_uses_the_git_server_and_lands_in_the_thread(store: Store, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path)
    path = _write(tmp_path, f'[servers.git]\ncapability = "git"\n'
                            f'description = "Read the team repository history (repo_path={repo})"\n'
                            f'command = ["{GIT_SERVER}", "--repository", "{repo}"]\n'
                            f'env = {{ DS_GIT_TOKEN = "${{DS_TEST_GIT_SECRET}}" }}\n')
    integrations = load_integrations(path, {"DS_TEST_GIT_SECRET": SECRET})
    monkeypatch.setenv("DS_TEST_GIT_SECRET", SECRET)  # in the worker's environment: must reach no agent
    wf = f"day-U1-{DAY}"
    await store.users.ensure("U1")
    async with OfflineModel() as model:
        runtime = ClaudeAgentRuntime(store, AgentConfig(data_dir=tmp_path / "data", base_url=model.base_url,
                                                        api_key="offline-test-key", integrations=integrations))
        try:
            plan = await runtime.plan_day(PlanRequest(user_id="U1", workflow_id=wf, day=DAY,
                                                      now=f"{DAY}T08:00:00+00:00", deadline=f"{DAY}T11:00:00+00:00"))
            [task] = [t for t in plan.tasks if "git" in t.capabilities]
            assert task.description == CHANGELOG_TASK
            plan_prompt = next(r for r in model.requests if r["role"] == "plan")["prompt"]
            assert f"- git: Read the team repository history (repo_path={repo})" in plan_prompt

            req = ExecRequest(user_id="U1", workflow_id=wf, day=DAY, task_id="t-git", short_id="gitlog",
                              description=task.description, capabilities=task.capabilities,
                              deadline="2099-01-01T00:00:00+00:00", warn_at="2099-01-01T00:00:00+00:00")
            result = await runtime.run_task(req, monitor())
        finally:
            await runtime.aclose()
    executes = [r for r in model.requests if r["role"] == "execute"]
    assert "mcp__git__git_log" in executes[0]["tools"]
    assert result.artifacts == ["CHANGELOG.md"]
    changelog = (runtime.workspace("U1", DAY, "gitlog") / "CHANGELOG.md").read_text()
    assert changelog == "# Changelog\n\n- Speed up search\n- Fix crash on empty cart\n- Add login page\n"
    assert SECRET not in json.dumps(model.requests)  # the server's secret never reached the model's view

    # The report delivers it into the day's thread, from the database (not the workspace).
    slack = await FakeSlack().start()
    try:
        await store.runs.open("U1", wf, DAY, start_time=datetime.now(UTC).isoformat(), deadline="")
        notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store)
        now = datetime.now(UTC)
        await notifier.report(StatusReport(
            user_id="U1", workflow_id=wf, day=DAY, timezone="UTC", window_start=now,
            window_end=now + timedelta(hours=3), total_generated=1,
            completed=[ReportItem(task_id="t-git", short_id="gitlog", description=CHANGELOG_TASK, status="completed")]))
        run = await store.runs.get("U1", wf)
        assert run is not None and run.thread_ts
        [shared] = slack.thread_files(run.thread_ts)
        assert shared["name"] == "CHANGELOG.md" and shared["content"].decode() == changelog
    finally:
        await slack.stop()


# ---- pre-validation: "required tools available" -----------------------------------------------------------

class GitPlanner(ScriptedAgents):
    """Scripted agents whose plan asks for the git capability, with the integrations given."""

    def __init__(self, integrations: Integrations) -> None:
        super().__init__(plan=[CHANGELOG_TASK, "fine"])
        self.integrations = integrations

    async def plan_day(self, req: PlanRequest) -> PlanResult:
        await super().plan_day(req)
        return PlanResult(tasks=[TaskDraft(description=CHANGELOG_TASK, capabilities=["git", "files"]),
                                 TaskDraft(description="fine", capabilities=["files"])], summary="plan")


async def _blocked_reason_in_list(store: Store) -> str:
    run = await store.runs.get("U1", f"day-U1-{DAY}")
    assert run is not None and run.snapshot_json
    state = DayState.model_validate_json(run.snapshot_json)
    return json.dumps([b.to_dict() for b in task_list_blocks(state, [])])  # what `/dayshift list` shows


async def test_a_git_task_without_the_integration_waits_with_the_reason(ts_env: WorkflowEnvironment,
                                                                       store: Store) -> None:
    report = await run_day(ts_env, store, GitPlanner(Integrations()), RecordingNotifier(), day_input())
    [blocked] = report.not_started
    assert blocked.description == CHANGELOG_TASK
    assert "pre-validation failed: unknown capability: git" in (blocked.reason or "")
    assert [i.description for i in report.completed] == ["fine"]
    listing = await _blocked_reason_in_list(store)
    assert "pre-validation failed: unknown capability: git (not built in, and no integration" in listing


async def test_a_git_task_whose_server_does_not_start_waits_with_the_reason(ts_env: WorkflowEnvironment,
                                                                           store: Store) -> None:
    down = Integrations(servers={"git": Integration(name="git", capability="git", description="repo",
                                                    command=["dayshift-no-such-mcp-server"])})
    report = await run_day(ts_env, store, GitPlanner(down), RecordingNotifier(), day_input())
    [blocked] = report.not_started
    assert "integration git (git) is down: command 'dayshift-no-such-mcp-server' not found" in (blocked.reason or "")


def test_a_stdio_server_gets_its_own_secrets_and_nothing_else_of_the_worker(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher the CLI starts (here running ``env`` itself, to print what the server would see)."""
    from agents.integrations import sdk_server_config

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-worker-secret")
    server = Integration(name="show", capability="show", description="d", command=["env"], env={"TOKEN": SECRET})
    config = sdk_server_config(server, tmp_path)
    assert SECRET not in json.dumps(config)  # the MCP config (on the CLI's command line) names only the launcher
    seen = subprocess.run([config["command"], *config["args"]], capture_output=True, text=True, check=True,
                          env={"ANTHROPIC_API_KEY": "dsgw-cli-token", "PATH": "/usr/bin:/bin"}).stdout
    assert f"TOKEN={SECRET}" in seen.splitlines()
    assert "xoxb-worker-secret" not in seen and "dsgw-cli-token" not in seen


@pytest.mark.cli
async def test_a_whole_day_plans_runs_and_delivers_the_changelog(ts_env: WorkflowEnvironment, store: Store,
                                                                 tmp_path: Path) -> None:
    """The workflow on the time-skipping server, the real CLI and offline model, the real git server, the real
    SlackNotifier and fake Slack: the executor activity keeps CHANGELOG.md in the database, the report's
    delivery shares it into the day's thread."""
    repo = _repo(tmp_path)
    integrations = Integrations(servers={"git": Integration(
        name="git", capability="git", description=f"Read the team repository history (repo_path={repo})",
        command=[GIT_SERVER, "--repository", str(repo)])})
    slack = await FakeSlack().start()
    async with OfflineModel() as model:
        runtime = ClaudeAgentRuntime(store, AgentConfig(data_dir=tmp_path / "data", base_url=model.base_url,
                                                        api_key="offline-test-key", integrations=integrations))
        try:
            notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store)
            report = await run_day(ts_env, store, runtime, notifier,  # type: ignore[arg-type]
                                   day_input(max_tasks=1, timezone="UTC"))
            assert [i.description for i in report.completed] == [CHANGELOG_TASK]
            run = await store.runs.get("U1", f"day-U1-{DAY}")
            assert run is not None and run.thread_ts and run.report_json
            [done] = StatusReport.model_validate_json(run.report_json).completed  # the saved report names it
            assert done.artifacts == ["CHANGELOG.md"]
            [shared] = slack.thread_files(run.thread_ts)
            assert shared["name"] == "CHANGELOG.md"
            assert shared["content"].decode() == ("# Changelog\n\n- Speed up search\n- Fix crash on empty cart\n"
                                                  "- Add login page\n")
            report_msg = next(m for m in slack.messages if m["ts"] == run.report_ts)
            assert "CHANGELOG.md" in json.dumps(report_msg["blocks"])
        finally:
            await runtime.aclose()
            await slack.stop()


async def test_create_task_accepts_an_integration_capability_only_for_its_users(store: Store) -> None:
    from agents.tools import AgentContext, orchestrator_tools

    git = Integrations(servers={"git": Integration(name="git", capability="git", description="repo",
                                                   command=["mcp-server-git"], users=["U1"])})
    results = {}
    for user in ("U1", "U2"):
        ctx = AgentContext(store=store, user_id=user, workflow_id="w", day=DAY, agent_id="orchestrator-w",
                           deadline="", integrations=git)
        [create] = [t.handler for t in orchestrator_tools(ctx) if t.name == "create_task"]
        out = await create({"description": "changelog", "capabilities": ["git", "files"], "category": "docs"})
        results[user] = (bool(out.get("is_error")), out["content"][0]["text"], [d.capabilities for d in ctx.drafts])
    assert results["U1"] == (False, "task 1 created", [["git", "files"]])
    assert results["U2"][0] and "unknown capabilities ['git']" in results["U2"][1] and results["U2"][2] == []
