"""End to end through the real Bolt socket-mode client and fake Slack; real Temporal and agents behind."""

from __future__ import annotations

import asyncio
import json

import pytest

from storage.models import TaskStatus
from tests.bot.conftest import Bot

pytestmark = [pytest.mark.devserver, pytest.mark.cli]


async def test_commands_outside_a_shift(bot: Bot) -> None:
    assert "/dayshift add <text>" in await bot.command("UA", "")
    assert "/dayshift add <text>" in await bot.command("UA", "help")
    reply = await bot.command("UA", "frobnicate now")
    assert "Unknown subcommand `frobnicate`" in reply
    reply = await bot.command("UA", "add Write the release notes")
    assert "for your next shift" in reply
    [task] = await bot.store.tasks.pending_unassigned("UA")
    assert task.description == "Write the release notes" and task.generated_by == "user"
    assert task.short_id in await bot.command("UA", "list")
    assert "updated" in await bot.command("UA", f"edit {task.short_id} Write the v2 release notes")
    assert (await bot.store.tasks.get("UA", task.task_id)).description == "Write the v2 release notes"
    assert "cancelled" in await bot.command("UA", f"cancel {task.short_id}")
    assert "only pending tasks can be cancelled" in await bot.command("UA", f"cancel {task.short_id}")
    assert "No shift is running" in await bot.command("UA", "status")
    assert "No archived shifts" in await bot.command("UA", "history")
    assert "days from 1 to 90" in await bot.command("UA", "history 365")


BAD_INPUTS = [
    ("add", "The task text is empty"),
    ("add    \t  ", "The task text is empty"),
    ("add " + "x" * 10_000, "the limit is 2,000"),
    ("edit", "Usage: `/dayshift edit <id> <new text>`"),
    ("edit abc123", "Usage: `/dayshift edit <id> <new text>`"),
    ("cancel", "Usage: `/dayshift cancel <id>`"),
    ("cancel nosuch", "No task `nosuch` among your tasks"),
    ("edit ' OR 1=1 -- new text", "No task `'` among your tasks"),
    ("history abc", "days from 1 to 90"),
]


async def test_bad_input_gets_clear_errors_and_changes_nothing(bot: Bot) -> None:
    for text, expected in BAD_INPUTS:
        reply = await bot.command("UA", text)
        assert expected in reply, (text[:40], reply)
    assert await bot.store.tasks.for_user("UA") == []
    # Control characters are stripped; mrkdwn/mentions are stored as text and escaped when echoed back.
    reply = await bot.command("UA", "add \x00\x07Ping <!channel> about *prod* `; DROP TABLE tasks;--")
    assert "&lt;!channel&gt;" in reply and "<!channel>" not in reply
    [task] = await bot.store.tasks.for_user("UA")
    assert task.description == "Ping <!channel> about *prod* `; DROP TABLE tasks;--"
    # Another user's task id is invisible: B can neither edit nor cancel A's task.
    for text in (f"edit {task.short_id} hijack", f"cancel {task.short_id}", f"edit {task.task_id} hijack"):
        assert "among your tasks" in await bot.command("UB", text)
    assert (await bot.store.tasks.get("UA", task.task_id)).description.startswith("Ping")
    assert (await bot.store.tasks.get("UA", task.task_id)).status is TaskStatus.PENDING


async def test_shortcut_adds_a_task_once_even_if_delivered_twice(bot: Bot) -> None:
    payload = bot.slack.message_action("UA", "Please review the Q3 budget doc", ts="1700000123.000400")
    for _ in range(2):
        eid = await bot.slack.send("interactive", payload)
        await bot.slack.wait_ack(eid)
    await bot.slack.wait_for(lambda: len([r for r in bot.slack.responses if "Added" in r.get("text", "")]) == 2)
    tasks = await bot.store.tasks.for_user("UA")
    assert len(tasks) == 1
    assert tasks[0].description.startswith("Please review the Q3 budget doc\n(from https://fake.slack/archives/C1/")
    assert tasks[0].source_ref == "T1/C1/1700000123.000400"
    empty = bot.slack.message_action("UA", "", ts="1700000124.0")
    await bot.slack.wait_ack(await bot.slack.send("interactive", empty))
    await bot.slack.wait_for(lambda: any("no text" in r.get("text", "") for r in bot.slack.responses))


async def test_home_tab_published_once_per_event(bot: Bot) -> None:
    await bot.command("UA", "add Prepare the demo")
    for _ in range(2):  # a redelivered event carries the same event id
        eid = await bot.slack.send("events_api", bot.slack.home_opened("UA", "Ev123"))
        await bot.slack.wait_ack(eid)
    views = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("views.publish") if c["user_id"] == "UA"])
    await asyncio.sleep(2.5)  # let any (coalesced) refresh from the add land too
    home = json.dumps(bot.slack.called("views.publish")[-1]["view"])
    assert "Prepare the demo" in home and "Run today's shift now" in home and "Last 7 days" in home
    assert len([c for c in bot.slack.called("views.publish") if c["user_id"] == "UA"]) <= 2
    assert views


