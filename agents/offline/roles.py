"""The scripted roles the offline model plays. Each returns the next assistant turn for a conversation.

They behave like a careful agent would: the orchestrator looks at history before planning and creates
tasks through ``create_task``; executors report progress, produce an artifact in their workspace with
the tools their profile grants, and finish with ``complete_task``. Directives in a task's text
(``[[offline:NAME key=value]]``) make an executor misbehave on purpose, for tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from agents.offline.conversation import Conversation

CATALOG: list[tuple[str, list[str], str]] = [
    ("Summarise yesterday's completed work into a short changelog", ["files"], "docs"),
    ("Review open TODO notes and group them by theme", ["files"], "planning"),
    ("Draft the weekly team update from recent history", ["files"], "docs"),
    ("Compute simple statistics of last week's task outcomes", ["files", "compute"], "analysis"),
    ("Prepare a checklist for tomorrow's priorities", ["files"], "planning"),
    ("Write a retrospective note on recurring failures", ["files"], "quality"),
    ("Collect useful links mentioned in shared memory into a reading list", ["files"], "research"),
    ("Tidy the shared memory: note which keys are stale", ["files"], "maintenance"),
]


@dataclass
class Turn:
    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    delay: float = 0.0
    error: tuple[int, str, str] | None = None  # (status, error type, message)
    extra_output_tokens: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


def text(message: str) -> Turn:
    return Turn([{"type": "text", "text": message}])


def tools(*calls: tuple[str, dict[str, Any]], note: str | None = None) -> Turn:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": note}] if note else []
    for name, args in calls:
        blocks.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:22]}", "name": name, "input": args})
    return Turn(blocks, stop_reason="tool_use")


def script(*calls: tuple[str, dict[str, Any]]) -> str:
    """A directive that makes an executor call these tools in order, then complete with what each returned.

    For containment tests: the task output (and the offline model's ``tool_results``) show exactly
    what an attacker driving the executor would have seen.
    """
    payload = base64.urlsafe_b64encode(json.dumps([[name, args] for name, args in calls]).encode()).decode()
    return f"[[offline:script calls={payload}]]"


def _script_calls(arg: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        return [(str(n), dict(a)) for n, a in json.loads(base64.urlsafe_b64decode(arg.encode()))]
    except (ValueError, TypeError):
        return []


def tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (tool, input, result text, is_error) the CLI sent back in this conversation."""
    uses: dict[str, tuple[str, Any]] = {}
    found: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                uses[str(block.get("id"))] = (str(block.get("name")), block.get("input"))
            elif block.get("type") == "tool_result":
                raw = block.get("content")
                text_ = raw if isinstance(raw, str) else "\n".join(
                    str(b.get("text", "")) for b in raw or [] if isinstance(b, dict))
                name, args = uses.get(str(block.get("tool_use_id")), ("?", None))
                found.append({"id": str(block.get("tool_use_id")), "tool": name, "input": args, "content": text_,
                              "is_error": bool(block.get("is_error"))})
    return found


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:8], 16)


def orchestrator_plan(conv: Conversation) -> Turn:
    if conv.turn == 0:
        return tools(("mcp__dayshift__query_history", {"days": 7}),
                     ("mcp__dayshift__read_memory", {"key": "carry_over"}),
                     note="Let me look at recent history and shared memory first.")
    if conv.turn == 1:
        day = conv.field("Day") or ""
        user = conv.field("User") or ""
        seed = _seed(user, day)
        count = 3 + seed % 3
        start = seed % len(CATALOG)
        picks = [CATALOG[(start + i) % len(CATALOG)] for i in range(count)]
        return tools(*[("mcp__dayshift__create_task",
                        {"description": d, "capabilities": caps, "category": cat}) for d, caps, cat in picks],
                     note=f"I'll plan {count} tasks for today.")
    created = conv.prompt.count("mcp__dayshift__create_task")
    return text(f"Planned today's work after reviewing history. {created or ''}".strip())


def orchestrator_review(conv: Conversation) -> Turn:
    if conv.turn == 0:
        return tools(("mcp__dayshift__list_tasks", {"status": "all"}), ("mcp__dayshift__get_current_time", {}))
    retry = [line.split()[1] for line in conv.prompt.splitlines()
             if line.startswith("- ") and "pre-validation failed" in line and "retry-ok" in line]
    return text("Reviewed the checkpoint; nothing needs re-planning.\nRETRY: " + (", ".join(retry) or "none"))


def orchestrator_advise(conv: Conversation) -> Turn:
    error = conv.field("Error") or "an unknown error"
    transient = any(w in error.lower() for w in ("overload", "529", "500", "timeout", "timed out", "rate", "network"))
    if transient:
        return text(f"This looks transient ({error[:120]}). Retry it once; if it fails again, skip it for today.")
    return text(f"This will likely fail again ({error[:120]}). Skip it and rephrase the task for tomorrow.")


