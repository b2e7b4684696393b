"""``dayshift run`` (Slack bot + in-process worker) and ``dayshift worker`` (a worker alone)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.app import create_app
from bot.control import ShiftControl
from bot.deps import BotDeps
from bot.email_report import email_reporter
from bot.home import HomePublisher
from bot.services import open_services
from bot.settings import Settings
from bot.slack_client import web_client
from bot.slack_notifier import SlackNotifier
from bot.web.server import start_dashboard
from storage.artifacts import purge_workspaces
from storage.store import Store
from workflows.models import StatusReport
from workflows.notifier import NullNotifier

log = logging.getLogger(__name__)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def redeliver_reports(store: Store, notifier: SlackNotifier) -> int:
    """Deliver reports that a Slack outage kept from landing (the workflow gave up retrying)."""
    delivered = 0
    for run in await store.runs.undelivered_reports():
        if not run.report_json:
            continue
        try:
            await notifier.report(StatusReport.model_validate_json(run.report_json))
        except Exception as exc:
            log.warning("redelivery failed", extra={"workflow_id": run.workflow_id, "data": {"error": str(exc)}})
            continue
        await store.runs.update(run.user_id, run.workflow_id, report_delivered=1)
        delivered += 1
    return delivered


async def run_bot(settings: Settings, stop: asyncio.Event | None = None) -> None:
    assert settings.slack_bot_token is not None and settings.slack_app_token is not None
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    slack = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    notifiers: list[SlackNotifier] = []

    def make_notifier(store: Store) -> SlackNotifier:
        notifiers.append(SlackNotifier(slack, store, email=email_reporter(settings, store)))
        return notifiers[-1]

    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.start()
    try:
        async with open_services(settings, make_notifier) as svc:
            control = ShiftControl(svc.store, svc.client, settings)
            home = HomePublisher(slack, control, scheduler)
            notifier = notifiers[0]
            notifier.on_change = home.request
            web = await start_dashboard(settings, control)  # None when DAYSHIFT_WEB_PORT=0
            app = create_app(slack, BotDeps(control=control, home=home, store=svc.store, web=web))
            scheduler.add_job(_purge, "cron", hour=3, minute=17,
                              args=[svc.store, settings.retention_days, settings.data_dir], id="retention")
            scheduler.add_job(redeliver_reports, "interval", minutes=5, args=[svc.store, notifier], id="redeliver")
            handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value(), web_client=slack)
            await handler.connect_async()
            log.info("dayshift bot connected", extra={"event": "bot_connected"})
            try:
                await stop.wait()
            finally:
                log.info("dayshift bot stopping", extra={"event": "bot_stopping"})
                await handler.close_async()
                if web is not None:
                    await web.stop()
    finally:
        scheduler.shutdown(wait=False)


async def _purge(store: Store, keep_days: int, data_dir: Path | None = None) -> None:
    today = datetime.now(ZoneInfo("UTC")).date()
    removed = await store.history.purge(today, keep_days)
    await store.artifacts.purge(today, keep_days)
    await store.email_reports.purge(today, keep_days)
    if data_dir is not None:  # executors' workspaces go with the history they belong to
        await asyncio.to_thread(purge_workspaces, data_dir / "workspaces", today, keep_days)
    log.info("retention purge", extra={"event": "retention_purge", "data": {"removed": removed}})


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    if not settings.temporal_address:
        raise SystemExit("`dayshift worker` adds capacity to a shared cluster: set TEMPORAL_ADDRESS "
                         "(the embedded server of `dayshift run` is private to that process).")
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)

    def make_notifier(store: Store) -> SlackNotifier | NullNotifier:
        if settings.slack_bot_token is None:
            return NullNotifier()
        return SlackNotifier(web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url), store,
                             email=email_reporter(settings, store))

    async with open_services(settings, make_notifier):
        log.info("dayshift worker running", extra={"event": "worker_started"})
        await stop.wait()
