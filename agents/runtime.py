"""ClaudeAgentRuntime: the real orchestrator and executors on the Claude Agent SDK and its CLI.

Each agent run: reserve its budget cap against the user's day, run one SDK session with its own
``CLAUDE_CONFIG_DIR`` under a concurrency limit, settle the real cost, and always disconnect the
CLI (shielded, so a cancelled activity leaves no process behind).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from claude_agent_sdk import (
    AssistantMessage,
    CanUseToolShadowedWarning,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    HookMatcher,
    ResultMessage,
    SystemMessage,
)
from claude_agent_sdk.types import SandboxSettings

from agents import prompts
from agents.contracts import (
    AdviceRequest,
    AgentFailure,
    ExecRequest,
    ExecResult,
    NextStepsRequest,
    PlanRequest,
    PlanResult,
    ReviewRequest,
    ReviewResult,
    RunMonitor,
)
from agents.digest import history_digest
from agents.env import agent_environment, write_launcher
from agents.errors import classify, classify_result
from agents.gateway import ModelGateway
from agents.guard import WorkspaceGuard
from agents.http_tool import HttpTool
from agents.integrations import Integrations, sdk_server_config
from agents.integrations_db import ScratchDatabases
from agents.profiles import allowed_tools, builtin_tools
from agents.sandbox import SHARED_TEMP, ContainmentPolicy, sandbox_settings
from agents.tools import AgentContext, SendMessage, executor_tools, orchestrator_tools, server, tool_names
from storage.artifacts import ArtifactCaps
from storage.ledger import BudgetExceeded
from storage.redaction import redact
from storage.store import Store

log = logging.getLogger(__name__)
# Our own MCP tools are auto-approved on purpose; every call (MCP or built-in) still passes the
# PreToolUse guard, so the SDK's "can_use_tool is shadowed" warning is noise here.
warnings.filterwarnings("ignore", category=CanUseToolShadowedWarning)
_RETRY = re.compile(r"^RETRY:\s*(.+)$", re.MULTILINE)


@dataclass
class AgentConfig:
    data_dir: Path
    orchestrator_model: str = "claude-opus-4-5"
    executor_model: str = "claude-haiku-4-5"
    base_url: str | None = None
    api_key: str | None = None
    max_turns: int = 30
    agent_budget_usd: float = 1.0
    daily_budget_usd: float = 5.0
    max_concurrent: int = 4
    cli_max_retries: int = 2
    policy: ContainmentPolicy = field(default_factory=ContainmentPolicy)
    # The service user's home: unreadable to Bash (it may hold ~/.netrc, cloud credentials, ssh keys).
    service_home: Path = field(default_factory=Path.home)
    # Largest number of model tokens one agent run may use through the gateway (None: only max_budget_usd).
    run_token_cap: int | None = None
    # What of a workspace is kept for the report (issue 13): per-file size, files per day, types.
    artifact_caps: ArtifactCaps = field(default_factory=ArtifactCaps)
    # The deployment's MCP servers (integrations.toml), checked at start-up.
    integrations: Integrations = field(default_factory=Integrations)
    # Dayshift's own http_request tool (allowlist, pinned addresses, per-host credentials); None: not offered.
    http_tool: HttpTool | None = None


@dataclass
class RunOutcome:
    result: ResultMessage | None
    session_id: str | None
    text: str


# Folders the CLI and its sandbox keep inside a workspace: never reported as the task's artifacts.
_NOT_ARTIFACTS = frozenset({".claude"})


class ClaudeAgentRuntime:
    def __init__(self, store: Store, config: AgentConfig, send_message: SendMessage | None = None) -> None:
        self.store = store
        self.config = config
        self.send_message = send_message
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._gateway: ModelGateway | None = None

    @property
    def policy(self) -> ContainmentPolicy:
        return self.config.policy

    @property
    def integrations(self) -> Integrations:
        return self.config.integrations

    async def aclose(self) -> None:
        if self._gateway is not None:
            await self._gateway.stop()
            self._gateway = None

    # ---- the AgentRuntime interface -------------------------------------------------------------

    async def plan_day(self, req: PlanRequest) -> PlanResult:
        ctx = self._ctx(req.user_id, req.workflow_id, req.day, f"orchestrator-{req.workflow_id}", req.deadline)
        ctx.max_tasks = req.max_tasks
        digest = await history_digest(self.store, req.user_id, datetime.fromisoformat(req.day).date())
        tools = orchestrator_tools(ctx)
        visible = self.config.integrations.visible_to(req.user_id)
        outcome = await self._run(ctx, f"plan:{req.workflow_id}", "orchestrator",
                                  prompts.plan_prompt(req, digest, visible),
                                  self._options(prompts.ORCHESTRATOR, self.config.orchestrator_model, tools, [], ctx))
        return PlanResult(tasks=ctx.drafts, summary=outcome.text[:500], cost_usd=_cost(outcome))

    async def review(self, req: ReviewRequest) -> ReviewResult:
        ctx = self._ctx(req.user_id, req.workflow_id, req.day, f"orchestrator-{req.workflow_id}", req.deadline)
        ctx.max_tasks = req.can_add
        tools = orchestrator_tools(ctx)
        key = f"review:{req.workflow_id}:{req.now}"
        prompt = prompts.review_prompt(req, self.config.integrations.visible_to(req.user_id))
        outcome = await self._run(ctx, key, "orchestrator", prompt,
                                  self._options(prompts.ORCHESTRATOR, self.config.orchestrator_model, tools, [], ctx))
        retry: list[str] = []
        match = _RETRY.search(outcome.text)
        if match and match.group(1).strip().lower() != "none":
            retry = [r.strip() for r in match.group(1).split(",") if r.strip()]
        return ReviewResult(new_tasks=ctx.drafts, retry_task_ids=retry, note=outcome.text.split("\nRETRY:")[0][:300],
                            cost_usd=_cost(outcome))

    async def advise(self, req: AdviceRequest) -> str:
        return await self._ask(req.user_id, req.workflow_id, req.day, f"advise:{req.workflow_id}:{req.task.task_id}",
                               prompts.advise_prompt(req))

    async def next_steps(self, req: NextStepsRequest) -> str:
        return await self._ask(req.user_id, req.workflow_id, req.day, f"next:{req.workflow_id}",
                               prompts.next_steps_prompt(req))

    async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult:
        workspace = self.workspace(req.user_id, req.day, req.short_id)
        ctx = self._ctx(req.user_id, req.workflow_id, req.day, f"executor-{req.short_id}-r{req.round}", req.deadline)
        ctx.task_id, ctx.monitor, ctx.warn_at = req.task_id, monitor, req.warn_at
        tools = executor_tools(ctx)
        allowed = allowed_tools(req.capabilities)

        async def record_denial(tool: str, reason: str) -> None:
            await self.store.audit.record_denial(req.user_id, req.task_id, tool, reason)

        servers = [s for s in self.config.integrations.for_capabilities(req.capabilities) if s.allowed_for(req.user_id)]
        guard = WorkspaceGuard(workspace, allowed, record_denial, allowed_domains=self._domains(req.capabilities),
                               allowed_prefixes=[s.tool_prefix for s in servers])
        options = self._options(prompts.EXECUTOR, self.config.executor_model,
                                [t for t in tools if f"mcp__dayshift__{t.name}" in allowed],
                                builtin_tools(req.capabilities), ctx, cwd=workspace, guard=guard)
        # Launchers of the task's MCP servers (their secrets inside), in a private folder Bash cannot read.
        launchers = Path(tempfile.mkdtemp(prefix="mcp-", dir=self._config_root()))
        for s in servers:
            options.mcp_servers[s.name] = sdk_server_config(s, launchers)  # type: ignore[index,assignment]
            options.allowed_tools.append(f"mcp__{s.name}")
        capabilities = {s.capability: s.description for s in servers}
        prompt = prompts.execute_prompt(req, str(workspace), capabilities)
        scratch = Path(tempfile.mkdtemp(prefix="ds-", dir=_scratch_root()))
        if "Bash" in builtin_tools(req.capabilities):  # the sandbox covers Bash only; others skip its start-up cost
            options.sandbox = self._sandbox(workspace, req.capabilities, scratch)
        options.env = {"CLAUDE_CODE_TMPDIR": str(scratch)}
        assert options.hooks is not None
        options.hooks["PostToolUse"] = [HookMatcher(matcher=None, hooks=[_wrap_up_hook(req.warn_at)])]
        options.session_store = self.store.sessions  # type: ignore[assignment]
        options.resume = monitor.resume_session_id
        key = f"exec:{req.task_id}:r{req.round}:{monitor.resume_session_id or 'new'}:{datetime.now(UTC).isoformat()}"
        try:
            outcome = await self._run(ctx, key, "executor", prompt, options, monitor=monitor)
        except AgentFailure as failure:
            if options.resume and "conversation" in failure.message.lower():
                options.resume = None  # the stored session is gone: start over rather than fail
                outcome = await self._run(ctx, key + ":fresh", "executor", prompt, options,
                                          monitor=monitor)
            else:
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(launchers, ignore_errors=True)
        artifacts = sorted(redact(str(p.relative_to(workspace))) for p in workspace.rglob("*")
                           if p.is_file() and p.relative_to(workspace).parts[0] not in _NOT_ARTIFACTS)
        if ctx.completed_output is None and not artifacts:
            raise AgentFailure("executor stopped without calling complete_task or producing an artifact",
                               retryable=True, kind="Incomplete")
        # Kept in the database now: the report may be delivered by a worker that never saw this disk.
        await self.store.artifacts.collect(req.user_id, req.task_id, req.workflow_id, req.day, workspace, artifacts,
                                           self.config.artifact_caps)
        usage = (outcome.result.usage or {}) if outcome.result else {}
        return ExecResult(output=redact(ctx.completed_output or f"Artifacts: {', '.join(artifacts)}"),
                          artifacts=artifacts,
                          session_id=outcome.session_id, cost_usd=_cost(outcome),
                          input_tokens=int(usage.get("input_tokens", 0)),
                          output_tokens=int(usage.get("output_tokens", 0)))

    # ---- plumbing ---------------------------------------------------------------------------------

    def workspace(self, user_id: str, day: str, short_id: str) -> Path:
        path = (self.config.data_dir / "workspaces" / _safe(user_id) / _safe(day) / _safe(short_id)).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _ctx(self, user_id: str, workflow_id: str, day: str, agent_id: str, deadline: str) -> AgentContext:
        return AgentContext(store=self.store, user_id=user_id, workflow_id=workflow_id, day=day, agent_id=agent_id,
                            deadline=deadline, send_message=self.send_message, policy=self.config.policy,
                            integrations=self.config.integrations, http=self.config.http_tool,
                            scratch=ScratchDatabases(self.config.data_dir / "scratch-db"))

    def _domains(self, capabilities: list[str]) -> tuple[str, ...]:
        return self.config.policy.http_allowed_domains if "http" in capabilities else ()

    def _sandbox(self, workspace: Path, capabilities: list[str], scratch: Path) -> SandboxSettings:
        """Bash reads nothing of the data dir but its own workspace, nor the service user's home.

        ``scratch`` is the run's own temp dir (the sandbox's TMPDIR and its proxy sockets): short, because
        a unix socket path has to fit in 108 bytes, and private, unlike the CLI's default shared /tmp/claude-UID.
        """
        deny = [str(self.config.data_dir.resolve()), str(self.config.service_home), *SHARED_TEMP,
                *self.config.policy.deny_read]
        # Bash may reach the allowlisted domains only when the task is also allowed http.
        return cast(SandboxSettings, sandbox_settings(workspace, deny, self._domains(capabilities), scratch))

    async def _model_gateway(self) -> ModelGateway:
        if self._gateway is None:
            upstream = self.config.base_url or "https://api.anthropic.com"
            self._gateway = ModelGateway(upstream, self.config.api_key)
        return await self._gateway.start()

    def _env(self, config_dir: str, scratch: str | None, base_url: str, token: str) -> dict[str, str]:
        """The agent's whole environment: nothing of the worker's but PATH and locale (see agents.env)."""
        tmp = scratch or str(Path(config_dir) / "tmp")
        Path(tmp).mkdir(parents=True, exist_ok=True)
        fixed = {"HOME": config_dir, "TMPDIR": tmp, "CLAUDE_CODE_TMPDIR": tmp,
                 "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
                 "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                 "CLAUDE_CODE_MAX_RETRIES": str(self.config.cli_max_retries),
                 "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": token}
        return agent_environment(os.environ, fixed)

    def _options(self, system: str, model: str, mcp_tools: list[Any], builtins: list[str], ctx: AgentContext, *,
                 cwd: Path | None = None, guard: WorkspaceGuard | None = None) -> ClaudeAgentOptions:
        options = ClaudeAgentOptions(
            system_prompt=system, model=model, tools=builtins, mcp_servers={"dayshift": server(mcp_tools)},
            allowed_tools=tool_names(mcp_tools), setting_sources=[], strict_mcp_config=True,
            max_turns=self.config.max_turns, max_budget_usd=self.config.agent_budget_usd,
            cwd=str(cwd or self.config.data_dir), client_app="dayshift/0.1",
        )
        if guard is not None:
            options.hooks = {"PreToolUse": [HookMatcher(matcher=None, hooks=[guard.pre_tool_use],  # type: ignore[list-item]
                                                        on_failure="block")]}
            options.can_use_tool = guard.can_use_tool
        else:
            options.permission_mode = "dontAsk"
        return options

    async def _ask(self, user_id: str, workflow_id: str, day: str, key: str, prompt: str) -> str:
        ctx = self._ctx(user_id, workflow_id, day, f"orchestrator-{workflow_id}", "")
        options = self._options(prompts.ORCHESTRATOR, self.config.orchestrator_model, [], [], ctx)
        options.max_turns = 2
        outcome = await self._run(ctx, key, "orchestrator", prompt, options)
        return outcome.text.strip()[:1000]

    async def _run(self, ctx: AgentContext, ledger_key: str, kind: str, prompt: str, options: ClaudeAgentOptions, *,
                   monitor: RunMonitor | None = None) -> RunOutcome:
        ledger_key = f"{ledger_key}:{uuid.uuid4().hex[:12]}"  # one ledger row per run: a retry never overwrites
        try:
            if monitor is not None:
                monitor.waiting(True)  # waiting for other agents' holds to settle is not a stall
            held = await self.store.ledger.reserve(ctx.user_id, ctx.day, ledger_key,
                                                   amount_usd=self.config.agent_budget_usd,
                                                   daily_cap_usd=self.config.daily_budget_usd, agent_kind=kind,
                                                   task_id=ctx.task_id)
        except BudgetExceeded as exc:
            raise AgentFailure(str(exc), retryable=False, kind="BudgetExceeded") from exc
        options.max_budget_usd = min(options.max_budget_usd or held, held)  # what remains may be less than a cap
        outcome: RunOutcome | None = None
        failed_result: ResultMessage | None = None
        try:
            if monitor is not None:
                monitor.waiting(True)  # queued behind other agents: heartbeats go on, the watchdog waits
            async with self._slots:
                if monitor is not None:
                    monitor.waiting(False)
                started = _agent_event("agent_started", ctx, role=kind, model=options.model)
                outcome = await self._session(options, prompt, monitor)
            return outcome
        except AgentFailure as failure:
            # A run that ended in an error result still spent money: book what its result says it cost.
            failed_result = failure.spent if isinstance(failure.spent, ResultMessage) else None
            raise
        finally:
            last = outcome.result if outcome else failed_result
            cost = float(last.total_cost_usd or 0.0) if last is not None else 0.0
            usage = (last.usage or {}) if last is not None else {}
            if "started" in locals():  # the spec's agent_finished event (ops); agents/ cannot import workflows/
                _agent_event("agent_finished", ctx, role=kind, model=options.model, cost_usd=cost,
                             ok=outcome is not None, input_tokens=int(usage.get("input_tokens", 0)),
                             output_tokens=int(usage.get("output_tokens", 0)),
                             seconds=round(time.monotonic() - started, 3))
            await asyncio.shield(self.store.ledger.settle(
                ctx.user_id, ledger_key, actual_usd=cost, input_tokens=int(usage.get("input_tokens", 0)),
                output_tokens=int(usage.get("output_tokens", 0))))

    async def _session(self, options: ClaudeAgentOptions, prompt: str, monitor: RunMonitor | None) -> RunOutcome:
        config_dir = tempfile.mkdtemp(prefix="claude-cfg-", dir=self._config_root())
        gateway = await self._model_gateway()
        token = gateway.issue(self.config.run_token_cap)
        env = self._env(config_dir, options.env.get("CLAUDE_CODE_TMPDIR"), gateway.base_url, token)
        options.cli_path = write_launcher(Path(config_dir) / "launch-cli", env)
        # Only these reach the SDK (the launcher passes CLAUDE_CONFIG_DIR on: the SDK repoints it on resume).
        options.env = {"CLAUDE_CONFIG_DIR": config_dir,
                       **{k: v for k, v in options.env.items() if k == "CLAUDE_CODE_TMPDIR"}}
        client = ClaudeSDKClient(options)
        texts: list[str] = []
        result: ResultMessage | None = None
        session_id: str | None = options.resume
        try:
            await client.connect()
            await client.query(prompt)
            async for message in client.receive_response():
                if monitor is not None:
                    monitor.touch()
                if isinstance(message, SystemMessage) and message.subtype == "init":
                    session_id = str(message.data.get("session_id") or session_id or "") or None
                    if session_id and monitor is not None:
                        monitor.set_session(session_id)
                elif isinstance(message, AssistantMessage):
                    texts += [b.text for b in message.content if hasattr(b, "text") and isinstance(b.text, str)]
                elif isinstance(message, ResultMessage):
                    result = message
                    session_id = message.session_id or session_id
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                raise
            raise _redacted(classify(exc)) from exc
        finally:
            await asyncio.shield(_disconnect(client))
            gateway.revoke(token)
            shutil.rmtree(config_dir, ignore_errors=True)
        if result is not None and result.is_error:
            failure = _redacted(classify_result(result))
            failure.spent = result  # its cost is booked by _run
            raise failure
        final = (result.result if result and result.result else "\n".join(texts)) or ""
        return RunOutcome(result=result, session_id=session_id, text=redact(final))  # it goes to history and Slack

    def _config_root(self) -> str:
        root = self.config.data_dir / "agent-config"
        root.mkdir(parents=True, exist_ok=True)
        return str(root)


def _wrap_up_hook(warn_at: str) -> Any:
    """After each tool call past the warning time, tell the executor (once) to wrap up.

    A hook's ``additionalContext`` reaches the model mid-turn; a queued user message would only be
    read after the turn ends, which for a busy executor is too late.
    """
    told: list[bool] = []

    async def hook(hook_input: dict[str, Any], tool_use_id: str | None, context: Any) -> dict[str, Any]:
        if told or datetime.now(UTC) < datetime.fromisoformat(warn_at):
            return {}
        told.append(True)
        return {"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": prompts.WRAP_UP}}

    return hook


async def _disconnect(client: ClaudeSDKClient) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), timeout=10)
    except Exception as exc:  # a dead CLI must not mask the real outcome
        log.debug("disconnect failed: %s", exc)


def _scratch_root() -> str:
    root = tempfile.gettempdir()
    return root if len(root) <= 24 else "/tmp"


def _redacted(failure: AgentFailure) -> AgentFailure:
    """An error message goes into Temporal's history and SQLite: mask any secret it quotes."""
    failure.message = redact(failure.message)
    failure.args = (failure.message,)
    return failure


def _cost(outcome: RunOutcome | None) -> float:
    return float(outcome.result.total_cost_usd or 0.0) if outcome and outcome.result else 0.0


def _safe(part: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", part).strip(".")
    return cleaned or "_"



def _agent_event(name: str, ctx: AgentContext, **fields: Any) -> float:
    """One of the spec's log events, shaped like workflows.events.emit; returns a monotonic start time."""
    logging.getLogger("dayshift.events").info(name, extra={
        "event": name, "workflow_id": ctx.workflow_id, "user_id": ctx.user_id, "task_id": ctx.task_id,
        "data": fields})
    return time.monotonic()
