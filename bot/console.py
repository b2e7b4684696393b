"""The demo's Notifier: the day's thread, escalations and the report go to the terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from storage.models import TaskStatus
from workflows.models import DayState, StatusReport, TaskState


def progress_bar(percent: int, width: int = 10) -> str:
    filled = max(0, min(width, round(percent / 100 * width)))
    return "█" * filled + "░" * (width - filled)


def board(state: DayState, seconds_left: float | None = None) -> str:
    """A compact live board: one line per task."""
    head = f"── {state.workflow_id} · {state.phase}"
    if seconds_left is not None:
        head += f" · {max(0, seconds_left):.0f}s left"
    lines = [head]
    icons = {TaskStatus.COMPLETED: "✅", TaskStatus.IN_PROGRESS: "🔄", TaskStatus.FAILED: "❌",
             TaskStatus.CANCELLED: "🚫"}
    for t in state.tasks:
        icon = icons.get(t.status, "⏸️ ")
        lines.append(f"  {icon} {t.short_id} {progress_bar(t.progress)} {t.progress:3d}%  {t.description[:60]}")
    return "\n".join(lines)


class ConsoleNotifier:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.reports: list[StatusReport] = []

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def day_started(self, state: DayState) -> None:
        self._say(f"🧵 Shift started for {state.user_id} ({state.day}); deadline {state.deadline:%H:%M:%S} UTC")

    async def progress(self, state: DayState) -> None:
        done = sum(1 for t in state.tasks if t.status is TaskStatus.COMPLETED)
        self._say(f"   checkpoint {state.checkpoints}: {done}/{len(state.tasks)} done")

    async def escalate(self, state: DayState, task: TaskState, suggestion: str, escalation_id: str) -> None:
        self._say(f"⚠️  Task {task.short_id} failed after {task.attempts} attempts: {task.error}\n"
                  f"   Suggestion: {suggestion}\n   (demo: nobody answers, so it stays failed in the report)")

    async def report(self, report: StatusReport) -> None:
        self.reports.append(report)

    async def changed(self, user_id: str) -> None:
        return None

    async def send_message(self, user_id: str, text: str) -> None:
        self._say(f"🤖 message for {user_id}: {text}")
