"""Read what the CLI sent: role markers, directives, turn count, tool results."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_DIRECTIVE = re.compile(r"\[\[offline:([a-z_]+)((?:\s+[a-z_]+=[^\s\]]+)*)\]\]")
_MARKER = re.compile(r"\[dayshift:([a-z_]+)\]")


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            out.append(str(block.get("text", "")))
    return out


@dataclass
class Conversation:
    system: str
    messages: list[dict[str, Any]]
    tools: list[str]
    model: str
    prompt: str = ""
    turn: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Conversation:
        system = body.get("system") or ""
        if isinstance(system, list):
            system = "\n".join(_texts(system))
        messages = list(body.get("messages") or [])
        tools = [t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
        conv = cls(system=system, messages=messages, tools=tools, model=str(body.get("model", "offline")))
        conv.prompt = "\n".join(t for m in messages if m.get("role") == "user" for t in _texts(m.get("content")))
        conv.turn = sum(1 for m in messages if m.get("role") == "assistant")
        if messages and messages[-1].get("role") == "user" and isinstance(messages[-1].get("content"), list):
            last = messages[-1]["content"]
            conv.results = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
        return conv

    @property
    def role(self) -> str:
        match = _MARKER.search(self.prompt)
        if match:
            return match.group(1)
        if "mcp__dayshift__create_task" in self.tools:
            return "plan"
        if "mcp__dayshift__complete_task" in self.tools:
            return "execute"
        return "chat"

    def directives(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for name, args in _DIRECTIVE.findall(self.prompt):
            found[name] = dict(part.split("=", 1) for part in args.split())
        return found

    def field(self, label: str) -> str | None:
        match = re.search(rf"^{re.escape(label)}:\s*(.+)$", self.prompt, re.MULTILINE)
        if not match:
            return None
        return re.sub(r"</?untrusted_data[^>]*>", "", match.group(1)).strip()  # the value, not its delimiters

    def has_tool(self, name: str) -> bool:
        return name in self.tools
