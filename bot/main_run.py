"""``dayshift run`` (Slack bot + in-process worker) and ``dayshift worker`` (a worker alone)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import psutil
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from bot.app import create_app
from bot.control import ShiftControl
from bot.deps import BotDeps
from bot.email_report import email_reporter
from bot.home import HomePublisher
from bot.metrics import serve_metrics
from bot.services import day_shape, open_services
from bot.settings import Settings
from bot.slack_client import web_client
from bot.slack_notifier import SlackNotifier
from bot.web.server import start_dashboard
from storage.artifacts import purge_workspaces
from storage.store import Store
from workflows.cleanup import reap_stranded_days
from workflows.events import emit
from workflows.models import StatusReport
from workflows.schedules import reconcile_schedules

log = logging.getLogger(__name__)


SLACK_TOKEN_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired")
STOP_GRACE_SECONDS = 8.0  # a running process gets this long to close cleanly before it is cancelled
HARD_STOP_SECONDS = 9.5  # `dayshift run`/`worker` as processes: the last resort that keeps the 10 s promise


class BadSlackToken(RuntimeError):
    """Slack refused a token: retrying cannot help, so the process exits non-zero at once."""

    def __init__(self, variable: str, error: str) -> None:
        super().__init__(f"Slack rejected {variable} ({error}): check the token in {variable} and restart.")


def _stop_on_signals(stop: asyncio.Event, hard_stop_after: float | None = None) -> None:
    loop = asyncio.get_running_loop()
    armed: list[threading.Timer] = []

    def on_signal() -> None:
        stop.set()
        if hard_stop_after is not None and not armed:
            armed.append(threading.Timer(hard_stop_after, _hard_stop, args=(hard_stop_after,)))
            armed[0].daemon = True
            armed[0].start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)


def _hard_stop(after: float) -> None:
    """The clean stop overran (e.g. an agent CLI still waiting on the model): end our children, then exit.

    Runs on a timer thread, so it works even if the event loop is stuck in a cleanup that never ends.
    """
    children = psutil.Process().children(recursive=True)
    log.warning("clean stop overran; terminating children and exiting", extra={
        "event": "forced_stop", "data": {"after_seconds": after, "children": len(children)}})
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=0.3)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    logging.shutdown()
    os._exit(0)


@dataclass
class _Phase:
    running: bool = False  # past start-up: the body itself awaits ``stop`` and closes cleanly


async def until_stopped(body: Callable[[_Phase], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run ``body`` until it ends or ``stop`` is set, at any point (start-up, connect loop, running, shutdown).

    Start-up steps (Temporal, the Slack connect loop) do not watch ``stop``, so a stop during start-up
    cancels them; a running body gets STOP_GRACE_SECONDS to close cleanly before it is cancelled.
    """
    phase = _Phase()
    task = asyncio.ensure_future(body(phase))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not task.done():
        log.info("stop requested", extra={"event": "stop_requested", "data": {"running": phase.running}})
        if phase.running:
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    task.result()


async def _slack_check(slack: AsyncWebClient, app_token: str) -> bool:
    """True once both tokens are accepted; False while Slack is unreachable; BadSlackToken if one is refused."""
    for variable, call in (("SLACK_BOT_TOKEN", slack.auth_test),
                           ("SLACK_APP_TOKEN", lambda: slack.apps_connections_open(app_token=app_token))):
        try:
            await call()
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in SLACK_TOKEN_ERRORS:
                raise BadSlackToken(variable, error) from None
            log.warning("slack not ready", extra={"event": "slack_unavailable", "data": {"error": error[:200]}})
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("slack unreachable", extra={"event": "slack_unavailable",
                                                    "data": {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}})
            return False
    return True


async def wait_for_slack(slack: AsyncWebClient, app_token: str, *, first_delay: float = 1.0,
                         max_delay: float = 60.0) -> None:
    """Retry with exponential backoff until Slack accepts both tokens; each retry is a warning."""
    delay = first_delay
    attempt = 1
    while not await _slack_check(slack, app_token):
        attempt += 1
        log.warning("retrying slack connection", extra={"event": "slack_retry",
                                                        "data": {"attempt": attempt, "in_seconds": delay}})
        await asyncio.sleep(delay)
        delay = min(max_delay, delay * 2)


async def redeliver_reports(store: Store, notifier: SlackNotifier, client: Client | None = None) -> int:
    """Deliver reports that a Slack outage kept from landing (the workflow gave up retrying).

    A day whose workflow still runs is still delivering its own report under its retry policy: posting it from
    here too could race that delivery into a second report, so such days are left to their workflow.
    """
    delivered = 0
    for run in await store.runs.undelivered_reports():
        if not run.report_json:
            continue
        if client is not None and await _still_running(client, run.workflow_id):
            continue
        try:
            await notifier.report(StatusReport.model_validate_json(run.report_json))
        except Exception as exc:
            emit("status_update_failed", workflow_id=run.workflow_id, user_id=run.user_id, kind="report_redelivery",
                 error=str(exc)[:200])
            continue
        emit("status_update_delivered", workflow_id=run.workflow_id, user_id=run.user_id, kind="report_redelivery")
        await store.runs.update(run.user_id, run.workflow_id, report_delivered=1)
        delivered += 1
    return delivered


async def _still_running(client: Client, workflow_id: str) -> bool:
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        return True  # Temporal unreachable: try again on the next pass rather than risk a second report
    return desc.status == WorkflowExecutionStatus.RUNNING


