"""While Slack is unreachable at start-up, the bot's in-process worker already runs days (the real bot, the
Temporal dev server, the real SDK + CLI on the offline model; Slack's address has nothing listening)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bot.main_run import run_bot
from bot.settings import Settings
from storage.models import TaskStatus
from workflows.daily_shift import DailyShiftWorkflow
from workflows.models import DayInput
from workflows.schedules import start_day_now

pytestmark = [pytest.mark.devserver, pytest.mark.cli]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_days_run_while_the_bot_retries_slack(dev_env: WorkflowEnvironment, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for key, value in {"SLACK_BOT_TOKEN": "xoxb-down-1", "SLACK_APP_TOKEN": "xapp-1-down",
                       "SLACK_API_URL": f"http://127.0.0.1:{_closed_port()}/api/",
                       "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                       "DAYSHIFT_DATA_DIR": str(tmp_path / "data"), "DAYSHIFT_MODEL": "offline"}.items():
        monkeypatch.setenv(key, value)
    stop = asyncio.Event()
    bot = asyncio.create_task(run_bot(Settings(), stop))
    try:
        day = DayInput(user_id="UDOWN", day=datetime.now(UTC).date().isoformat(), window_seconds=10,
                       checkpoint_seconds=5, warning_seconds=2, min_useful_seconds=1, heartbeat_timeout_seconds=10,
                       retry_initial_seconds=0.5, retry_max_seconds=1, grace_seconds=5)
        handle = await start_day_now(dev_env.client, day, workflow_id="day-UDOWN-slack-down")
        for _ in range(600):  # the day runs its tasks to the deadline, then waits to deliver its report
            state = await handle.query(DailyShiftWorkflow.get_state)
            if state.phase in ("reporting", "done"):
                break
            await asyncio.sleep(0.1)
        assert state.phase in ("reporting", "done")
        assert any(t.status is TaskStatus.COMPLETED for t in state.tasks)
        assert not bot.done()  # still trying to reach Slack
        retries = [r for r in caplog.records if getattr(r, "event", None) == "slack_retry"]
        assert len(retries) >= 2 and all(r.levelno == logging.WARNING for r in retries)
        delays = [r.data["in_seconds"] for r in retries]  # type: ignore[attr-defined]
        assert delays == sorted(delays) and delays[-1] > delays[0]
    finally:
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(bot, timeout=30)
        assert time.monotonic() - started < 10
