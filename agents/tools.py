"""The ``dayshift`` in-process MCP server: the tools orchestrator and executors call.

Every tool is scoped by the ``AgentContext`` it was built with: one user, one day, one task.
Nothing an agent passes in can name another user.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from claude_agent_sdk import SdkMcpTool, create_sdk_mcp_server, tool
from claude_agent_sdk.types import McpSdkServerConfig

from agents.contracts import RunMonitor, TaskDraft
from agents.http_tool import HttpRefused, HttpTool
from agents.integrations import Integrations
from agents.integrations_db import ScratchDatabases, ScratchRefused
from agents.profiles import unknown_capabilities
from agents.sandbox import ContainmentPolicy, capability_problem
from storage.memory import MAX_VALUE
from storage.models import TaskStatus
from storage.redaction import redact
from storage.store import Store

SERVER = "dayshift"
# Memory keys only the workflow writes (e.g. shift.deadline_warning): agents may read them, never set them.
RESERVED_MEMORY_PREFIXES = ("shift.", "system.", "dayshift.", "_")
SendMessage = Callable[[str, str], Awaitable[None]]


@dataclass
class AgentContext:
    store: Store
    user_id: str
    workflow_id: str
    day: str
    agent_id: str
    deadline: str
    warn_at: str | None = None
    task_id: str | None = None
    monitor: RunMonitor | None = None
    max_tasks: int = 8
    drafts: list[TaskDraft] = field(default_factory=list)
    completed_output: str | None = None
    send_message: SendMessage | None = None
    policy: ContainmentPolicy = field(default_factory=ContainmentPolicy)
    integrations: Integrations = field(default_factory=Integrations)
    http: HttpTool | None = None
    scratch: ScratchDatabases | None = None


def _ok(payload: object) -> dict[str, Any]:
    text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return {"content": [{"type": "text", "text": text}]}


def _err(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "is_error": True}


def shared_tools(ctx: AgentContext) -> list[SdkMcpTool[Any]]:
    @tool("read_memory", "Read a value from this user's shared memory (empty key lists the keys).", {"key": str})
    async def read_memory(args: dict[str, Any]) -> dict[str, Any]:
        key = str(args.get("key", "")).strip()
        if not key:
            return _ok({"keys": [m.state_key for m in await ctx.store.memory.all(ctx.user_id, limit=50)]})
        entry = await ctx.store.memory.get(ctx.user_id, key)
        return _ok({"key": key, "value": entry.state_value if entry else None})

    @tool("write_memory", "Store a value in this user's shared memory for other agents and future days.",
          {"key": str, "value": str})
    async def write_memory(args: dict[str, Any]) -> dict[str, Any]:
        key, value = str(args.get("key", "")).strip(), redact(str(args.get("value", "")))
        if key.lower().startswith(RESERVED_MEMORY_PREFIXES) or not key.isprintable():
            return _err(f"keys starting with {', '.join(RESERVED_MEMORY_PREFIXES)} are reserved for Dayshift")
        try:
            await ctx.store.memory.set(ctx.user_id, key, value, ctx.agent_id)
        except ValueError as exc:
            return _err(str(exc))
        return _ok(f"stored {key} ({len(value)} characters; limit {MAX_VALUE})")

    @tool("list_tasks", "List today's tasks of this user, optionally filtered by status (or 'all').",
          {"status": str})
    async def list_tasks(args: dict[str, Any]) -> dict[str, Any]:
        status = str(args.get("status", "all")).strip().lower() or "all"
        try:
            statuses = None if status == "all" else [TaskStatus(status)]
        except ValueError:
            return _err(f"unknown status {status!r}; use one of: all, " + ", ".join(s.value for s in TaskStatus))
        rows = await ctx.store.tasks.for_user(ctx.user_id, statuses=statuses, workflow_id=ctx.workflow_id)
        return _ok([{"id": t.short_id, "status": t.status.value, "progress": t.progress,
                     "description": t.description[:200]} for t in rows[:50]])

    @tool("get_current_time", "The current time, today's deadline and the minutes left.", {})
    async def get_current_time(args: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        left = (datetime.fromisoformat(ctx.deadline) - now).total_seconds() / 60 if ctx.deadline else None
        warning = bool(ctx.warn_at and now >= datetime.fromisoformat(ctx.warn_at))
        return _ok({"now": now.isoformat(timespec="seconds"), "deadline": ctx.deadline,
                    "minutes_left": round(left, 1) if left is not None else None,
                    "wrap_up": warning})

    return [read_memory, write_memory, list_tasks, get_current_time]


def orchestrator_tools(ctx: AgentContext) -> list[SdkMcpTool[Any]]:
    @tool("create_task", "Create one of today's tasks. capabilities: any of files, http, compute, notify, research, "
                         "database, or an integration capability listed in your prompt.",
          {"description": str, "capabilities": list, "category": str})
    async def create_task(args: dict[str, Any]) -> dict[str, Any]:
        description = redact(" ".join(str(args.get("description", "")).split()))
        capabilities = [str(c) for c in args.get("capabilities") or []]
        category = str(args.get("category") or "general")[:40]
        if not description:
            return _err("description is empty")
        if len(description) > 2000:
            return _err("description is longer than 2000 characters")
        unknown = [c for c in unknown_capabilities(capabilities) if c not in ctx.integrations.visible_to(ctx.user_id)]
        if unknown:
            extra = "".join(f", {c}" for c in ctx.integrations.visible_to(ctx.user_id))
            return _err(f"unknown capabilities {unknown}; use files, http, compute, notify, research, database{extra}")
        problem = await capability_problem(capabilities, ctx.policy)
        if problem:
            return _err(f"cannot create this task here: {problem}. Choose other capabilities.")
        if len(ctx.drafts) >= ctx.max_tasks:
            return _err(f"today already has the maximum of {ctx.max_tasks} generated tasks")
        ctx.drafts.append(TaskDraft(description=description, capabilities=capabilities, category=category))
        return _ok(f"task {len(ctx.drafts)} created")

    @tool("query_history", "Archived tasks of the last N days (1-90) of this user, newest first, at most 40.",
          {"days": int})
    async def query_history(args: dict[str, Any]) -> dict[str, Any]:
        try:
            days = max(1, min(90, int(args.get("days", 7))))
        except (TypeError, ValueError):
            return _err("days must be a number from 1 to 90")
        rows = await ctx.store.history.last_days(ctx.user_id, days, datetime.fromisoformat(ctx.day).date())
        return _ok([{"day": h.day, "status": h.status.value, "category": h.category,
                     "description": h.description[:160], "error": (h.error_message or "")[:160]}
                    for h in rows[:40]] or "no archived tasks in that range")

    return [create_task, query_history, *shared_tools(ctx)]


def executor_tools(ctx: AgentContext) -> list[SdkMcpTool[Any]]:
    @tool("report_progress", "Report progress on your task: percent 0-100 and a short note.",
          {"percent": int, "note": str})
    async def report_progress(args: dict[str, Any]) -> dict[str, Any]:
        try:
            percent = int(args.get("percent", 0))
        except (TypeError, ValueError):
            return _err("percent must be a whole number from 0 to 100")
        if ctx.monitor is not None:
            # Progress notes become heartbeat details, kept in the Temporal history: redact before they leave.
            await ctx.monitor.progress(percent, redact(str(args.get("note", ""))[:2000])[:200] or None)
        return _ok(f"progress recorded: {max(0, min(100, percent))}%")

    @tool("complete_task", "Mark your task complete with its output (a summary of the result).", {"output": str})
    async def complete_task(args: dict[str, Any]) -> dict[str, Any]:
        output = str(args.get("output", "")).strip()
        if not output:
            return _err("output is empty: say what you produced")
        ctx.completed_output = redact(output[:20_000])
        if ctx.monitor is not None:
            await ctx.monitor.progress(100, "completed")
        return _ok("task marked complete; stop now")

    @tool("send_message", "Send a short message to the user who owns this shift.", {"text": str})
    async def send_message(args: dict[str, Any]) -> dict[str, Any]:
        text = redact(str(args.get("text", "")).strip()[:3000])
        if not text:
            return _err("text is empty")
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        key = f"{ctx.workflow_id}:{ctx.task_id}:send_message:{digest}"
        if await ctx.store.audit.tool_result(key) is not None:
            return _ok("already sent (not sent twice)")
        if ctx.send_message is not None:
            await ctx.send_message(ctx.user_id, text)
        await ctx.store.audit.record_tool_result(key, ctx.user_id, "send_message", "sent")
        return _ok("sent")

    @tool("http_request", "Call an HTTP API on the deployment's allowed domains. method: GET, POST, PUT, PATCH or "
          "DELETE; url; headers (object, optional); json (any, optional) or body (text, optional). Credentials are "
          "added for you: never ask for them.", {"method": str, "url": str, "headers": dict, "json": dict, "body": str})
    async def http_request(args: dict[str, Any]) -> dict[str, Any]:
        if ctx.http is None:
            return _err("http_request is not available in this deployment")
        headers = args.get("headers") or {}
        if not isinstance(headers, dict):
            return _err("headers must be an object of header names to values")
        try:
            result = await ctx.http.request(str(args.get("method") or "GET"), str(args.get("url") or ""),
                                            headers={str(k): str(v) for k, v in headers.items()},
                                            json_body=args.get("json"),
                                            text_body=str(args["body"]) if args.get("body") is not None else None)
        except HttpRefused as exc:
            return _err(f"refused: {exc}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _err(f"request failed: {redact(str(exc))[:300] or type(exc).__name__}")
        return _ok(result.as_tool_text())

    @tool("db_query", "Read your scratch database (SQLite, yours alone, kept across days): one SELECT, with "
          "optional params (a list for ? placeholders). At most 200 rows.", {"sql": str, "params": list})
    async def db_query(args: dict[str, Any]) -> dict[str, Any]:
        return await _scratch(ctx, "query", args)

    @tool("db_execute", "Change your scratch database: one CREATE TABLE, INSERT, UPDATE or DELETE, with optional "
          "params (a list for ? placeholders).", {"sql": str, "params": list})
    async def db_execute(args: dict[str, Any]) -> dict[str, Any]:
        return await _scratch(ctx, "execute", args)

    return [report_progress, complete_task, send_message, http_request, db_query, db_execute, *shared_tools(ctx)]


async def _scratch(ctx: AgentContext, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    if ctx.scratch is None:
        return _err("the database capability is not available here")
    params = args.get("params") or []
    if not isinstance(params, list):
        return _err("params must be a list")
    try:
        run = ctx.scratch.query if kind == "query" else ctx.scratch.execute
        return _ok(await run(ctx.user_id, str(args.get("sql") or ""), params))
    except ScratchRefused as exc:
        return _err(str(exc))


def server(tools: list[SdkMcpTool[Any]]) -> McpSdkServerConfig:
    return create_sdk_mcp_server(SERVER, tools=tools)


def tool_names(tools: list[SdkMcpTool[Any]]) -> list[str]:
    return [f"mcp__{SERVER}__{t.name}" for t in tools]
