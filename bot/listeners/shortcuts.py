"""Message shortcut ``add_as_task``: turn a message (with a link back to it) into a pending task."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import escape
from bot.control import UserError
from bot.deps import BotDeps
from bot.listeners.acks import ack_now

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: BotDeps) -> None:
    async def on_add_as_task(shortcut: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        user_id = str(shortcut.get("user", {}).get("id", ""))
        message = shortcut.get("message") or {}
        channel = str(shortcut.get("channel", {}).get("id", ""))
        team = str(shortcut.get("team", {}).get("id", ""))
        ts = str(message.get("ts", ""))
        text = str(message.get("text") or "").strip()
        try:
            if not text:
                raise UserError("That message has no text to turn into a task.")
            link = ""
            try:
                link = str((await client.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
            except Exception:
                log.info("no permalink", extra={"user_id": user_id})
            body = text[:1800] + (f"\n(from {link})" if link else "")
            outcome = await deps.control.add(user_id, body, source_ref=f"{team}/{channel}/{ts}")
            where = "today's running shift" if outcome.when == "today" else "your next shift"
            reply = f"✅ Added `{outcome.short_id}` to {where}: {escape(outcome.description[:150])}"
            await deps.home.request(user_id)
        except UserError as exc:
            reply = f"⚠️ {exc}"
        except Exception:
            log.exception("shortcut failed", extra={"user_id": user_id})
            reply = "⚠️ Something went wrong on our side; please try again."
        await respond(response_type="ephemeral", replace_original=False, text=reply)

    app.shortcut("add_as_task")(ack=ack_now, lazy=[on_add_as_task])
