"""The Bolt app factory: tests inject a client pointed at a fake Slack; production one at slack.com."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import BotDeps
from bot.listeners import register_all

log = logging.getLogger(__name__)


def create_app(client: AsyncWebClient, deps: BotDeps) -> AsyncApp:
    app = AsyncApp(client=client, ignoring_self_events_enabled=True,
                   request_verification_enabled=False, process_before_response=True)
    register_all(app, deps)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("listener error", extra={"data": {"error": repr(error)[:300], "type": body.get("type")}})

    return app
