"""``/dayshift`` and its subcommands. Ack first; every reply is ephemeral and specific."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import USAGE, dicts, escape, status_text, task_list_blocks
from bot.control import UserError
from bot.deps import BotDeps
from bot.listeners.acks import ack_now
from bot.listeners.views import open_settings

log = logging.getLogger(__name__)
SUBCOMMANDS = ("add", "list", "edit", "cancel", "run", "status", "history", "settings", "dashboard", "help")


async def dispatch(deps: BotDeps, user_id: str, text: str, *, trigger_id: str | None,
                   client: AsyncWebClient) -> dict[str, Any]:
    """Run one subcommand; returns the ephemeral reply (text, optional blocks)."""
    words = text.strip().split(None, 1)
    if not words:
        return {"text": USAGE}
    sub, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    control = deps.control
    if sub == "help":
        return {"text": USAGE}
    if sub == "add":
        outcome = await control.add(user_id, rest)
        where = "to today's running shift" if outcome.when == "today" else "for your next shift"
        await deps.home.request(user_id)
        return {"text": f"✅ Added `{outcome.short_id}` {where}: {escape(outcome.description[:200])}"}
    if sub in ("edit", "cancel"):
        parts = rest.split(None, 1)
        if not parts or (sub == "edit" and len(parts) < 2):
            usage = "`/dayshift edit <id> <new text>`" if sub == "edit" else "`/dayshift cancel <id>`"
            raise UserError(f"Usage: {usage} (ids are shown by `/dayshift list`).")
        if sub == "edit":
            short = await control.edit(user_id, parts[0], parts[1])
            reply = f"✏️ Task `{short}` updated."
        else:
            short = await control.cancel(user_id, parts[0])
            reply = f"🚫 Task `{short}` cancelled."
        await deps.home.request(user_id)
        return {"text": reply}
    if sub == "list":
        state, waiting = await control.tasks_today(user_id)
        return {"text": "Your Dayshift tasks", "blocks": dicts(task_list_blocks(state, waiting))}
    if sub == "run":
        workflow_id = await control.run_now(user_id)
        await deps.home.request(user_id)
        return {"text": f"🚀 Today's shift is starting (`{workflow_id}`). Progress goes to its thread."}
    if sub == "status":
        user = await control.user(user_id)
        state = await control.state(user)
        if state is None:
            return {"text": f"No shift is running. Next shift: {await control.next_start_slack(user)}."}
        return {"text": status_text(state)}
    if sub == "history":
        days = 7
        if rest.strip():
            if not rest.strip().isdigit() or not 1 <= int(rest.strip()) <= 90:
                raise UserError("Usage: `/dayshift history [days]` with days from 1 to 90.")
            days = int(rest.strip())
        user = await control.user(user_id)
        rows = await deps.store.history.day_totals(user_id, days, datetime.now(ZoneInfo(user.timezone)).date())
        if not rows:
            return {"text": f"No archived shifts in the last {days} day(s)."}
        lines = [f"• {r['day']}: {r['completed']}/{r['total']} completed, {r['failed']} failed" for r in rows]
        return {"text": f"*Last {days} day(s)*\n" + "\n".join(lines[:60])}
    if sub == "dashboard":
        if deps.web is None:
            raise UserError("The web dashboard is turned off here (DAYSHIFT_WEB_PORT=0).")
        url = deps.web.link_for(user_id)
        return {"text": f"🔗 <{url}|Open your Dayshift dashboard> — a personal link: it works once and expires "
                        f"in 10 minutes. Do not share it.", "unfurl_links": False, "unfurl_media": False}
    if sub == "settings":
        if not trigger_id:
            raise UserError("Open settings from the Home tab instead.")
        await open_settings(deps, client, user_id, trigger_id)
        return {"text": "Opening your settings…"}
    raise UserError(f"Unknown subcommand `{escape(sub[:30])}`.\n{USAGE}")


def register(app: AsyncApp, deps: BotDeps) -> None:
    async def on_command(command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        user_id = str(command.get("user_id", ""))
        try:
            reply = await dispatch(deps, user_id, str(command.get("text") or ""),
                                   trigger_id=command.get("trigger_id"), client=client)
        except UserError as exc:
            reply = {"text": f"⚠️ {exc}"}
        except Exception:
            log.exception("command failed", extra={"user_id": user_id})
            reply = {"text": "⚠️ Something went wrong on our side; please try again in a moment."}
        await respond(response_type="ephemeral", replace_original=False, **reply)

    app.command("/dayshift")(ack=ack_now, lazy=[on_command])
