"""The composition root: settings in, a wired store + Temporal client + agents + worker out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from agents.offline import OfflineModel
from agents.runtime import AgentConfig, ClaudeAgentRuntime
from agents.sandbox import ContainmentPolicy
from agents.tools import SendMessage
from bot.logging_setup import register_secret
from bot.settings import Settings
from bot.temporal_server import EmbeddedTemporal
from storage.store import Store
from workflows.activities import ShiftActivities
from workflows.notifier import Notifier
from workflows.worker import build_worker

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    client: Client
    agents: ClaudeAgentRuntime
    worker: Worker | None = None
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


def register_secrets(settings: Settings) -> None:
    for secret in (settings.slack_bot_token, settings.slack_app_token, settings.anthropic_api_key,
                   settings.temporal_api_key, settings.database_url):
        if secret is not None:
            register_secret(secret.get_secret_value())


async def connect_temporal(settings: Settings) -> tuple[Client, EmbeddedTemporal | None]:
    """Connect to TEMPORAL_ADDRESS, or start the embedded dev server on a file in the data folder."""
    if settings.temporal_address:
        api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
        client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                      api_key=api_key, tls=settings.temporal_tls or bool(api_key),
                                      data_converter=pydantic_data_converter)
        return client, None
    embedded = EmbeddedTemporal(settings.data_dir, ui_port=settings.temporal_ui_port,
                                namespace=settings.temporal_namespace)
    await embedded.start()
    client = await Client.connect(embedded.address, namespace=settings.temporal_namespace,
                                  data_converter=pydantic_data_converter)
    return client, embedded


async def start_model(settings: Settings, pace: float = 0.0) -> tuple[str | None, str | None, OfflineModel | None]:
    """(base_url, api_key, offline server): real Claude with ANTHROPIC_API_KEY, else the offline model."""
    if settings.anthropic_api_key is not None:
        return settings.anthropic_base_url, settings.anthropic_api_key.get_secret_value(), None
    if settings.anthropic_base_url:
        return settings.anthropic_base_url, "offline", None
    offline = await OfflineModel(executor_step_delay=pace).start()
    log.info("using the offline model", extra={"data": {"base_url": offline.base_url}})
    return offline.base_url, "offline", offline


@asynccontextmanager
async def open_services(settings: Settings, make_notifier: Callable[[Store], Notifier], *,
                        with_worker: bool = True, stale_after: float = 300.0,
                        offline_pace: float = 0.0) -> AsyncIterator[Services]:
    register_secrets(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await Store.open(settings.database_target)
    notifier = make_notifier(store)
    send_message: SendMessage | None = getattr(notifier, "send_message", None)
    temporal: EmbeddedTemporal | None = None
    offline: OfflineModel | None = None
    agents: ClaudeAgentRuntime | None = None
    try:
        client, temporal = await connect_temporal(settings)
        base_url, api_key, offline = await start_model(settings, offline_pace)
        agents = ClaudeAgentRuntime(store, AgentConfig(
            data_dir=settings.data_dir.resolve(), orchestrator_model=settings.orchestrator_model,
            executor_model=settings.executor_model, base_url=base_url, api_key=api_key,
            max_turns=settings.agent_max_turns, agent_budget_usd=settings.agent_budget_usd,
            daily_budget_usd=settings.daily_budget_usd, max_concurrent=settings.max_concurrent_agents,
            policy=containment_policy(settings), run_token_cap=settings.agent_run_token_cap),
            send_message=send_message)
        services = Services(settings=settings, store=store, client=client, agents=agents, temporal=temporal,
                            offline=offline)
        if with_worker:
            activities = ShiftActivities(store, agents, notifier, daily_budget_usd=settings.daily_budget_usd,
                                         agent_budget_usd=settings.agent_budget_usd, stale_after=stale_after)
            services.worker = build_worker(client, activities, max_concurrent_agents=settings.max_concurrent_agents)
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
