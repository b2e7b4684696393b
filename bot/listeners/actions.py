"""Buttons: Retry / Skip from escalation DMs (owner only), and the Home tab's buttons."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.control import UserError
from bot.deps import BotDeps
from bot.listeners.acks import ack_now
from bot.listeners.views import open_settings

log = logging.getLogger(__name__)


def _clicker(body: dict[str, Any]) -> str:
    return str(body.get("user", {}).get("id", ""))


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value", ""))[:64]


def register(app: AsyncApp, deps: BotDeps) -> None:
    async def decide(body: dict[str, Any], respond: AsyncRespond, decision: str) -> None:
        user_id, task_id = _clicker(body), _value(body)
        try:
            short = await deps.control.decide(user_id, task_id, decision)
        except UserError as exc:
            await respond(response_type="ephemeral", replace_original=False, text=f"⚠️ {exc}")
            return
        except Exception:
            log.exception("decision failed", extra={"user_id": user_id})
            await respond(response_type="ephemeral", replace_original=False,
                          text="⚠️ Something went wrong on our side; please try again.")
            return
        verb = "will be retried" if decision == "retry" else "was skipped"
        await respond(replace_original=True, text=f"Task `{short}` {verb} (chosen by <@{user_id}>).")
        await deps.home.request(user_id)

    async def on_retry(body: dict[str, Any], respond: AsyncRespond) -> None:
        await decide(body, respond, "retry")

    async def on_skip(body: dict[str, Any], respond: AsyncRespond) -> None:
        await decide(body, respond, "skip")

    async def on_open_settings(body: dict[str, Any], client: AsyncWebClient) -> None:
        await open_settings(deps, client, _clicker(body), str(body.get("trigger_id", "")))

    async def on_home_run(body: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = _clicker(body)
        try:
            workflow_id = await deps.control.run_now(user_id)
            text = f"🚀 Today's shift is starting (`{workflow_id}`)."
        except UserError as exc:
            text = f"⚠️ {exc}"
        dm = await client.conversations_open(users=user_id)
        await client.chat_postEphemeral(channel=dm["channel"]["id"], user=user_id, text=text)
        await deps.home.request(user_id)

    app.action("retry_task")(ack=ack_now, lazy=[on_retry])
    app.action("skip_task")(ack=ack_now, lazy=[on_skip])
    app.action("open_settings")(ack=ack_now, lazy=[on_open_settings])
    app.action("home_run")(ack=ack_now, lazy=[on_home_run])
