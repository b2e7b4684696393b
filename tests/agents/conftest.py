"""Real SDK + bundled CLI against the offline model on loopback (no fakes of either)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from agents.offline import OfflineModel
from agents.runtime import AgentConfig, ClaudeAgentRuntime
from agents.supervision import AgentMonitor
from storage.store import Store


@pytest.fixture
async def model() -> AsyncIterator[OfflineModel]:
    async with OfflineModel() as m:
        yield m


@pytest.fixture
async def runtime(store: Store, model: OfflineModel, tmp_path: Path) -> AsyncIterator[ClaudeAgentRuntime]:
    sent: list[tuple[str, str]] = []

    async def send(user: str, text: str) -> None:
        sent.append((user, text))

    rt = ClaudeAgentRuntime(store, AgentConfig(data_dir=tmp_path / "data", base_url=model.base_url,
                                               api_key="offline-test-key", daily_budget_usd=5, agent_budget_usd=1),
                            send_message=send)
    rt.sent = sent  # type: ignore[attr-defined]
    yield rt
    await rt.aclose()


class Beats:
    def __init__(self) -> None:
        self.details: list[dict[str, object]] = []

    def __call__(self, *details: object) -> None:
        if details and isinstance(details[0], dict):
            self.details.append(details[0])


def monitor(resume: dict[str, object] | None = None, stale_after: float = 60) -> AgentMonitor:
    return AgentMonitor(Beats(), interval=0.2, stale_after=stale_after, resume=resume)


def claude_processes() -> list[psutil.Process]:
    me = psutil.Process()
    found = []
    for child in me.children(recursive=True):
        try:
            if "claude" in " ".join(child.cmdline()[:2]):
                found.append(child)
        except psutil.Error:
            continue
    return found
