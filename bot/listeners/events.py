"""Events: ``app_home_opened`` publishes the user's dashboard (each event id handled once)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.deps import BotDeps
from bot.listeners.acks import ack_now


def register(app: AsyncApp, deps: BotDeps) -> None:
    async def on_home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        event_id = str(body.get("event_id") or "")
        if event_id and not await deps.store.audit.first_time(f"event:{event_id}"):
            return  # Slack delivers at least once
        await deps.home.publish(str(event.get("user", "")))

    app.event("app_home_opened")(ack=ack_now, lazy=[on_home_opened])
