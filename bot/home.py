"""The Home tab: built from the live workflow state (or SQLite), published with coalescing so bursts of
changes become one ``views.publish`` per user per interval (Slack's Tier-4 limit)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import home_view
from bot.control import ShiftControl
from bot.stats import user_stats_line
from workflows.models import StatusReport

log = logging.getLogger(__name__)


class HomePublisher:
    def __init__(self, client: AsyncWebClient, control: ShiftControl, scheduler: AsyncIOScheduler,
                 *, coalesce_seconds: float = 2.0) -> None:
        self.client = client
        self.control = control
        self.scheduler = scheduler
        self.coalesce_seconds = coalesce_seconds
        self.published = 0

    async def build(self, user_id: str) -> dict[str, object]:
        store = self.control.store
        user = await self.control.user(user_id)
        state = await self.control.state(user)
        waiting = await store.tasks.pending_unassigned(user_id)
        last = await store.runs.latest(user_id)
        report = StatusReport.model_validate_json(last.report_json) if last and last.report_json else None
        today = datetime.now(ZoneInfo(user.timezone)).date()
        days = await store.history.day_totals(user_id, 7, today)
        cats = await store.history.completed_by_category(user_id, 30, today)
        next_start = await self.control.next_start_slack(user)
        stats = await user_stats_line(store, user_id, today)
        files = await store.artifacts.for_day(user_id, today.isoformat())
        email = await store.email_reports.latest(user_id)
        return home_view(user, state, waiting, report, days, cats, next_start, stats, artifacts=files, email=email)

    async def publish(self, user_id: str) -> None:
        try:
            view = await self.build(user_id)
            await self.client.views_publish(user_id=user_id, view=view)
            self.published += 1
        except Exception as exc:
            log.warning("home publish failed", extra={"user_id": user_id, "data": {"error": str(exc)}})

    async def request(self, user_id: str) -> None:
        """Ask for a refresh; requests within the coalescing interval share one publish."""
        job_id = f"home-{user_id}"
        if self.scheduler.get_job(job_id) is not None:
            return
        self.scheduler.add_job(self.publish, "date", id=job_id, args=[user_id], replace_existing=True,
                               run_date=datetime.now(ZoneInfo("UTC")) + timedelta(seconds=self.coalesce_seconds),
                               misfire_grace_time=30)
