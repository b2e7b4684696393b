"""The Slack Notifier: the day's thread (parent, one status reply kept current, milestone replies,
the final report), escalation DMs, and Home-tab refresh requests.

Message timestamps live in SQLite, so a retried delivery edits the message it already posted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import dicts, escalation_blocks, escape, progress_blocks, report_blocks, report_text
from storage.store import Store
from workflows.models import DayState, StatusReport, TaskState

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, store: Store, *, native_plan: bool = True) -> None:
        self.client = client
        self.store = store
        self.native_plan = native_plan
        self.on_change: Callable[[str], Awaitable[None]] | None = None

    async def _dm(self, user_id: str) -> str:
        resp = await self.client.conversations_open(users=user_id)
        return str(resp["channel"]["id"])

    async def _destination(self, user_id: str) -> str:
        user = await self.store.users.get(user_id)
        return user.slack_channel if user and user.slack_channel else await self._dm(user_id)

    async def _thread(self, user_id: str, workflow_id: str, day: str, deadline: str = "") -> tuple[str, str]:
        run = await self.store.runs.get(user_id, workflow_id)
        if run is not None and run.thread_channel and run.thread_ts:
            return run.thread_channel, run.thread_ts
        channel = await self._destination(user_id)
        text = f"🧵 <@{user_id}>'s Dayshift for {day} has started" + (f" — report due {deadline}" if deadline else "")
        resp = await self.client.chat_postMessage(channel=channel, text=text)
        channel, ts = str(resp["channel"]), str(resp["ts"])
        await self.store.runs.update(user_id, workflow_id, thread_channel=channel, thread_ts=ts)
        return channel, ts

    async def day_started(self, state: DayState) -> None:
        deadline = f"{state.deadline:%H:%M} UTC" if state.deadline else ""
        deadline += f" · 🧪 running on the {state.model_label}" if state.model_label else ""
        await self._thread(state.user_id, state.workflow_id, state.day, deadline)

    async def progress(self, state: DayState) -> None:
        channel, thread_ts = await self._thread(state.user_id, state.workflow_id, state.day)
        text, blocks = progress_blocks(state, native=self.native_plan)
        run = await self.store.runs.get(state.user_id, state.workflow_id)
        if run is not None and run.status_ts:
            await self.client.chat_update(channel=channel, ts=run.status_ts, text=text, blocks=dicts(blocks))
            return
        resp = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text,
                                                  blocks=dicts(blocks))
        await self.store.runs.update(state.user_id, state.workflow_id, status_ts=str(resp["ts"]))

    async def escalate(self, state: DayState, task: TaskState, suggestion: str, escalation_id: str) -> None:
        existing = await self.store.escalations.get(state.user_id, escalation_id)
        if existing is not None and existing.delivered:
            return
        channel = await self._dm(state.user_id)
        text = f"⚠️ Task {task.short_id} failed after {task.attempts} attempts: {escape(task.error or '')[:200]}"
        resp = await self.client.chat_postMessage(channel=channel, text=text,
                                                  blocks=dicts(escalation_blocks(task, suggestion, state.day)))
        await self.store.escalations.mark_delivered(state.user_id, escalation_id, channel, str(resp["ts"]))
        try:
            thread_channel, thread_ts = await self._thread(state.user_id, state.workflow_id, state.day)
            await self.client.chat_postMessage(channel=thread_channel, thread_ts=thread_ts,
                                               text=f"⚠️ `{task.short_id}` needs your decision (see DM).")
        except Exception as exc:  # the DM is what matters; the thread note is a courtesy
            log.warning("thread note failed", extra={"data": {"error": str(exc)}})

    async def report(self, report: StatusReport) -> None:
        channel, thread_ts = await self._thread(report.user_id, report.workflow_id, report.day)
        blocks, text = dicts(report_blocks(report)), report_text(report)
        run = await self.store.runs.get(report.user_id, report.workflow_id)
        if run is not None and run.report_ts:
            await self.client.chat_update(channel=channel, ts=run.report_ts, text=text, blocks=blocks)
        else:
            resp = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks,
                                                      reply_broadcast=False)
            await self.store.runs.update(report.user_id, report.workflow_id, report_ts=str(resp["ts"]))
        outcome = f"{len(report.completed)}/{report.total_generated} completed" if not report.skipped_reason \
            else "skipped"
        await self.client.chat_update(channel=channel, ts=thread_ts,
                                      text=f"🧵 <@{report.user_id}>'s Dayshift for {report.day} — done: {outcome}")

    async def changed(self, user_id: str) -> None:
        if self.on_change is not None:
            await self.on_change(user_id)

    async def send_message(self, user_id: str, text: str) -> None:
        """The executors' ``send_message`` tool: a DM to the shift's owner."""
        await self.client.chat_postMessage(channel=await self._dm(user_id), text=f"🤖 {escape(text)}")