def orchestrator_next_steps(conv: Conversation) -> Turn:
    summary = conv.field("Summary") or ""
    if "0 in progress, 0 failed, 0 not started" in summary:
        return text("Everything finished. Tomorrow: build on today's changelog and pick the next priorities.")
    return text("Carry the unfinished and failed tasks into tomorrow's plan, and check the failure reasons first.")


def executor(conv: Conversation) -> Turn:
    d = conv.directives()
    workspace = conv.field("Workspace") or "."
    turn = conv.turn
    delay = float(d.get("slow", {}).get("seconds", 0))
    if "stall" in d:
        return Turn([{"type": "text", "text": "..."}], delay=float(d["stall"].get("seconds", 3600)))
    if "fail" in d:
        status = int(d["fail"].get("status", 500))
        kinds = {429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error",
                 401: "authentication_error"}
        return Turn([], error=(status, kinds.get(status, "api_error"), f"offline model told to fail ({status})"))
    if "marathon" in d:  # ops/demo: a long task, progress every N seconds, still running at the deadline
        step = tools(("mcp__dayshift__report_progress", {"percent": min(95, 5 + 7 * turn), "note": "Working on it"}))
        step.delay = float(d["marathon"].get("seconds", 10))
        return step
    last = json.dumps(conv.messages[-1]) if conv.messages else ""
    if "task marked complete" in last:
        return text("Task complete.")
    if "Wrap up now" in last:
        turn_ = tools(("mcp__dayshift__complete_task",
                       {"output": f"Wrapped up early at the deadline warning: {conv.field('Task') or 'task'}"}))
        turn_.delay = float(d.get("slow", {}).get("seconds", 0))
        return turn_
    if "script" in d:
        return _scripted(conv, _script_calls(d["script"].get("calls", "")))
    expensive = int(d.get("expensive", {}).get("tokens", 0))
    steps: list[Turn] = [tools(("mcp__dayshift__report_progress", {"percent": 10, "note": "Read the task"}),
                               note="Starting on the task.")]
    if "escape" in d:
        target = d["escape"].get("path", "../../outside.txt")
        steps.append(tools(("Write", {"file_path": target, "content": "escaped\n"})))
    if "bash" in d or "inject" in d:
        steps.append(tools(("Bash", {"command": d.get("bash", {}).get("cmd", "cat /etc/hostname")})))
    if "read" in d:
        steps.append(tools(("Read", {"file_path": d["read"].get("path", "/etc/hostname")})))
    if "notify" in d:
        steps.append(tools(("mcp__dayshift__send_message", {"text": "Heads-up from your shift: task in progress."})))
    if conv.has_tool("Write"):
        task = conv.field("Task") or "the task"
        steps.append(tools(("Write", {"file_path": f"{workspace}/artifact.md",
                                      "content": f"# Result\n\nTask: {task}\n\nDone by the offline executor.\n"})))
    elif conv.has_tool("Bash"):
        steps.append(tools(("Bash", {"command": "echo computed > artifact.txt"})))
    steps.append(tools(("mcp__dayshift__report_progress", {"percent": 60, "note": "Artifact written"})))
    if "slow" in d:
        steps += [tools(("mcp__dayshift__report_progress", {"percent": p, "note": "Still working"}))
                  for p in range(65, 100, 5)]
    steps.append(tools(("mcp__dayshift__complete_task",
                        {"output": f"Finished: {conv.field('Task') or 'task'}. Artifact in the workspace."})))
    steps.append(text("Task complete."))
    step = steps[min(turn, len(steps) - 1)]
    step.delay = delay
    step.extra_output_tokens = expensive
    return step


def _scripted(conv: Conversation, calls: list[tuple[str, dict[str, Any]]]) -> Turn:
    if conv.turn < len(calls):
        return tools(calls[conv.turn])
    if conv.turn == len(calls):
        seen = [r for r in tool_results(conv.messages) if not r["tool"].startswith("mcp__")]
        report = "\n".join(f"--- {r['tool']} {json.dumps(r['input'])} error={r['is_error']}\n{r['content'][:4000]}"
                           for r in seen)
        return tools(("mcp__dayshift__complete_task", {"output": f"Tool results:\n{report}"}))
    return text("Task complete.")


ROLES = {
    "plan": orchestrator_plan,
    "review": orchestrator_review,
    "advise": orchestrator_advise,
    "next_steps": orchestrator_next_steps,
    "execute": executor,
}


def respond(conv: Conversation) -> Turn:
    role = ROLES.get(conv.role)
    if role is None:
        return text("OK.")
    return role(conv)


def usage_for(conv: Conversation, turn: Turn) -> dict[str, int]:
    in_tokens = max(1, len(json.dumps(conv.messages)) // 4 + len(conv.system) // 4)
    out_tokens = max(1, len(json.dumps(turn.content)) // 4) + turn.extra_output_tokens
    return {"input_tokens": in_tokens, "output_tokens": out_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}
