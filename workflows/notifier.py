"""How the day talks to people. Implemented in bot/ (Slack) and for the demo (console)."""

from __future__ import annotations

from typing import Protocol

from workflows.models import DayState, StatusReport, TaskState


class Notifier(Protocol):
    async def day_started(self, state: DayState) -> None:
        """Open the day's thread (idempotent: a retry must not post a second parent)."""

    async def progress(self, state: DayState) -> None:
        """Bring the day's progress reply up to date."""

    async def escalate(self, state: DayState, task: TaskState, suggestion: str, escalation_id: str) -> None:
        """DM the user with Retry / Skip for a task that failed its last attempt."""

    async def report(self, report: StatusReport) -> None:
        """Deliver the final status report into the day's thread (idempotent)."""

    async def changed(self, user_id: str) -> None:
        """The user's dashboard should refresh (coalesced by the implementation)."""
