"""The user's time through the real bot (Bolt socket mode, Temporal dev server, real SDK + CLI on the offline
model) against the fake Slack: status, thread parent and report show each reader's own time."""

from __future__ import annotations

import json

import pytest

from tests.bot.conftest import Bot

pytestmark = [pytest.mark.devserver, pytest.mark.cli]


async def test_times_in_slack_are_each_readers_own_and_the_report_names_the_timezone(bot: Bot) -> None:
    await bot.store.users.ensure("UT", timezone="America/New_York")
    assert "starting" in await bot.command("UT", "run")
    status = await bot.command("UT", "status")
    assert "report due <!date^" in status and "UTC" not in status
    reports = await bot.slack.wait_for(lambda: [c for c in bot.slack.called("chat.postMessage")
                                                if "Daily Task Summary" in json.dumps(c.get("blocks", ""))],
                                       timeout=60)
    [report] = reports
    blocks = json.dumps(report["blocks"], ensure_ascii=False)
    assert "America/New_York · your time: <!date^" in blocks and "UTC" not in blocks
    # The plain-text fallback is the spec's text format, in the user's timezone.
    assert report["text"].startswith("📋 Daily Task Summary - ")
    assert "\nExecution Window: " in report["text"] and " America/New_York\n" in report["text"]
    assert "Summary Stats:" in report["text"]
    parent = next(c for c in bot.slack.called("chat.postMessage") if "Dayshift for" in (c.get("text") or ""))
    assert "report due <!date^" in parent["text"] and "UTC" not in parent["text"]
