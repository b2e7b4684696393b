"""The OS sandbox for executors and the deployment's containment policy.

Bash runs inside Claude Code's own sandbox (bubblewrap on Linux): writes only to the task's
workspace, the data dir, other workspaces and the service user's home unreadable, and no network
unless the task may reach named domains. ``failIfUnavailable`` makes the CLI refuse to run Bash
unsandboxed, and ``capability_problem`` refuses a shell task before it is ever started when the
sandbox cannot work on this machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.egress import private_answer

# Shared scratch space: other agents' files (and the SDK's resume copies) live there. Bash gets its own TMPDIR.
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm")
BWRAP_MISSING = "shell tasks need bubblewrap: apt-get install bubblewrap socat"
_PROBE_TTL = 60.0
_probe_cache: dict[str, tuple[float, str | None]] = {}


@dataclass(frozen=True)
class ContainmentPolicy:
    """What this deployment lets agents do. Plain values, from the settings."""

    http_allowed_domains: tuple[str, ...] = ()
    disabled_capabilities: frozenset[str] = field(default_factory=frozenset)
    deny_read: tuple[str, ...] = ()  # extra paths Bash may never read (e.g. the project's .env)


def sandbox_settings(workspace: Path, deny_read: Iterable[str], allowed_domains: Iterable[str],
                     scratch: Path) -> dict[str, Any]:
    """The ``sandbox`` block of the CLI's settings for one executor.

    ``filesystem`` and ``failIfUnavailable`` are read by the CLI although the SDK's TypedDict does not
    list them yet. ``allowRead`` re-opens the workspace inside the denied data dir. A denied folder is
    replaced by an empty tmpfs for each command, so writes there vanish with the command; everything
    else outside the workspace and ``scratch`` is mounted read-only. (A ``denyWrite`` on the data dir
    would also cover the workspace inside it: denies win over allows.)
    """
    return {
        "enabled": True,
        "autoAllowBashIfSandboxed": True,
        "allowUnsandboxedCommands": False,
        "failIfUnavailable": True,
        "network": {"allowedDomains": sorted(set(allowed_domains))},
        "filesystem": {"denyRead": sorted(set(deny_read)), "allowRead": [str(workspace), str(scratch)],
                       "allowWrite": [str(workspace), str(scratch)]},
    }


async def sandbox_problem(path: str | None = None) -> str | None:
    """None if Bash can be sandboxed here (bwrap and socat on PATH, and bwrap starts), else why not."""
    search = path if path is not None else os.environ.get("PATH", "")
    cached = _probe_cache.get(search)
    if cached is not None and time.monotonic() - cached[0] < _PROBE_TTL:
        return cached[1]
    problem = await _probe(search)
    _probe_cache[search] = (time.monotonic(), problem)
    return problem


async def _probe(search: str) -> str | None:
    bwrap = shutil.which("bwrap", path=search)
    if bwrap is None or shutil.which("socat", path=search) is None:
        return BWRAP_MISSING
    try:
        proc = await asyncio.create_subprocess_exec(
            bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--unshare-net",
            "--die-with-parent", "true", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=10)
    except (OSError, TimeoutError) as exc:
        return f"shell tasks need a working bubblewrap sandbox; it failed to start here: {exc}"
    if proc.returncode != 0:
        first = (err or b"").decode(errors="replace").strip().splitlines()[:1]
        return ("shell tasks need a working bubblewrap sandbox (user namespaces may be blocked here): "
                + (first[0] if first else f"exit {proc.returncode}"))
    return None


async def capability_problem(capabilities: Iterable[str], policy: ContainmentPolicy) -> str | None:
    """None if a task with these capabilities can run in this deployment, else the reason it cannot."""
    caps = list(capabilities)
    disabled = [c for c in caps if c in policy.disabled_capabilities]
    if disabled:
        return f"capability disabled in this deployment: {', '.join(disabled)}"
    if "http" in caps and not policy.http_allowed_domains:
        return "http tasks need allowed domains: set DAYSHIFT_HTTP_ALLOWED_DOMAINS"
    if "http" in caps:
        # Bash reaches a listed name through the sandbox's proxy, which does not look at addresses.
        for domain in policy.http_allowed_domains:
            if problem := await asyncio.to_thread(private_answer, domain):
                return f"http is unavailable: {problem}"
    if "compute" in caps:
        return await sandbox_problem()
    return None


def containment_of(runtime: object) -> ContainmentPolicy:
    """The policy of an agent runtime (a runtime without one gets the default, strictest policy)."""
    policy = getattr(runtime, "policy", None)
    return policy if isinstance(policy, ContainmentPolicy) else ContainmentPolicy()
