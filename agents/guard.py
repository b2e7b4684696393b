"""Keep an executor inside its workspace and its capability profile.

Used as a PreToolUse hook (fires for every tool call, whatever the permission mode) and as the
``can_use_tool`` callback. Every denial is recorded through ``on_denial``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny
from claude_agent_sdk.types import PermissionResult

from agents.profiles import FILE_TOOLS

PATH_KEYS = ("file_path", "path", "notebook_path")
DenialSink = Callable[[str, str], Awaitable[None]]


class WorkspaceGuard:
    def __init__(self, workspace: Path, allowed: list[str], on_denial: DenialSink | None = None) -> None:
        self.workspace = workspace.resolve()
        self.allowed = set(allowed)
        self.on_denial = on_denial
        self.denials: list[tuple[str, str]] = []

    def _inside(self, raw: str) -> bool:
        candidate = Path(raw)
        if not candidate.is_absolute():
            candidate = self.workspace / candidate
        resolved = Path(os.path.realpath(candidate))  # follows symlinks planted in the workspace
        return resolved == self.workspace or self.workspace in resolved.parents

    def check(self, tool: str, args: dict[str, Any]) -> str | None:
        """None if allowed, else the reason for the denial."""
        if tool not in self.allowed:
            return f"tool {tool} is not in this task's capability profile"
        if tool in FILE_TOOLS:
            for key in PATH_KEYS:
                value = args.get(key)
                if isinstance(value, str) and value and not self._inside(value):
                    return f"{tool} may only touch files inside the task workspace (refused {value!r})"
            pattern = args.get("pattern")
            if tool == "Glob" and isinstance(pattern, str) and (pattern.startswith("/") or ".." in pattern):
                return f"Glob patterns must stay inside the task workspace (refused {pattern!r})"
        if tool == "Bash":
            command = str(args.get("command", ""))
            try:
                words = shlex.split(command)
            except ValueError:
                return "Bash command could not be parsed"
            for word in words:
                if ".." in word.split("/") or (word.startswith(("/", "~")) and not self._inside(word.lstrip("~"))):
                    return f"Bash may only touch paths inside the task workspace (refused {word!r})"
        return None

    async def _deny(self, tool: str, reason: str) -> None:
        self.denials.append((tool, reason))
        if self.on_denial is not None:
            await self.on_denial(tool, reason)

    async def pre_tool_use(self, hook_input: dict[str, Any], tool_use_id: str | None, context: Any) -> dict[str, Any]:
        tool = str(hook_input.get("tool_name", ""))
        reason = self.check(tool, dict(hook_input.get("tool_input") or {}))
        if reason is None:
            return {}
        await self._deny(tool, reason)
        return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                       "permissionDecisionReason": reason}}

    async def can_use_tool(self, tool: str, args: dict[str, Any], context: Any) -> PermissionResult:
        reason = self.check(tool, args)
        if reason is None:
            return PermissionResultAllow()
        await self._deny(tool, reason)
        return PermissionResultDeny(message=reason)
