"""Integrations: the team's own tools as MCP servers the deployment declares (issue 13 item 2).

``$DAYSHIFT_DATA_DIR/integrations.toml`` (or the file ``DAYSHIFT_INTEGRATIONS`` names) lists servers::

    [servers.git]
    capability = "git"
    description = "Read the team repository's history (repo_path=/srv/repo)"
    command = ["mcp-server-git", "--repository", "/srv/repo"]
    env = { GIT_TOKEN = "${DAYSHIFT_GIT_TOKEN}" }   # from the worker's environment, to this server only
    users = ["U123"]                                 # optional: who may use it

A server's secrets never reach the CLI or Bash: the CLI's environment is fixed by ``agents.env``, and the
CLI starts each server through a private launcher that ``exec``s it under ``env -i`` with the PATH and that
server's own variables; the MCP config on the CLI's command line names the launcher, not the secrets.
Bad config stops start-up with a message naming the file and line.
"""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.env import agent_environment, write_launcher
from agents.profiles import PROFILES

_NAME = r"^[a-z][a-z0-9_-]{0,30}$"
# No "_" in a server name: tools are mcp__<server>__<tool>, and "git_" would otherwise share git's prefix.
_SERVER = r"^[a-z][a-z0-9-]{0,30}$"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PROBE_TTL = 60.0


class IntegrationConfigError(ValueError):
    """The integrations file is wrong; the message names the file and the line."""


class Integration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_SERVER)
    capability: str = Field(pattern=_NAME)
    description: str = Field(min_length=1, max_length=200)
    command: list[str] | None = None
    url: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    users: list[str] | None = None
    start_timeout_seconds: float = Field(20.0, gt=0, le=120)

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("the description is one line (the orchestrator reads it when planning)")
        return value.strip()

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or not value[0].strip()):
            raise ValueError("command is empty: give the program and its arguments as a list")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"url must be http(s), got {value[:80]!r}")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> Integration:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of command (a stdio server) or url (an HTTP server)")
        if self.capability in PROFILES:
            raise ValueError(f"capability {self.capability!r} is built in; name the integration's own capability")
        return self

    def allowed_for(self, user_id: str) -> bool:
        return self.users is None or user_id in self.users

    @property
    def tool_prefix(self) -> str:
        return f"mcp__{self.name}__"


@dataclass
class Integrations:
    servers: dict[str, Integration] = field(default_factory=dict)
    source: str = ""
    _probes: dict[str, tuple[float, str | None]] = field(default_factory=dict)

    @property
    def capabilities(self) -> dict[str, str]:
        """capability -> description, as the orchestrator sees them."""
        return {s.capability: s.description for s in self.servers.values()}

    def for_capabilities(self, capabilities: Iterable[str]) -> list[Integration]:
        caps = set(capabilities)
        return [s for s in self.servers.values() if s.capability in caps]

    def visible_to(self, user_id: str) -> dict[str, str]:
        return {s.capability: s.description for s in self.servers.values() if s.allowed_for(user_id)}

    def problem(self, capabilities: Iterable[str], user_id: str) -> str | None:
        """Why these (non built-in) capabilities cannot be given to this user's task, without starting anything."""
        for cap in capabilities:
            if cap in PROFILES:
                continue
            servers = [s for s in self.servers.values() if s.capability == cap]
            if not servers:
                return (f"unknown capability: {cap} (not built in, and no integration of this deployment "
                        f"provides it: see {self.source or 'integrations.toml'})")
            if not any(s.allowed_for(user_id) for s in servers):
                return f"capability {cap} is not available to this user"
        return None

    async def start_problem(self, capabilities: Iterable[str], user_id: str) -> str | None:
        """``problem``, then: does every server the task needs start and answer MCP's tools/list?"""
        found = self.problem(capabilities, user_id)
        if found:
            return found
        for server in self.for_capabilities(capabilities):
            if not server.allowed_for(user_id):
                continue
            cached = self._probes.get(server.name)
            if cached is not None and time.monotonic() - cached[0] < PROBE_TTL:
                problem = cached[1]
            else:
                problem = await probe(server)
                self._probes[server.name] = (time.monotonic(), problem)
            if problem:
                return f"integration {server.name} ({server.capability}) is down: {problem}"
        return None


def server_environment(server: Integration) -> dict[str, str]:
    """The whole environment of a stdio server: PATH and locale of the worker, plus its own variables."""
    import os

    return agent_environment(os.environ, server.env)


def sdk_server_config(server: Integration, launcher_dir: Path) -> dict[str, Any]:
    """The ``ClaudeAgentOptions.mcp_servers`` entry: a stdio server runs through a private launcher."""
    if server.url is not None:
        return {"type": "http", "url": server.url}
    assert server.command is not None
    import shutil

    program = shutil.which(server.command[0]) or server.command[0]
    launcher = write_launcher(launcher_dir / f"mcp-{server.name}", server_environment(server), cli=program)
    return {"type": "stdio", "command": str(launcher), "args": list(server.command[1:])}


