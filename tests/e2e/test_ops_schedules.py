"""Schedules that match the users (Temporal dev server, SQLite, the bot's ShiftControl and start-up code)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from bot.control import ShiftControl
from bot.main_run import reconcile_at_startup
from bot.services import day_shape
from bot.settings import Settings
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from workflows.activities import ResolveDayInput, ShiftActivities
from workflows.models import ScheduleInput
from workflows.schedules import schedule_id

pytestmark = pytest.mark.devserver


async def _spec(env: WorkflowEnvironment, user_id: str) -> tuple[str | None, int, int, bool]:
    desc = await env.client.get_schedule_handle(schedule_id(user_id)).describe()
    [cal] = desc.schedule.spec.calendars
    return desc.schedule.spec.time_zone_name, cal.hour[0].start, cal.minute[0].start, desc.schedule.state.paused


async def test_reconcile_after_settings_changed_while_down(dev_env: WorkflowEnvironment, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYSHIFT_DATA_DIR", str(tmp_path))
    settings = Settings()
    store = await Store.open(tmp_path / "d.db")
    try:
        # First process: UA is seen for the first time (a command, Home open) and gets the defaults' schedule.
        first = ShiftControl(store, dev_env.client, settings)
        await first.user("UA")
        assert await _spec(dev_env, "UA") == ("UTC", 8, 0, False)
        await store.users.ensure("UB", timezone="UTC", preferred_start_time="08:00")  # known, never scheduled
        # While no process runs: UA moves to Berlin at 10:00 and pauses (e.g. a restore, an admin edit).
        ua = await store.users.get("UA")
        assert ua is not None
        await store.users.save(ua.model_copy(update={"timezone": "Europe/Berlin", "preferred_start_time": "10:00",
                                                      "paused": True}))
        # Second process starts: every known user ends with exactly one schedule matching their settings.
        second = ShiftControl(store, dev_env.client, settings)
        counts = await reconcile_at_startup(second)
        assert counts == {"created": 1, "updated": 1, "unchanged": 0, "failed": 0}
        assert await _spec(dev_env, "UA") == ("Europe/Berlin", 10, 0, True)
        assert await _spec(dev_env, "UB") == ("UTC", 8, 0, False)
        assert await reconcile_at_startup(second) == {"created": 0, "updated": 0, "unchanged": 2, "failed": 0}
        ours = [s.id async for s in await dev_env.client.list_schedules() if s.id.startswith("dayshift-U")]
        assert sorted(ours) == ["dayshift-UA", "dayshift-UB"]
    finally:
        await store.close()


async def test_resolve_day_reads_the_day_shape_when_the_day_starts(store: Store,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A schedule saved under old settings (a 3-hour window) fires after the operator changed them."""
    monkeypatch.setenv("DAYSHIFT_WINDOW_SECONDS", "3600")
    monkeypatch.setenv("DAYSHIFT_CHECKPOINT_SECONDS", "600")
    monkeypatch.setenv("DAYSHIFT_MAX_PARALLEL_TASKS", "5")
    acts = ShiftActivities(store, ScriptedAgents(), RecordingNotifier())
    acts.day_shape = day_shape(Settings())
    frozen = ScheduleInput(user_id="US", window_seconds=10_800, checkpoint_seconds=900, max_parallel=3)
    day = await ActivityEnvironment().run(acts.resolve_day,
                                          ResolveDayInput(schedule=frozen, fired_at=datetime.now(UTC)))
    assert (day.window_seconds, day.checkpoint_seconds, day.max_parallel) == (3600, 600, 5)
