"""``dayshift demo``: a whole day compressed into ~2 minutes, on embedded Temporal, the real agent CLI against
the offline model, and the terminal in place of Slack. It tells the product's story:

- the orchestrator plans tasks, which run (paced) across the window, a few at a time;
- one task keeps failing: Temporal retries it with backoff, then it is escalated; the demo answers the
  escalation itself a few seconds later (Skip, as the Slack button would) and says so;
- a task is added mid-window through the same ``add_task`` update as ``/dayshift add``;
- checkpoints with the orchestrator's review;
- a long task is still running at the deadline and is reported with its %;
- the report in the spec's format, and the Temporal UI link.

The offline model's stage directives (``[[offline:...]]``) steer the seeded tasks; they are stripped from
everything the demo shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live

from bot.console import ConsoleNotifier, Escalation, changes, clean, rich_board
from bot.control import clean_text
from bot.metrics import serve_metrics
from bot.services import open_services
from bot.settings import Settings
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import AddTaskRequest, DayInput, DayState, ReportItem, StatusReport
from workflows.report import render_text
from workflows.schedules import start_day_now

DEMO_USER = "demo"
SEEDED = [  # waiting in the user's queue before the window opens
    "Migrate the old wiki pages to the new docs site [[offline:marathon seconds={marathon}]]",
    "Sync the team calendar export to the shared drive [[offline:fail status=529]]",
]
ADDED = "Summarise this morning's support tickets into three themes"


def demo_input(window: float, timezone: str) -> DayInput:
    now = datetime.now(UTC)
    return DayInput(
        user_id=DEMO_USER, day=now.date().isoformat(), timezone=timezone, window_seconds=window,
        checkpoint_seconds=window / 6, warning_seconds=window / 12, min_useful_seconds=1, max_parallel=3,
        heartbeat_timeout_seconds=max(10.0, min(30.0, window / 4)), retry_initial_seconds=max(1.0, window / 80),
        retry_max_seconds=max(2.0, window / 30), grace_seconds=max(5.0, window / 12),
    )


def _clean_items(items: list[ReportItem]) -> list[ReportItem]:
    return [i.model_copy(update={"description": clean(i.description)}) for i in items]


def clean_report(report: StatusReport) -> StatusReport:
    return report.model_copy(update={name: _clean_items(getattr(report, name)) for name in
                                     ("completed", "in_progress", "failed", "not_started", "cancelled")})


class Story:
    """What the demo prints besides the board: a terminal gets a live board, a pipe gets only changes."""

    def __init__(self, live: Live | None) -> None:
        self.live = live
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.lines.append(f"{stamp} {text}")
        if self.live is not None:
            self.live.console.print(f"{stamp} {text}", highlight=False, markup=False)
        else:
            print(f"{stamp} {text}", file=sys.stderr, flush=True)


async def run_demo(settings: Settings, *, window: float, as_json: bool, live: bool = True,
                   keep_metrics: float = 0.0) -> StatusReport:
    console = Console(file=sys.stderr)
    on_terminal = live and console.is_terminal
    live_view = Live(console=console, refresh_per_second=4, transient=True) if on_terminal else None
    story = Story(live_view)
    notifier = ConsoleNotifier(story.say)
    pace = window / 30  # seconds per agent turn: a planned task takes about a sixth of the window
    async with serve_metrics(settings) as metrics, \
            open_services(settings, lambda _store: notifier, stale_after=max(20.0, window / 3), offline_pace=pace,
                          demo=True, runtime=metrics.runtime if metrics else None,
                          cli_max_retries=0) as svc:  # the story's retries are Temporal's, with its backoff
        inp = demo_input(window, settings.default_timezone)
        await svc.store.users.ensure(DEMO_USER, timezone=inp.timezone)
        for text in SEEDED:
            await svc.store.tasks.create(DEMO_USER, text.format(marathon=f"{window / 10:.1f}"), generated_by="user")
        workflow_id = f"day-{DEMO_USER}-{inp.day}-{datetime.now(UTC):%H%M%S}"
        mode = "offline model" if svc.offline else "Claude API"
        story.say(f"Dayshift demo: a {settings.window_seconds / 3600:g}-hour shift compressed into {window:g}s "
                  f"({mode}, {'embedded' if svc.temporal else 'external'} Temporal)")
        if metrics is not None:
            story.say(f"Prometheus metrics: {metrics.url}")
        handle = await start_day_now(svc.client, inp, workflow_id=workflow_id)
        story.say(f"Temporal UI: {svc.ui_url(workflow_id)}")
        result = asyncio.ensure_future(handle.result())
        helpers = [asyncio.ensure_future(_add_mid_window(handle, window, story)),
                   asyncio.ensure_future(_answer_escalations(handle, notifier, window, story))]
        try:
            with live_view if live_view is not None else contextlib.nullcontext():
                await _watch(handle, result, story, live_view, printing=live and not on_terminal)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        report = clean_report(notifier.reports[-1] if notifier.reports else result.result())
        if as_json:
            print(report.model_dump_json(indent=2))
        else:
            print()
            print(render_text(report))
            print(f"\nTemporal UI: {svc.ui_url(workflow_id)}")
        if metrics is not None and keep_metrics > 0:
            story.say(f"Serving {metrics.url} for {keep_metrics:g}s more")
            await asyncio.sleep(keep_metrics)
        return report


async def _watch(handle: Any, result: asyncio.Future[StatusReport], story: Story, live_view: Live | None, *,
                 printing: bool) -> None:
    before: DayState | None = None
    while not result.done():
        await asyncio.wait({result}, timeout=0.5 if live_view else 1.0)
        if result.done():
            break
        try:
            state: DayState = await handle.query(DailyShiftWorkflow.get_state)
        except Exception:  # the board is best-effort; the day goes on
            continue
        left = (state.deadline - datetime.now(UTC)).total_seconds() if state.deadline else None
        if state.warned and (before is None or not before.warned):
            story.say(f"⏳ deadline warning: {left or 0:.0f}s left; running agents are told to wrap up")
        if state.phase == "closing" and (before is None or before.phase != "closing"):
            still = [f"{t.short_id} at {t.progress}%" for t in state.tasks if t.status.value == "in_progress"]
            story.say("🛑 deadline: the window closes; still running: " + (", ".join(still) or "nothing"))
        if live_view is not None:
            live_view.update(rich_board(state, left, []))  # story lines print above the board
        elif printing:
            for line in changes(before, state):
                print(line, file=sys.stderr, flush=True)
        before = state
    result.result()


async def _add_mid_window(handle: Any, window: float, story: Story) -> None:
    """A third of the way in, the user adds a task: the same update `/dayshift add` sends to a live window."""
    await asyncio.sleep(window / 3)
    task = await handle.execute_update(DailyShiftWorkflow.add_task, AddTaskRequest(description=clean_text(ADDED)))
    story.say(f"➕ you (demo) added a task mid-window, as `/dayshift add {ADDED}` would: {task.short_id}")


async def _answer_escalations(handle: Any, notifier: ConsoleNotifier, window: float, story: Story) -> None:
    """Answer each escalation a few seconds after it arrives, as a person pressing Skip in the DM would."""
    delay = max(2.0, min(5.0, window / 30))
    while True:
        esc: Escalation = await notifier.escalations.get()
        story.say(f"   (demo: nobody is at Slack, so the demo answers {esc.short_id}'s escalation in {delay:g}s)")
        await asyncio.sleep(delay)
        try:
            await handle.execute_update(DailyShiftWorkflow.skip_task, esc.task_id)
            story.say(f"👆 demo answered the escalation of {esc.short_id}: Skip (the DM's Skip button does this)")
        except Exception as exc:  # the window may have closed meanwhile
            story.say(f"   demo could not answer {esc.short_id}: {str(exc)[:120]}")
