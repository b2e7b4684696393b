"""The composition root: settings in, a wired store + Temporal client + agents + worker out."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from agents.http_tool import HttpTool, parse_credentials
from agents.integrations import IntegrationConfigError, Integrations, deployment_integrations
from agents.offline import OfflineModel
from agents.runtime import AgentConfig, ClaudeAgentRuntime
from agents.sandbox import ContainmentPolicy
from agents.tools import SendMessage
from bot.logging_setup import register_secret
from bot.metrics import temporal_runtime
from bot.settings import Settings
from bot.temporal_server import EmbeddedTemporal
from storage.store import Store
from workflows.activities import ShiftActivities
from workflows.models import ScheduleInput
from workflows.notifier import Notifier
from workflows.worker import ShiftWorkers, build_worker

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    client: Client
    agents: ClaudeAgentRuntime
    worker: ShiftWorkers | None = None
    temporal: EmbeddedTemporal | None = None
    offline: OfflineModel | None = None

    def ui_url(self, workflow_id: str) -> str:
        if self.temporal is not None:
            return self.temporal.ui_url(workflow_id)
        return f"(Temporal UI of {self.settings.temporal_address}) workflow {workflow_id}"


def containment_policy(settings: Settings) -> ContainmentPolicy:
    """The deployment's agent policy; the project's .env (it holds the tokens) is unreadable to Bash."""
    db = settings.database_path.resolve()  # DAYSHIFT_DB may live outside the data dir
    return ContainmentPolicy(http_allowed_domains=settings.http_allowed_domains,
                             disabled_capabilities=settings.disabled_capabilities,
                             deny_read=(str(Path(".env").resolve()), *(f"{db}{suffix}" for suffix in
                                                                       ("", "-wal", "-shm", "-journal"))))


def load_integrations_or_exit(settings: Settings) -> Integrations:
    """The deployment's MCP servers; a bad file stops start-up with the file and line (issue 13)."""
    try:
        found = deployment_integrations(settings.integrations_file, settings.data_dir, os.environ)
    except IntegrationConfigError as exc:
        raise SystemExit(f"integrations: {exc}") from exc
    for server in found.servers.values():
        for value in server.env.values():
            register_secret(value)  # masked wherever it might surface (logs, Slack, stored agent text)
    return found


def http_tool_or_exit(settings: Settings) -> HttpTool | None:
    """The executors' http_request tool; None when no domain is allowed (the http capability is then refused)."""
    if not settings.http_allowed_domains:
        return None
    raw = settings.http_credentials.get_secret_value() if settings.http_credentials else ""
    try:
        credentials = parse_credentials(raw, settings.http_allowed_domains)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    for headers in credentials.values():
        for value in headers.values():
            register_secret(value)
            if " " in value:  # "Bearer <token>": the token alone is masked too
                register_secret(value.split(" ", 1)[1])
    return HttpTool(allowed_domains=settings.http_allowed_domains, credentials=credentials,
                    max_bytes=settings.http_max_response_bytes)


def register_secrets(settings: Settings) -> None:
    for secret in (settings.slack_bot_token, settings.slack_app_token, settings.anthropic_api_key,
                   settings.temporal_api_key, settings.database_url):
        if secret is not None:
            register_secret(secret.get_secret_value())


async def connect_temporal(settings: Settings, runtime: Runtime | None = None
                           ) -> tuple[Client, EmbeddedTemporal | None]:
    """Connect to TEMPORAL_ADDRESS, or start the embedded dev server on a file in the data folder."""
    if settings.temporal_address:
        api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
        client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                      api_key=api_key, tls=settings.temporal_tls or bool(api_key),
                                      data_converter=pydantic_data_converter, runtime=runtime)
        return client, None
    embedded = EmbeddedTemporal(settings.data_dir, ui_port=settings.temporal_ui_port,
                                namespace=settings.temporal_namespace)
    try:  # a stop (SIGTERM) during start-up cancels us here: never leave the server behind
        await embedded.start()
        client = await Client.connect(embedded.address, namespace=settings.temporal_namespace,
                                      data_converter=pydantic_data_converter, runtime=runtime)
    except BaseException:
        await embedded.stop()
        raise
    return client, embedded


OFFLINE_LABEL = "offline model (scripted: no real work was done)"


class ModelNotConfigured(RuntimeError):
    """No model for `run`/`worker`: fail at start-up rather than report work that never happened."""


