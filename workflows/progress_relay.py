"""An executor's progress on its way to the workflow, throttled.

Every report is stored at once (the dashboards and the deadline read the task row), but the workflow hears at
most one signal per interval, carrying the latest value. A signal is a history event plus a workflow task on
the server; an agent reporting on every tool call would otherwise cost the cluster more than the task's own
bookkeeping. A task that ends within its first interval sends none: its result says it all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Send = Callable[[int, str | None], Awaitable[None]]


class ProgressRelay:
    def __init__(self, send: Send, interval: float) -> None:
        self._send = send
        self._interval = interval
        self._last = time.monotonic()  # the dispatch itself told the workflow "0 %, started"
        self._latest: tuple[int, str | None] | None = None
        self._pending: asyncio.Task[None] | None = None

    def report(self, percent: int, note: str | None) -> None:
        """Remember the latest value; a signal leaves once the interval since the last one has passed."""
        self._latest = (percent, note)
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        # Loops while values keep coming, so one reported while a signal is on its way is sent next, not dropped.
        while self._latest is not None:
            await asyncio.sleep(max(0.0, self._last + self._interval - time.monotonic()))
            percent, note = self._latest
            self._latest = None
            self._last = time.monotonic()
            await self._send(percent, note)

    def close(self) -> None:
        """The run ended: what is still pending is dropped (its result, or the deadline's read of the row,
        brings the workflow the final value). Not awaited, so nothing delays recording the result."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