async def test_settings_modal_saves_and_schedules(bot: Bot) -> None:
    bot.slack.user_tz["UA"] = "Asia/Tokyo"
    await bot.command("UA", "settings")
    opened = await bot.slack.wait_for(lambda: bot.slack.called("views.open"))
    assert '"initial_value": "Asia/Tokyo"' in json.dumps(opened[0]["view"])
    bad = bot.slack.view_submission("UA", {"start": {"start": {"type": "static_select",
                                                              "selected_option": {"value": "09:00"}}},
                                           "tz": {"tz": {"type": "plain_text_input", "value": "Mars/Olympus"}}})
    ack = await bot.slack.wait_ack(await bot.slack.send("interactive", bad))
    assert ack["payload"]["response_action"] == "errors"
    assert "unknown timezone 'Mars/Olympus'" in ack["payload"]["errors"]["tz"]
    assert "choose 08:00 or 10:00" in ack["payload"]["errors"]["start"]
    good = bot.slack.view_submission("UA", {"start": {"start": {"type": "static_select",
                                                               "selected_option": {"value": "10:00"}}},
                                            "tz": {"tz": {"type": "plain_text_input", "value": "Europe/Berlin"}}})
    ack = await bot.slack.wait_ack(await bot.slack.send("interactive", good))
    assert "payload" not in ack or not ack["payload"]
    for _ in range(100):
        u = await bot.store.users.get("UA")
        if u and u.timezone == "Europe/Berlin":
            break
        await asyncio.sleep(0.05)
    assert u is not None and u.preferred_start_time == "10:00"
    desc = await bot.env.client.get_schedule_handle("dayshift-UA").describe()
    assert desc.schedule.spec.time_zone_name == "Europe/Berlin"
    nxt = desc.info.next_action_times[0]
    from zoneinfo import ZoneInfo
    assert nxt.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "10:00"


async def test_run_day_in_slack_with_escalation_buttons_and_rate_limit(bot: Bot) -> None:
    # A task that can never succeed (the model API rejects it with 400) gets escalated at once.
    await bot.command("UA", "add Broken job [[offline:fail status=400]]")
    bot.slack.fail_next("chat.postMessage", 429, times=1, retry_after=1)  # the thread parent hits a 429 first
    reply = await bot.command("UA", "run")
    assert "Today's shift is starting" in reply
    assert "already run or is running" in await bot.command("UA", "run")
    live = await bot.command("UA", "add Late idea from the user")
    assert "today's running shift" in live
    dm = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("chat.postMessage")
                                           if "retry_task" in json.dumps(c.get("blocks", ""))], timeout=40)
    blocks = dm[0]["blocks"]
    task_id = next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "skip_task")
    # Someone else clicks: refused, nothing changes.
    before = len(bot.slack.responses)
    await bot.slack.wait_ack(await bot.slack.send("interactive", bot.slack.block_action("UB", "skip_task", task_id)))
    refused = await bot.slack.wait_for(lambda: bot.slack.responses[before:])
    assert "among your tasks" in refused[0]["text"]
    await bot.slack.wait_ack(await bot.slack.send("interactive", bot.slack.block_action("UA", "skip_task", task_id)))
    await bot.slack.wait_for(lambda: any("was skipped" in r.get("text", "") for r in bot.slack.responses))
    before = len(bot.slack.responses)
    await bot.slack.wait_ack(await bot.slack.send("interactive", bot.slack.block_action("UA", "retry_task", task_id)))
    again = await bot.slack.wait_for(lambda: bot.slack.responses[before:])
    assert "already decided" in again[0]["text"]
    # The final report lands in the day's thread.
    report = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("chat.postMessage")
                                               if "Daily Task Summary" in json.dumps(c.get("blocks", ""))],
                                      timeout=60)
    parent = bot.slack.called("chat.postMessage")[0]
    assert report[0]["thread_ts"] and "Dayshift for" in parent["text"]
    assert any(c.startswith("FAILED:chat.postMessage") for c, _ in bot.slack.calls)  # the 429 happened, then retry
    text = json.dumps(report[0]["blocks"])
    assert "skipped by you" in text and "Late idea from the user" in text
    for _ in range(200):  # delivered is recorded right after the post returns
        runs = await bot.store.runs.recent("UA")
        if runs[0].report_delivered:
            break
        await asyncio.sleep(0.05)
    assert runs[0].report_delivered and runs[0].report_ts


async def test_malformed_envelopes_do_not_break_the_bot(bot: Bot) -> None:
    await bot.slack.send_raw("this is not json")
    await bot.slack.send_raw(json.dumps({"type": "mystery", "envelope_id": "e1"}))
    await bot.slack.send("interactive", {"type": "block_actions", "user": {"id": "UA"}, "actions": []})
    await bot.slack.send("interactive", bot.slack.block_action("UA", "retry_task", "not-a-task-id" * 20))
    await bot.slack.send("slash_commands", {"command": "/dayshift"})  # no user, no response_url
    assert "/dayshift add" in await bot.command("UA", "help")  # still alive and acking