async def start_model(settings: Settings, pace: float = 0.0, *, demo: bool = False
                      ) -> tuple[str | None, str | None, OfflineModel | None]:
    """(base_url, api_key, offline server). The offline model runs only in the demo or with DAYSHIFT_MODEL=offline."""
    offline_wanted = settings.model == "offline" or (demo and settings.model != "claude")
    if not offline_wanted:
        if settings.anthropic_api_key is not None:
            return settings.anthropic_base_url, settings.anthropic_api_key.get_secret_value(), None
        if settings.anthropic_base_url:  # a gateway that holds the key
            return settings.anthropic_base_url, "gateway", None
        raise ModelNotConfigured(settings.model_problem() or "no model configured")
    offline = await OfflineModel(executor_step_delay=pace).start()
    log.warning("using the offline model: scripted answers, no real work", extra={
        "event": "offline_model", "data": {"base_url": offline.base_url}})
    return offline.base_url, "offline", offline


def day_shape(settings: Settings) -> ScheduleInput:
    """The operator's current shape of a day; what a schedule carries and what ``resolve_day`` reads."""
    return ScheduleInput(user_id="*", window_seconds=settings.window_seconds,
                         checkpoint_seconds=settings.checkpoint_seconds, warning_seconds=settings.warning_seconds,
                         max_parallel=settings.max_parallel_tasks)


@asynccontextmanager
async def open_services(settings: Settings, make_notifier: Callable[[Store], Notifier] | None, *,
                        with_worker: bool = True, stale_after: float = 300.0,
                        offline_pace: float = 0.0, demo: bool = False,
                        runtime: Runtime | None = None, cli_max_retries: int | None = None
                        ) -> AsyncIterator[Services]:
    register_secrets(settings)
    problem = None if demo else settings.model_problem()
    if problem:  # before opening or connecting to anything
        raise ModelNotConfigured(problem)
    integrations = load_integrations_or_exit(settings)
    http_tool = http_tool_or_exit(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await Store.open(settings.database_target)
    # No notifier (a worker without Slack): this process then serves no notification queue.
    notifier = make_notifier(store) if make_notifier is not None else None
    send_message: SendMessage | None = getattr(notifier, "send_message", None)
    temporal: EmbeddedTemporal | None = None
    offline: OfflineModel | None = None
    agents: ClaudeAgentRuntime | None = None
    try:
        client, temporal = await connect_temporal(settings, runtime or temporal_runtime())
        base_url, api_key, offline = await start_model(settings, offline_pace, demo=demo)
        agents = ClaudeAgentRuntime(store, AgentConfig(
            data_dir=settings.data_dir.resolve(), orchestrator_model=settings.orchestrator_model,
            executor_model=settings.executor_model, base_url=base_url, api_key=api_key,
            max_turns=settings.agent_max_turns, agent_budget_usd=settings.agent_budget_usd,
            daily_budget_usd=settings.daily_budget_usd, max_concurrent=settings.max_concurrent_agents,
            policy=containment_policy(settings), run_token_cap=settings.agent_run_token_cap,
            artifact_caps=settings.artifact_caps, integrations=integrations, http_tool=http_tool,
            **({"cli_max_retries": cli_max_retries} if cli_max_retries is not None else {})),
            send_message=send_message)
        services = Services(settings=settings, store=store, client=client, agents=agents, temporal=temporal,
                            offline=offline)
        if with_worker:
            activities = ShiftActivities(store, agents, notifier, daily_budget_usd=settings.daily_budget_usd,
                                         agent_budget_usd=settings.agent_budget_usd, stale_after=stale_after,
                                         progress_signal_seconds=settings.progress_signal_seconds)
            activities.model_label = OFFLINE_LABEL if offline is not None else None
            activities.day_shape = day_shape(settings)
            # On SIGTERM running activities are cancelled at once (executors save their progress) while
            # Temporal is still up, so the whole stop fits in 10 s; Temporal retries them elsewhere or later.
            services.worker = build_worker(client, activities, max_concurrent_agents=settings.max_concurrent_agents,
                                           graceful_shutdown=timedelta(0))
            async with services.worker:
                yield services
        else:
            yield services
    finally:
        if agents is not None:
            await agents.aclose()
        if offline is not None:
            await offline.stop()
        if temporal is not None:
            await temporal.stop()
        await store.close()
