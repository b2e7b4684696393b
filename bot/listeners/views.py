"""The settings modal: open it (timezone defaulting to the Slack profile's) and save it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import settings_modal
from bot.control import EMAIL, UserError
from bot.deps import BotDeps
from bot.settings import validate_start_time, validate_timezone

log = logging.getLogger(__name__)


async def open_settings(deps: BotDeps, client: AsyncWebClient, user_id: str, trigger_id: str) -> None:
    timezone = None
    if await deps.store.users.get(user_id) is None:
        try:
            profile = await client.users_info(user=user_id)
            timezone = profile["user"].get("tz")
            validate_timezone(timezone or "")
        except Exception:
            timezone = None
    user = await deps.control.user(user_id, timezone=timezone)
    await client.views_open(trigger_id=trigger_id, view=settings_modal(user))


def _values(view: dict[str, Any]) -> dict[str, Any]:
    state = (view.get("state") or {}).get("values") or {}
    start = ((state.get("start") or {}).get("start") or {}).get("selected_option") or {}
    tz = ((state.get("tz") or {}).get("tz") or {}).get("value") or ""
    channel = ((state.get("channel") or {}).get("channel") or {}).get("selected_conversation")
    paused = ((state.get("paused") or {}).get("paused") or {}).get("selected_options") or []
    email = ((state.get("email") or {}).get("email") or {}).get("value") or ""
    return {"start": str(start.get("value") or ""), "tz": str(tz)[:64], "channel": channel,
            "paused": bool(paused), "email": str(email).strip()[:254] or None}


def _errors(deps: BotDeps, values: dict[str, Any]) -> dict[str, str]:
    errors = {}
    try:
        validate_timezone(values["tz"])
    except ValueError as exc:
        errors["tz"] = str(exc)[:150]
    try:
        validate_start_time(values["start"], allow_any=deps.control.settings.allow_any_start_time)
    except ValueError as exc:
        errors["start"] = str(exc)[:150]
    if values["email"] is not None and not EMAIL.fullmatch(values["email"]):
        errors["email"] = "Give an e-mail address like name@example.com, or leave it empty."
    return errors


def register(app: AsyncApp, deps: BotDeps) -> None:
    async def check(ack: AsyncAck, view: dict[str, Any]) -> None:
        """The ack carries field errors back into the open modal, so validation happens here, fast."""
        errors = _errors(deps, _values(view))
        if errors:
            await ack(response_action="errors", errors=errors)
        else:
            await ack()

    async def save(body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = str(body.get("user", {}).get("id", ""))
        values = _values(view)
        if _errors(deps, values):
            return
        try:
            await deps.control.save_settings(user_id, timezone=values["tz"], start_time=values["start"],
                                             channel=values["channel"], paused=values["paused"],
                                             email=values["email"])
        except UserError as exc:
            dm = await client.conversations_open(users=user_id)
            await client.chat_postMessage(channel=dm["channel"]["id"], text=f"⚠️ Settings not saved: {exc}")
            return
        except Exception:
            log.exception("settings save failed", extra={"user_id": user_id})
            return
        await deps.home.publish(user_id)

    app.view("settings_submit")(ack=check, lazy=[save])