async def sweep_stranded_days(client: Client, store: Store, notifier: SlackNotifier) -> list[str]:
    """Close days whose workflow was terminated or timed out (no code of theirs runs any more), then deliver
    the failure reports that tell their users."""
    try:
        reaped = await reap_stranded_days(client, store)
    except Exception as exc:  # the next sweep tries again
        log.warning("stranded-day sweep failed", extra={"data": {"error": str(exc)[:200]}})
        return []
    if reaped:
        await redeliver_reports(store, notifier, client)
    return reaped


async def run_bot(settings: Settings, stop: asyncio.Event | None = None, *,
                  hard_stop_after: float | None = None) -> None:
    stop = stop or asyncio.Event()
    _stop_on_signals(stop, hard_stop_after)
    await until_stopped(lambda phase: _bot(settings, stop, phase), stop)


async def _bot(settings: Settings, stop: asyncio.Event, phase: _Phase) -> None:
    assert settings.slack_bot_token is not None and settings.slack_app_token is not None
    app_token = settings.slack_app_token.get_secret_value()
    slack = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    # A refused token ends the process now; an unreachable Slack is retried once the worker runs days.
    slack_ok = await _slack_check(slack, app_token)
    notifiers: list[SlackNotifier] = []

    def make_notifier(store: Store) -> SlackNotifier:
        notifiers.append(SlackNotifier(slack, store, email=email_reporter(settings, store)))
        return notifiers[-1]

    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.start()
    try:
        async with serve_metrics(settings) as metrics, \
                open_services(settings, make_notifier, runtime=metrics.runtime if metrics else None) as svc, \
                contextlib.AsyncExitStack() as stack:
            control = ShiftControl(svc.store, svc.client, settings)
            await reconcile_at_startup(control)
            home = HomePublisher(slack, control, scheduler)
            notifier = notifiers[0]
            notifier.on_change = home.request
            web = await start_dashboard(settings, control)  # None when DAYSHIFT_WEB_PORT=0
            if web is not None:
                stack.push_async_callback(web.stop)  # whatever fails after this, the port is let go
            app = create_app(slack, BotDeps(control=control, home=home, store=svc.store, web=web))
            scheduler.add_job(_purge, "cron", hour=3, minute=17,
                              args=[svc.store, settings.retention_days, settings.data_dir], id="retention")
            scheduler.add_job(redeliver_reports, "interval", minutes=5, args=[svc.store, notifier, svc.client],
                              id="redeliver")
            scheduler.add_job(sweep_stranded_days, "interval", minutes=1, args=[svc.client, svc.store, notifier],
                              id="stranded", next_run_time=datetime.now(ZoneInfo("UTC")))
            if not slack_ok:
                await wait_for_slack(slack, app_token)
            handler = AsyncSocketModeHandler(app, app_token, web_client=slack)
            try:
                await handler.connect_async()
                log.info("dayshift bot connected", extra={"event": "bot_connected"})
                phase.running = True
                await stop.wait()
            finally:
                log.info("dayshift bot stopping", extra={"event": "bot_stopping"})
                await asyncio.shield(handler.close_async())
    finally:
        scheduler.shutdown(wait=False)


async def reconcile_at_startup(control: ShiftControl) -> dict[str, int]:
    """Settings may have changed while no process ran: bring every known user's schedule in line."""
    users = await control.store.users.all()
    catchup = timedelta(seconds=control.settings.catchup_seconds)
    counts = await reconcile_schedules(control.client, users, catchup=catchup, timings=day_shape(control.settings),
                                       task_queue=control.task_queue)
    if not counts["failed"]:
        control.scheduled.update(u.user_id for u in users)
    return counts


async def _purge(store: Store, keep_days: int, data_dir: Path | None = None) -> None:
    today = datetime.now(ZoneInfo("UTC")).date()
    removed = await store.history.purge(today, keep_days)
    await store.artifacts.purge(today, keep_days)
    await store.email_reports.purge(today, keep_days)
    if data_dir is not None:  # executors' workspaces go with the history they belong to
        await asyncio.to_thread(purge_workspaces, data_dir / "workspaces", today, keep_days)
    log.info("retention purge", extra={"event": "retention_purge", "data": {"removed": removed}})


async def run_worker(settings: Settings, stop: asyncio.Event | None = None, *,
                     hard_stop_after: float | None = None) -> None:
    if not settings.temporal_address:
        raise SystemExit("`dayshift worker` adds capacity to a shared cluster: set TEMPORAL_ADDRESS "
                         "(the embedded server of `dayshift run` is private to that process).")
    stop = stop or asyncio.Event()
    _stop_on_signals(stop, hard_stop_after)

    def make_notifier(store: Store) -> SlackNotifier:
        assert settings.slack_bot_token is not None
        return SlackNotifier(web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url), store,
                             email=email_reporter(settings, store))

    async def body(phase: _Phase) -> None:
        # Without Slack this worker serves the workflow and agent queues only: reports and escalations wait on
        # the notification queue for a process that can deliver them (the bot), never dropped here.
        async with serve_metrics(settings) as metrics, \
                open_services(settings, make_notifier if settings.slack_bot_token is not None else None,
                              runtime=metrics.runtime if metrics else None):
            log.info("dayshift worker running", extra={"event": "worker_started"})
            phase.running = True
            await stop.wait()

    await until_stopped(body, stop)
