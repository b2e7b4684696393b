"""Outages, isolation and secrets through the real bot (Bolt socket mode, Temporal dev server, real SDK + CLI
on the offline model) against the fake Slack."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from storage.models import TaskStatus
from tests.bot.conftest import Bot

pytestmark = [pytest.mark.devserver, pytest.mark.cli]
SECRETS = ("xoxb-test-token-123456", "xapp-1-A1-test-654321")


# Three real CLI attempts (each with the CLI's own 529 retries) after the plan: ~17 s on a loaded machine.
@pytest.mark.window(30)
async def test_slack_outage_during_report_and_model_errors_then_escalation(bot: Bot,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # The model API keeps answering 529 for this task: retried (3 attempts) then failed and escalated.
    await bot.command("UA", "add Flaky job [[offline:fail status=529]]")
    # Slack answers 500 to the report 8 times (more than the client's own retries): the workflow retries delivery.
    bot.slack.fail_next("chat.postMessage", 500, times=8, matching="Daily Task Summary")
    bot.slack.fail_next("chat.postMessage", 503, times=6, matching="retry_task")  # the escalation DM too
    assert "starting" in await bot.command("UA", "run")
    dm = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("chat.postMessage")
                                           if "retry_task" in json.dumps(c.get("blocks", ""))], timeout=60)
    assert "529" in json.dumps(dm[0]["blocks"]) and "after 3 attempts" in json.dumps(dm[0]["blocks"])
    assert len(dm) == 1  # delivered once, after 6 failures (client retries, then activity retries)
    for _ in range(100):  # the post is seen before the notifier has stored its ts
        escalation = (await bot.store.escalations.for_user("UA"))[0]
        if escalation.delivered and escalation.dm_ts:
            break
        await asyncio.sleep(0.1)
    assert escalation.delivered and escalation.dm_ts
    reports = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("chat.postMessage")
                                                if "Daily Task Summary" in json.dumps(c.get("blocks", ""))],
                                       timeout=90)
    failed_posts = [c for c, p in bot.slack.calls if c == "FAILED:chat.postMessage"
                    and "Daily Task Summary" in json.dumps(p.get("blocks", ""))]
    assert len(failed_posts) == 8 and len(reports) == 1  # delivered once Slack was back, exactly once
    for _ in range(200):  # the day is archived, then its report delivered (the delivery flag comes last)
        run = (await bot.store.runs.recent("UA"))[0]
        if run.status == "completed" and run.report_delivered:
            break
        await asyncio.sleep(0.05)
    assert run.report_delivered and run.report_json and "Flaky job" in run.report_json
    history = await bot.store.history.day("UA", run.day)
    flaky = next(h for h in history if h.description.startswith("Flaky job"))
    assert flaky.status is TaskStatus.FAILED and "529" in (flaky.error_message or "") and flaky.retry_count == 2
    events = await bot.store.tasks.events("UA", flaky.task_id)
    assert [e.attempt for e in events if e.kind == "retry"] == [2, 3]
    # Every task reached a recorded end state.
    assert all(h.status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.IN_PROGRESS) for h in history)
    # No token or key in any log line or Slack message.
    everything = json.dumps(bot.slack.calls) + json.dumps(bot.slack.responses) + caplog.text
    for secret in SECRETS:
        assert secret not in everything


async def test_users_cannot_see_or_change_each_others_work(bot: Bot) -> None:
    await bot.command("UA", "add A's confidential roadmap")
    await bot.command("UB", "add B's own task")
    [a_task] = await bot.store.tasks.pending_unassigned("UA")
    # Commands with A's ids, as B.
    for text in (f"edit {a_task.short_id} pwned", f"cancel {a_task.short_id}", f"cancel {a_task.task_id}"):
        assert "among your tasks" in await bot.command("UB", text)
    assert "confidential" not in await bot.command("UB", "list")
    # Buttons with A's task id, clicked by B.
    for action in ("retry_task", "skip_task"):
        before = len(bot.slack.responses)
        await bot.slack.wait_ack(await bot.slack.send("interactive",
                                                      bot.slack.block_action("UB", action, a_task.task_id)))
        reply = await bot.slack.wait_for(lambda b=before: bot.slack.responses[b:])
        assert "among your tasks" in reply[0]["text"]
    # B's Home tab never shows A's tasks.
    await bot.slack.wait_ack(await bot.slack.send("events_api", bot.slack.home_opened("UB", "EvB1")))
    views = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("views.publish") if c["user_id"] == "UB"])
    assert "B's own task" in json.dumps(views[-1]["view"]) and "confidential" not in json.dumps(views[-1]["view"])
    assert (await bot.store.tasks.get("UA", a_task.task_id)).description == "A's confidential roadmap"


async def test_oversized_and_invalid_modal_fields_are_refused(bot: Bot) -> None:
    huge = bot.slack.view_submission("UA", {"start": {"start": {"type": "static_select",
                                                               "selected_option": {"value": "8" * 5000}}},
                                            "tz": {"tz": {"type": "plain_text_input", "value": "Europe/" + "x" * 9000}},
                                            "channel": {"channel": {"type": "conversations_select",
                                                                    "selected_conversation": "not a channel"}}})
    ack = await bot.slack.wait_ack(await bot.slack.send("interactive", huge))
    errors = ack["payload"]["errors"]
    assert set(errors) == {"tz", "start"} and all(len(v) <= 150 for v in errors.values())
    assert await bot.store.users.get("UA") is None or (await bot.store.users.get("UA")).timezone == "UTC"
    bad_channel = bot.slack.view_submission("UA", {"start": {"start": {"type": "static_select",
                                                                      "selected_option": {"value": "08:00"}}},
                                                   "tz": {"tz": {"type": "plain_text_input", "value": "UTC"}},
                                                   "channel": {"channel": {"type": "conversations_select",
                                                                           "selected_conversation": "<!here>"}}})
    await bot.slack.wait_ack(await bot.slack.send("interactive", bad_channel))
    dm = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("chat.postMessage")
                                           if "Settings not saved" in c.get("text", "")])
    assert "channel id" in dm[0]["text"]
