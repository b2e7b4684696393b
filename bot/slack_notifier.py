"""The Slack Notifier: the day's thread (parent, one status reply kept current, milestone replies,
the final report), escalation DMs, and Home-tab refresh requests.

Every post the day makes is posted once, then edited. Slack can accept a ``chat.postMessage`` and still
answer 500 or drop the connection, and the activity is then retried; so each post is keyed (the day's
parent, its report, an escalation's DM), the key is stored *before* posting and carried in the message's
metadata, and the ts right after. A retry that finds the key without a ts looks the message up in Slack
(``conversations.history`` / ``conversations.replies`` with the metadata) before it would post again.
The client used for posting (``post_once_client``) therefore retries only 429s itself (a 429 is never
accepted); 5xx and connection errors come back here, where they are safe to retry. Like every Slack client
of the bot it is a ``RedactingWebClient``, so a report quoting a secret reaches Slack masked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import dicts, escalation_blocks, escape, progress_blocks, report_blocks, report_text, slack_time
from bot.email_report import EmailReporter
from bot.slack_client import post_once_client
from storage.models import Artifact, SlackPost
from storage.store import Store
from workflows.models import DayState, StatusReport, TaskState
from workflows.report import attach_artifacts

log = logging.getLogger(__name__)
EVENT_TYPE = "dayshift_post"
# Slack may take a moment before an accepted message shows in history; wait a little before posting again.
LOOKUP_DELAYS = (0.5, 1.0, 2.0)
_TRANSIENT = (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError)


class _Failed(dict[str, Any]):
    """A failed upload's answer, shaped like a Slack response for ``SlackApiError``."""

    def __init__(self, status: int) -> None:
        super().__init__(ok=False, error=f"upload_http_{status}")
        self.status_code = status


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, store: Store, *, native_plan: bool = True,
                 lookup_delays: tuple[float, ...] = LOOKUP_DELAYS, email: EmailReporter | None = None) -> None:
        self.client = client
        self.email = email  # the e-mail copy of the report (DAYSHIFT_SMTP_URL), for users who gave an address
        self.store = store
        self.native_plan = native_plan
        self.lookup_delays = lookup_delays
        self.on_change: Callable[[str], Awaitable[None]] | None = None
        self._poster = post_once_client(client)

    async def _dm(self, user_id: str) -> str:
        resp = await self.client.conversations_open(users=user_id)
        return str(resp["channel"]["id"])

    async def _destination(self, user_id: str) -> str:
        user = await self.store.users.get(user_id)
        return user.slack_channel if user and user.slack_channel else await self._dm(user_id)

    # ---- post once ------------------------------------------------------------------------------

    async def _post_once(self, user_id: str, key: str, channel: str, text: str, *,
                         blocks: list[dict[str, Any]] | None = None,
                         thread_ts: str | None = None) -> tuple[str, str, bool]:
        """Post the message called ``key`` unless it exists; returns (channel, ts, posted_now)."""
        post = await self.store.runs.post(user_id, key)
        if post is not None and post.ts:
            return post.channel, post.ts, False
        if post is None:
            post = await self.store.runs.intend_post(user_id, key, channel, thread_ts)
        else:  # an earlier attempt got this far: Slack may have its message even though we never heard back
            found = await self._lookup(post)
            if found is not None:
                return post.channel, found, False
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": key}}
        for delay in (*self.lookup_delays, None):
            try:
                resp = await self._poster.chat_postMessage(channel=post.channel, thread_ts=post.thread_ts, text=text,
                                                           blocks=blocks, metadata=metadata, unfurl_links=False)
            except _TRANSIENT as exc:
                if isinstance(exc, SlackApiError) and exc.response.status_code < 500:
                    raise  # Slack refused it (bad channel, auth): nothing was posted, nothing to retry here
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                found = await self._lookup(post)
                if found is not None:
                    return post.channel, found, False
                continue
            ts = str(resp["ts"])
            await self.store.runs.posted(user_id, key, str(resp["channel"]), ts)
            return str(resp["channel"]), ts, True
        raise AssertionError("unreachable")

    async def _lookup(self, post: SlackPost) -> str | None:
        """Find the message an earlier attempt posted (by its metadata key); store and return its ts."""
        oldest = f"{datetime.fromisoformat(post.created_at).timestamp() - 60:.6f}"
        cursor: str | None = None
        for _ in range(5):
            try:
                if post.thread_ts:
                    resp = await self.client.conversations_replies(channel=post.channel, ts=post.thread_ts,
                                                                   oldest=oldest, include_all_metadata=True,
                                                                   limit=200, cursor=cursor)
                else:
                    resp = await self.client.conversations_history(channel=post.channel, oldest=oldest,
                                                                   include_all_metadata=True, limit=200,
                                                                   cursor=cursor)
            except SlackApiError as exc:
                if exc.response.get("error") == "thread_not_found":
                    return None
                raise
            for message in resp.get("messages") or []:
                meta = message.get("metadata") or {}
                key = (meta.get("event_payload") or {}).get("key")
                if meta.get("event_type") == EVENT_TYPE and key == post.post_key:
                    ts = str(message["ts"])
                    await self.store.runs.posted(post.user_id, post.post_key, post.channel, ts)
                    return ts
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    async def _edit(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    # ---- the day's thread -------------------------------------------------------------------------

    async def _thread(self, user_id: str, workflow_id: str, day: str, deadline: datetime | None = None,
                      timezone: str = "UTC", model_label: str | None = None) -> tuple[str, str]:
        run = await self.store.runs.get(user_id, workflow_id)
        if run is not None and run.thread_channel and run.thread_ts:
            return run.thread_channel, run.thread_ts
        due = f" — report due {slack_time(deadline, timezone)}" if deadline else ""
        text = f"🧵 <@{user_id}>'s Dayshift for {day} has started{due}"
        text += f" · 🧪 running on the {model_label}" if model_label else ""
        channel, ts, _ = await self._post_once(user_id, f"{workflow_id}:parent", await self._destination(user_id),
                                               text)
        await self.store.runs.update(user_id, workflow_id, thread_channel=channel, thread_ts=ts)
        return channel, ts

    async def day_started(self, state: DayState) -> None:
        await self._thread(state.user_id, state.workflow_id, state.day, state.deadline, state.timezone,
                           state.model_label)

    async def progress(self, state: DayState) -> None:
        channel, thread_ts = await self._thread(state.user_id, state.workflow_id, state.day, state.deadline,
                                                state.timezone, state.model_label)
        text, blocks = progress_blocks(state, native=self.native_plan)
        run = await self.store.runs.get(state.user_id, state.workflow_id)
        if run is not None and run.status_ts:
            await self._edit(channel, run.status_ts, text, dicts(blocks))
            return
        channel, ts, fresh = await self._post_once(state.user_id, f"{state.workflow_id}:status", channel, text,
                                                   blocks=dicts(blocks), thread_ts=thread_ts)
        if not fresh:
            await self._edit(channel, ts, text, dicts(blocks))
        await self.store.runs.update(state.user_id, state.workflow_id, status_ts=ts)

    async def escalate(self, state: DayState, task: TaskState, suggestion: str, escalation_id: str) -> None:
        existing = await self.store.escalations.get(state.user_id, escalation_id)
        if existing is not None and existing.delivered:
            return
        text = f"⚠️ Task {task.short_id} failed after {task.attempts} attempts: {escape(task.error or '')[:200]}"
        blocks = dicts(escalation_blocks(task, suggestion, state.day))
        channel, ts, _ = await self._post_once(state.user_id, f"escalation:{escalation_id}",
                                               await self._dm(state.user_id), text, blocks=blocks)
        await self.store.escalations.mark_delivered(state.user_id, escalation_id, channel, ts)
        try:
            thread_channel, thread_ts = await self._thread(state.user_id, state.workflow_id, state.day)
            await self._post_once(state.user_id, f"escalation-note:{escalation_id}", thread_channel,
                                  f"⚠️ `{task.short_id}` needs your decision (see DM).", thread_ts=thread_ts)
        except Exception as exc:  # the DM is what matters; the thread note is a courtesy
            log.warning("thread note failed", extra={"data": {"error": str(exc)}})

    async def report(self, report: StatusReport) -> None:
        report = attach_artifacts(report, await self.store.artifacts.for_run(report.user_id, report.workflow_id))
        channel, thread_ts = await self._thread(report.user_id, report.workflow_id, report.day, report.window_end,
                                                report.timezone)
        blocks, text = dicts(report_blocks(report)), report_text(report)
        run = await self.store.runs.get(report.user_id, report.workflow_id)
        if run is not None and run.report_ts:
            await self._edit(channel, run.report_ts, text, blocks)
        else:
            channel, ts, fresh = await self._post_once(report.user_id, f"{report.workflow_id}:report", channel, text,
                                                       blocks=blocks, thread_ts=thread_ts)
            if not fresh:  # posted by an earlier attempt: bring it up to date
                await self._edit(channel, ts, text, blocks)
            await self.store.runs.update(report.user_id, report.workflow_id, report_ts=ts)
        outcome = f"{len(report.completed)}/{report.total_generated} completed" if not report.skipped_reason \
            else "skipped"
        await self._edit(channel, thread_ts, f"🧵 <@{report.user_id}>'s Dayshift for {report.day} — done: {outcome}")
        if self.email is not None:
            await self.email.send_report(report)  # once per day; a failure is recorded for Home, never raised
        if await self.upload_artifacts(report.user_id, report.workflow_id, channel, thread_ts):
            # Slack refused a file the report named as uploaded: say so where the user reads it.
            report = attach_artifacts(report, await self.store.artifacts.for_run(report.user_id, report.workflow_id))
            run = await self.store.runs.get(report.user_id, report.workflow_id)
            if run is not None and run.report_ts:
                await self._edit(channel, run.report_ts, report_text(report), dicts(report_blocks(report)))

    # ---- files ------------------------------------------------------------------------------------

    async def upload_artifacts(self, user_id: str, workflow_id: str, channel: str, thread_ts: str) -> bool:
        """Share the day's kept files into its thread, each exactly once; True if Slack refused one.

        The three steps of ``files_upload_v2`` (files.getUploadURLExternal, the upload, then
        files.completeUploadExternal with ``channel_id`` and ``thread_ts``) are made one by one, because
        ``files_upload_v2`` only returns the file id after the share: the id is stored between the upload
        and the share, and a retry that finds it looks for that file in the thread before sharing it.
        The bytes come from the database (collected when the executor ended), never from a workspace.
        """
        refused = False
        for art in await self.store.artifacts.for_run(user_id, workflow_id):
            if art.shared_at is not None or art.content is None or art.skipped is not None:
                continue
            try:
                if art.file_id is not None and await self._file_in_thread(channel, thread_ts, art.file_id):
                    await self.store.artifacts.shared(user_id, art.task_id, art.name)
                    continue
                await self._share_file(art, channel, thread_ts)
            except SlackApiError as exc:
                if exc.response.status_code >= 500:
                    raise  # maybe taken: the activity's retry looks in the thread first
                error = str(exc.response.get("error") or exc.response.status_code)
                await self.store.artifacts.refused(user_id, art.task_id, art.name, f"Slack refused it ({error})")
                refused = True
        return refused

    async def _share_file(self, art: Artifact, channel: str, thread_ts: str) -> None:
        assert art.content is not None
        file_id = art.file_id
        if file_id is None:
            url = await self._poster.files_getUploadURLExternal(filename=art.name, length=len(art.content))
            upload = await self._poster._upload_file(
                url=str(url["upload_url"]), data=art.content, logger=log, timeout=self._poster.timeout,
                proxy=self._poster.proxy, ssl=self._poster.ssl)
            if upload.status != 200:
                raise SlackApiError(f"upload of {art.name} failed", _Failed(upload.status))
            file_id = str(url["file_id"])
            await self.store.artifacts.uploaded(art.user_id, art.task_id, art.name, file_id)
        for delay in (*self.lookup_delays, None):
            try:
                await self._poster.files_completeUploadExternal(files=[{"id": file_id, "title": art.name}],
                                                                channel_id=channel, thread_ts=thread_ts)
                break
            except _TRANSIENT as exc:
                if isinstance(exc, SlackApiError) and exc.response.status_code < 500:
                    raise
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                if await self._file_in_thread(channel, thread_ts, file_id):
                    break
        await self.store.artifacts.shared(art.user_id, art.task_id, art.name)

    async def _file_in_thread(self, channel: str, thread_ts: str, file_id: str) -> bool:
        cursor: str | None = None
        for _ in range(5):
            resp = await self.client.conversations_replies(channel=channel, ts=thread_ts, limit=200, cursor=cursor)
            for message in resp.get("messages") or []:
                if any(f.get("id") == file_id for f in message.get("files") or []):
                    return True
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return False
        return False

    async def changed(self, user_id: str) -> None:
        if self.on_change is not None:
            await self.on_change(user_id)

    async def send_message(self, user_id: str, text: str) -> None:
        """The executors' ``send_message`` tool: a DM to the shift's owner."""
        await self.client.chat_postMessage(channel=await self._dm(user_id), text=f"🤖 {escape(text)}")
