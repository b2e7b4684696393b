"""Supervise one agent run: background heartbeats with progress, and a watchdog for silent agents.

Temporal only delivers cancellation through heartbeats, so they come from a loop every ``interval``
seconds rather than from agent events. When the agent produces no event for ``stale_after`` seconds
the run is stopped and reported as a retryable failure, so a hung CLI is retried, not waited on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents.contracts import AgentFailure
from storage.redaction import redact_opt

T = TypeVar("T")
ProgressSink = Callable[[int, str | None], Awaitable[None]]


class AgentMonitor:
    def __init__(
        self,
        heartbeat: Callable[..., None],
        *,
        on_progress: ProgressSink | None = None,
        interval: float = 1.0,
        stale_after: float = 300.0,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self._heartbeat = heartbeat
        self._on_progress = on_progress
        self.interval = interval
        self.stale_after = stale_after
        self.percent = int((resume or {}).get("percent", 0))
        self.session_id: str | None = (resume or {}).get("session_id")
        self._resume_session = self.session_id
        self.note: str | None = None
        self.last_event = time.monotonic()
        self.stalled = False
        self._waiting = False

    @property
    def resume_session_id(self) -> str | None:
        return self._resume_session

    def touch(self) -> None:
        self.last_event = time.monotonic()

    def waiting(self, flag: bool) -> None:
        self._waiting = flag
        self.touch()

    def set_session(self, session_id: str) -> None:
        self.session_id = session_id
        self.touch()

    def details(self) -> dict[str, Any]:
        # Heartbeat details are kept in the Temporal history: the note is agent text, so it is redacted.
        return {"percent": self.percent, "session_id": self.session_id, "note": redact_opt(self.note)}

    async def progress(self, percent: int, note: str | None = None) -> None:
        self.touch()
        percent = max(0, min(100, int(percent)))
        if percent < self.percent and note == self.note:
            return
        self.percent = max(self.percent, percent)
        self.note = redact_opt(note) or self.note
        self._heartbeat(self.details())
        if self._on_progress is not None:
            await self._on_progress(self.percent, self.note)

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` with heartbeats; raise a retryable AgentFailure if it goes silent."""
        self.touch()
        task: asyncio.Task[T] = asyncio.ensure_future(work())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.interval)
                if done:
                    return task.result()
                if not self._waiting and time.monotonic() - self.last_event > self.stale_after:
                    self.stalled = True
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    raise AgentFailure(
                        f"agent produced no event for {self.stale_after:.0f}s; stopped so it can be retried",
                        retryable=True, kind="AgentStalled",
                    )
                self._heartbeat(self.details())
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