async def probe(server: Integration) -> str | None:
    """Start the server and list its tools; None if it answered, else what went wrong (one line)."""
    from mcp import ClientSession

    try:
        async with asyncio.timeout(server.start_timeout_seconds):
            if server.url is not None:
                from mcp.client.streamable_http import streamable_http_client

                async with streamable_http_client(server.url) as (read, write, *_):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        tools = await session.list_tools()
            else:
                import shutil

                from mcp import StdioServerParameters
                from mcp.client.stdio import stdio_client

                assert server.command is not None
                program = shutil.which(server.command[0])
                if program is None:
                    return f"command {server.command[0]!r} not found"
                params = StdioServerParameters(command=program, args=list(server.command[1:]),
                                               env=server_environment(server))
                async with stdio_client(params) as (read, write):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        tools = await session.list_tools()
    except TimeoutError:
        return f"did not answer within {server.start_timeout_seconds:g} s"
    except Exception as exc:  # whatever the server did, pre-validation reports it and the task waits
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    if not tools.tools:
        return "it offers no tools"
    return None


def integrations_of(runtime: object) -> Integrations:
    """The integrations of an agent runtime (a runtime without any offers none)."""
    found = getattr(runtime, "integrations", None)
    return found if isinstance(found, Integrations) else Integrations()


# ---- loading ------------------------------------------------------------------------------------------

_SERVER_KEYS = frozenset(Integration.model_fields) - {"name"}


def load_integrations(path: Path, environ: Mapping[str, str]) -> Integrations:
    """Read and check the file; every problem raises IntegrationConfigError naming ``path:line``."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IntegrationConfigError(f"{path}: {exc}") from exc
    lines = text.splitlines()

    def fail(server: str | None, needle: str | None, message: str) -> IntegrationConfigError:
        return IntegrationConfigError(f"{path}:{_line_of(lines, server, needle)}: {message}")

    for key in data:
        if key != "servers":
            raise fail(None, key, f"unknown key {key!r} (the file holds [servers.<name>] tables)")
    servers = data.get("servers", {})
    if not isinstance(servers, dict):
        raise fail(None, "servers", "servers must be tables: [servers.<name>]")
    found: dict[str, Integration] = {}
    for name, raw in servers.items():
        if not isinstance(raw, dict):
            raise fail(name, None, f"servers.{name} must be a table")
        for key in raw:
            if key not in _SERVER_KEYS:
                raise fail(name, key, f"unknown key {key!r} in servers.{name} "
                                      f"(known: {', '.join(sorted(_SERVER_KEYS))})")
        if isinstance(raw.get("command"), str):
            raw = {**raw, "command": raw["command"].split()}
        env = raw.get("env", {})
        if isinstance(env, dict):
            expanded = {}
            for var, value in env.items():
                value = str(value)
                for ref in _VAR.findall(value):
                    if ref not in environ:
                        raise fail(name, "${" + ref + "}",
                                   f"servers.{name}.env.{var} uses ${{{ref}}}, which is not set in the environment")
                expanded[str(var)] = _VAR.sub(lambda m: environ[m.group(1)], value)
            raw = {**raw, "env": expanded}
        try:
            server = Integration.model_validate({"name": name, **raw})
        except ValidationError as exc:
            err = exc.errors()[0]
            field_name = str(err["loc"][0]) if err["loc"] else None
            where = f"servers.{name}.{field_name}" if field_name else f"servers.{name}"
            raise fail(name, field_name, f"{where}: {err['msg']}") from exc
        found[name] = server
    return Integrations(servers=found, source=str(path))


def deployment_integrations(explicit: Path | None, data_dir: Path, environ: Mapping[str, str]) -> Integrations:
    """The deployment's integrations: the file DAYSHIFT_INTEGRATIONS names (which must exist), else
    ``<data dir>/integrations.toml`` when there is one, else none."""
    if explicit is not None:
        if not explicit.is_file():
            raise IntegrationConfigError(f"DAYSHIFT_INTEGRATIONS names {explicit}, which is not a file")
        return load_integrations(explicit, environ)
    default = data_dir / "integrations.toml"
    return load_integrations(default, environ) if default.is_file() else Integrations()


def _line_of(lines: list[str], server: str | None, needle: str | None) -> int:
    """The 1-based line of ``needle`` (a key, or a ${VAR}) in ``[servers.<server>]``, else of the header."""
    start, end = 0, len(lines)
    if server is not None:
        header = re.compile(rf"^\s*\[\s*servers\.\"?{re.escape(server)}\"?\s*(\.[^\]]*)?\]")
        for i, line in enumerate(lines):
            if header.match(line):
                start = i
                break
        for j in range(start + 1, len(lines)):
            stripped = lines[j].strip()
            if stripped.startswith("[") and not header.match(lines[j]):
                end = j
                break
    if needle is not None:
        key = re.compile(rf"^\s*\"?{re.escape(needle)}\"?\s*=")
        for i in range(start, end):
            if key.match(lines[i]) or (needle.startswith("${") and needle in lines[i]):
                return i + 1
    return start + 1
