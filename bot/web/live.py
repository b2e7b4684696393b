"""One poller per signed-in user, however many tabs they have open: it reads the board through the same
query path as the pages (workflow query + store) and hands each change to every open event stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bot.control import ShiftControl
from bot.web import views

log = logging.getLogger(__name__)
READ_FAILED = "The live board could not be read; retrying…"


@dataclass
class Problem:
    message: str


Item = views.Board | Problem


@dataclass
class _Feed:
    subscribers: set[asyncio.Queue[Item]] = field(default_factory=set)
    latest: views.Board | None = None
    task: asyncio.Task[None] | None = None


class BoardHub:
    def __init__(self, control: ShiftControl, *, poll_seconds: float = 0.4, refresh_seconds: float = 10.0) -> None:
        self.control = control
        self.poll_seconds = poll_seconds
        self.refresh_seconds = refresh_seconds
        self.feeds: dict[str, _Feed] = {}
        self.reads = 0  # board reads done, for tests: one per poll per user, not per tab

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[asyncio.Queue[Item]]:
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=1)
        feed = self.feeds.setdefault(user_id, _Feed())
        feed.subscribers.add(queue)
        if feed.latest is not None:
            queue.put_nowait(feed.latest)
        if feed.task is None or feed.task.done():
            feed.task = asyncio.create_task(self._poll(user_id, feed), name=f"board-{user_id}")
        try:
            yield queue
        finally:
            feed.subscribers.discard(queue)
            if not feed.subscribers:
                self.feeds.pop(user_id, None)
                if feed.task is not None:
                    feed.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await feed.task

    async def _poll(self, user_id: str, feed: _Feed) -> None:
        last, sent_at, failures = "", 0.0, 0
        while True:
            try:
                board = await views.board(self.control, user_id)
                self.reads += 1
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("dashboard board read failed", extra={"user_id": user_id,
                                                                   "data": {"error": str(exc)[:200]}})
                self._publish(feed, Problem(READ_FAILED))  # the exception's text is for the log, not the page
                await asyncio.sleep(min(10.0, self.poll_seconds * 2 ** failures))
                continue
            fingerprint = board.fingerprint()
            if fingerprint != last or time.monotonic() - sent_at > self.refresh_seconds:
                feed.latest = board
                self._publish(feed, board)
                last, sent_at = fingerprint, time.monotonic()
            await asyncio.sleep(self.poll_seconds)

    @staticmethod
    def _publish(feed: _Feed, item: Item) -> None:
        """Each stream gets the newest item; one that has not caught up skips to it."""
        for queue in list(feed.subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(item)
