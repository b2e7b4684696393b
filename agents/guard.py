"""Keep an executor's in-process tools inside its workspace, its profile and the egress allowlist.

Bash is contained by the OS sandbox (see ``agents.sandbox``), not by reading its words: a shell-word
check cannot contain a shell. The file tools and WebFetch run inside the CLI process, outside that
sandbox, so this guard checks them: real paths (symlinks followed) must stay in the workspace, a
hard-linked file is refused (it may be another name of a file outside), and URLs must be on the
allowlist and never resolve to loopback, private or metadata addresses.

Used as a PreToolUse hook (fires for every tool call, whatever the permission mode) and as the
``can_use_tool`` callback. Every denial is recorded through ``on_denial``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny
from claude_agent_sdk.types import PermissionResult

from agents.egress import url_problem
from agents.profiles import FILE_TOOLS

PATH_KEYS = ("file_path", "path", "notebook_path")
DenialSink = Callable[[str, str], Awaitable[None]]


class WorkspaceGuard:
    def __init__(self, workspace: Path, allowed: list[str], on_denial: DenialSink | None = None, *,
                 allowed_domains: Iterable[str] = (), allowed_prefixes: Iterable[str] = ()) -> None:
        self.workspace = workspace.resolve()
        self.allowed = set(allowed)
        # Every tool of the task's integration servers (``mcp__<server>__``), and no other server's.
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.allowed_domains = tuple(allowed_domains)
        self.on_denial = on_denial
        self.denials: list[tuple[str, str]] = []

    def _path_problem(self, tool: str, raw: str) -> str | None:
        candidate = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
        if not candidate.is_absolute():
            candidate = self.workspace / candidate
        resolved = Path(os.path.realpath(candidate))  # follows symlinks planted in the workspace
        if resolved != self.workspace and self.workspace not in resolved.parents:
            return f"{tool} may only touch files inside the task workspace (refused {raw!r})"
        try:
            st = resolved.stat()
        except OSError:
            return None  # a new file: nothing to alias
        if resolved.is_file() and st.st_nlink > 1:
            return f"{tool} refused {raw!r}: a hard-linked file may be another name of a file outside the workspace"
        return None

    async def check(self, tool: str, args: dict[str, Any]) -> str | None:
        """None if allowed, else the reason for the denial."""
        if tool not in self.allowed and not (self.allowed_prefixes and tool.startswith(self.allowed_prefixes)):
            return f"tool {tool} is not in this task's capability profile"
        if tool in FILE_TOOLS:
            for key in PATH_KEYS:
                value = args.get(key)
                if isinstance(value, str) and value:
                    problem = self._path_problem(tool, value)
                    if problem:
                        return problem
            pattern = args.get("pattern")
            if tool == "Glob" and isinstance(pattern, str) and (pattern.startswith(("/", "~")) or ".." in pattern):
                return f"Glob patterns must stay inside the task workspace (refused {pattern!r})"
        if tool == "Bash" and args.get("dangerouslyDisableSandbox"):
            return "Bash always runs in the sandbox; dangerouslyDisableSandbox is refused"
        if tool == "Bash" and args.get("run_in_background"):
            # A background command would outlive its sandboxed call (e.g. flipping a symlink between the
            # guard's check and a file tool's open); a foreground one ends with its PID namespace.
            return "Bash commands run in the foreground only; run_in_background is refused"
        if tool == "WebFetch":
            return await url_problem(str(args.get("url", "")), self.allowed_domains)
        return None

    async def _deny(self, tool: str, reason: str) -> None:
        self.denials.append((tool, reason))
        if self.on_denial is not None:
            await self.on_denial(tool, reason)

    async def pre_tool_use(self, hook_input: dict[str, Any], tool_use_id: str | None, context: Any) -> dict[str, Any]:
        tool = str(hook_input.get("tool_name", ""))
        reason = await self.check(tool, dict(hook_input.get("tool_input") or {}))
        if reason is None:
            return {}
        await self._deny(tool, reason)
        return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                       "permissionDecisionReason": reason}}

    async def can_use_tool(self, tool: str, args: dict[str, Any], context: Any) -> PermissionResult:
        reason = await self.check(tool, args)
        if reason is None:
            return PermissionResultAllow()
        await self._deny(tool, reason)
        return PermissionResultDeny(message=reason)
