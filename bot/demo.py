"""``dayshift demo``: a whole day compressed, on embedded Temporal, the offline model and the console."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bot.console import ConsoleNotifier, board
from bot.services import open_services
from bot.settings import Settings
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import DayInput, StatusReport
from workflows.report import render_text
from workflows.schedules import start_day_now

DEMO_USER = "demo"


def demo_input(window: float, timezone: str) -> DayInput:
    now = datetime.now(UTC)
    return DayInput(
        user_id=DEMO_USER, day=now.date().isoformat(), timezone=timezone, window_seconds=window,
        checkpoint_seconds=window / 12, warning_seconds=window / 36, min_useful_seconds=1,
        heartbeat_timeout_seconds=max(10.0, min(30.0, window / 4)), retry_initial_seconds=max(0.5, window / 360),
        retry_max_seconds=max(2.0, window / 60), grace_seconds=max(5.0, window / 20),
    )


async def run_demo(settings: Settings, *, window: float, as_json: bool, live: bool = True) -> StatusReport:
    err = sys.stderr
    notifier = ConsoleNotifier(err)
    async with open_services(settings, lambda _store: notifier, stale_after=max(20.0, window / 3),
                             offline_pace=min(2.0, window / 150)) as svc:
        inp = demo_input(window, settings.default_timezone)
        workflow_id = f"day-{DEMO_USER}-{inp.day}-{datetime.now(UTC):%H%M%S}"
        mode = "offline model" if svc.offline else "Claude API"
        print(f"Dayshift demo: a {settings.window_seconds / 3600:g}-hour shift compressed into {window:g}s "
              f"({mode}, {'embedded' if svc.temporal else 'external'} Temporal)", file=err, flush=True)
        handle = await start_day_now(svc.client, inp, workflow_id=workflow_id)
        print(f"Temporal UI: {svc.ui_url(workflow_id)}", file=err, flush=True)
        result = asyncio.ensure_future(handle.result())
        last = ""
        while not result.done():
            await asyncio.wait({result}, timeout=1.0)
            if not live or result.done():
                continue
            try:
                state = await handle.query(DailyShiftWorkflow.get_state)
            except Exception:
                continue
            left = (state.deadline - datetime.now(UTC)).total_seconds() if state.deadline else None
            view = board(state, left)
            if view.split("\n", 1)[-1] != last.split("\n", 1)[-1] or int(left or 0) % 10 == 0:
                print(view, file=err, flush=True)
                last = view
        report = result.result()
        if as_json:
            print(report.model_dump_json(indent=2))
        else:
            print()
            print(render_text(report))
            print(f"\nTemporal UI: {svc.ui_url(workflow_id)}")
        return report
