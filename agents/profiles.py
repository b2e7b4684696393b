"""Capability profiles: which built-in Claude Code tools an executor gets for each capability."""

from __future__ import annotations

PROFILES: dict[str, tuple[str, ...]] = {
    "files": ("Read", "Write", "Edit", "Glob", "Grep"),
    "http": ("WebFetch", "mcp__dayshift__http_request"),
    "compute": ("Bash",),
    "notify": ("mcp__dayshift__send_message",),
    "research": ("Read", "Glob", "Grep"),
    # A per-user scratch SQLite database kept across days (agents/integrations_db.py), never the application's.
    "database": ("mcp__dayshift__db_query", "mcp__dayshift__db_execute"),
}

ALWAYS = (
    "mcp__dayshift__report_progress",
    "mcp__dayshift__complete_task",
    "mcp__dayshift__read_memory",
    "mcp__dayshift__write_memory",
    "mcp__dayshift__list_tasks",
    "mcp__dayshift__get_current_time",
)

FILE_TOOLS = frozenset({"Read", "Write", "Edit", "Glob", "Grep", "NotebookEdit", "MultiEdit"})


def unknown_capabilities(capabilities: list[str]) -> list[str]:
    return [c for c in capabilities if c not in PROFILES]


def _without_racing_file_tools(tools: dict[str, None]) -> list[str]:
    """With Bash, the in-process file tools go: Bash does their work inside the sandbox.

    The file tools run in the CLI process, outside the sandbox; the guard checks a path before the CLI
    opens it, and a Bash command could swap a symlink in between. Without them there is nothing to race.
    """
    if "Bash" in tools:
        return [t for t in tools if t not in FILE_TOOLS]
    return list(tools)


def builtin_tools(capabilities: list[str]) -> list[str]:
    """Built-in (non-MCP) tools for the capabilities, in a stable order, without duplicates."""
    seen: dict[str, None] = {}
    for cap in capabilities or ["files"]:
        for tool in PROFILES.get(cap, ()):
            if not tool.startswith("mcp__"):
                seen[tool] = None
    return _without_racing_file_tools(seen)


def allowed_tools(capabilities: list[str]) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(ALWAYS)
    for cap in capabilities or ["files"]:
        for tool in PROFILES.get(cap, ()):
            seen[tool] = None
    return _without_racing_file_tools(seen)
