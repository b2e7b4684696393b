"""The demo's Notifier and board: the day's thread, escalations and the report go to the terminal.

On a terminal the board is a ``rich`` table redrawn in place; piped, only what changed is printed.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text

from storage.models import TaskStatus
from workflows.models import DayState, StatusReport, TaskState

_DIRECTIVE = re.compile(r"\s*\[\[offline:[^\]]*\]\]")
ICONS = {TaskStatus.COMPLETED: "✅", TaskStatus.IN_PROGRESS: "🔄", TaskStatus.FAILED: "❌",
         TaskStatus.CANCELLED: "🚫"}


def clean(text: str | None) -> str:
    """Task text without the offline model's stage directives (they steer the demo, they are not the task)."""
    return _DIRECTIVE.sub("", text or "").strip()


def progress_bar(percent: int, width: int = 10) -> str:
    filled = max(0, min(width, round(percent / 100 * width)))
    return "█" * filled + "░" * (width - filled)


def _status(t: TaskState) -> str:
    if t.status is TaskStatus.FAILED and t.escalated and not t.resolution:
        return "failed · escalated, waiting for you"
    if t.status is TaskStatus.FAILED and t.resolution:
        return f"failed · {t.resolution}"
    if t.blocked_reason:
        return f"{t.status.value} · {t.blocked_reason}"
    return t.status.value


def board(state: DayState, seconds_left: float | None = None) -> str:
    """A compact plain-text board: one line per task (the piped view and tests use it)."""
    head = f"── {state.workflow_id} · {state.phase}"
    if seconds_left is not None:
        head += f" · {max(0, seconds_left):.0f}s left"
    lines = [head]
    for t in state.tasks:
        icon = ICONS.get(t.status, "⏸️ ")
        who = "you" if t.generated_by == "user" else "plan"
        lines.append(f"  {icon} {t.short_id} {progress_bar(t.progress)} {t.progress:3d}%  [{who}] "
                     f"{clean(t.description)[:56]}  ({_status(t)})")
    return "\n".join(lines)


def rich_board(state: DayState, seconds_left: float | None, story: list[str]) -> Group:
    """The live board for a terminal: header, task table, the latest lines of the day's story."""
    left = f"{max(0, seconds_left):.0f}s left" if seconds_left is not None else ""
    head = Text.assemble((f"Dayshift · {state.user_id} · {state.day}", "bold"), "  ",
                         (state.phase, "cyan"), "  ", (left, "yellow"),
                         f"  · checkpoints {state.checkpoints} · reviews {state.reviews} · ${state.cost_usd:.4f}")
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    for col in ("", "id", "progress", "%", "by"):
        table.add_column(col, no_wrap=True)
    table.add_column("task", no_wrap=True, overflow="ellipsis", ratio=3)
    table.add_column("status", no_wrap=True, overflow="ellipsis", ratio=2)
    for t in state.tasks:
        table.add_row(ICONS.get(t.status, "⏸️"), t.short_id, progress_bar(t.progress), f"{t.progress:3d}",
                      "you" if t.generated_by == "user" else "plan", clean(t.description)[:70], _status(t))
    return Group(head, table, Text(""), *[Text(line, style="dim") for line in story[-6:]])


def changes(before: DayState | None, after: DayState) -> list[str]:
    """What changed between two looks at the day, one line each (the piped view)."""
    old = {t.task_id: t for t in before.tasks} if before else {}
    out = []
    if before is None or before.phase != after.phase:
        out.append(f"phase: {after.phase}")
    for t in after.tasks:
        prev = old.get(t.task_id)
        label = f"{t.short_id} {clean(t.description)[:50]}"
        if prev is None:
            out.append(f"+ {label} ({'added by you' if t.generated_by == 'user' else 'planned'})")
        if prev is None or prev.status != t.status or prev.resolution != t.resolution:
            out.append(f"  {ICONS.get(t.status, '⏸️ ')} {label}: {_status(t)}")
        elif t.status is TaskStatus.IN_PROGRESS and t.progress // 25 != prev.progress // 25:
            out.append(f"  🔄 {label}: {t.progress}%")
    return out


@dataclass
class Escalation:
    task_id: str
    short_id: str
    description: str
    suggestion: str


class ConsoleNotifier:
    """Where Slack would post, the demo tells the story; escalations are queued for the demo to answer."""

    def __init__(self, say: Callable[[str], None] | None = None) -> None:
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.reports: list[StatusReport] = []
        self.escalations: asyncio.Queue[Escalation] = asyncio.Queue()

    async def day_started(self, state: DayState) -> None:
        label = f" — on the {state.model_label}" if state.model_label else ""
        self.say(f"🧵 Shift started for {state.user_id} ({state.day}); report due {state.deadline:%H:%M:%S} UTC{label}")

    async def progress(self, state: DayState) -> None:
        done = sum(1 for t in state.tasks if t.status is TaskStatus.COMPLETED)
        review = next((n for n in reversed(state.notes) if n.startswith("Review:")), None)
        self.say(f"⏱️  checkpoint {state.checkpoints}: {done}/{len(state.tasks)} done"
                 + (f" · orchestrator review: {review.removeprefix('Review: ')}" if review else ""))

    async def escalate(self, state: DayState, task: TaskState, suggestion: str, escalation_id: str) -> None:
        self.say(f"⚠️  {task.short_id} {clean(task.description)[:50]} failed after {task.attempts} attempts "
                 f"({(task.error or 'unknown error')[:80]}…); escalated to you. "
                 f"Orchestrator suggests: {'…' + suggestion[-90:] if len(suggestion) > 90 else suggestion}")
        await self.escalations.put(Escalation(task.task_id, task.short_id, clean(task.description), suggestion))

    async def report(self, report: StatusReport) -> None:
        self.reports.append(report)

    async def changed(self, user_id: str) -> None:
        return None

    async def send_message(self, user_id: str, text: str) -> None:
        self.say(f"🤖 message for {user_id}: {text}")
