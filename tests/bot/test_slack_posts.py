"""Every Slack post the day makes is posted once, then edited (issue 11 item 3).

The real SlackNotifier and the real slack_sdk client (with the bot's retry handlers) against the fake Slack,
which here accepts a post and then answers 500, the case where a naive retry posts twice. Each notifier
call that raises is called again, as Temporal retries the activity. Real SQLite.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError
from temporalio.testing import WorkflowEnvironment

from bot.slack_client import RedactingWebClient, post_once_client, web_client
from bot.slack_notifier import SlackNotifier
from storage.models import TaskStatus
from storage.redaction import forget_secret, register_secret
from storage.store import Store
from tests.conftest import as_temporal_would
from tests.fakes.agents import ScriptedAgents
from tests.fakes.slack import FakeSlack
from tests.workflows.test_day_timeskipping import DAY, day_input, run_day
from workflows.models import DayState, StatusReport, TaskState

WF = "day-U1-2026-11-28"
START = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


async def test_parent_dm_and_report_are_posted_once_when_slack_fails_after_accepting(slack: FakeSlack,
                                                                                    store: Store) -> None:
    await store.users.ensure("U1", timezone="America/New_York")
    await store.runs.open("U1", WF, "2026-11-28", start_time=START.isoformat(),
                          deadline=(START + timedelta(hours=3)).isoformat())
    notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store)
    notifier.lookup_delays = (0.05, 0.1)  # short pauses before looking for an accepted post
    task = TaskState(task_id="t-1", short_id="tttttt", description="sync the calendar", status=TaskStatus.FAILED,
                     attempts=3, error="upstream 500", escalated=True)
    state = DayState(user_id="U1", workflow_id=WF, day="2026-11-28", timezone="America/New_York",
                     started_at=START, deadline=START + timedelta(hours=3), tasks=[task])

    # Thread parent: Slack takes the post, answers 500; the notifier finds its message instead of reposting.
    slack.accept_then_fail("chat.postMessage", matching="has started")
    assert await as_temporal_would(lambda: notifier.day_started(state)) == 1
    await notifier.day_started(state)  # a replayed announce finds the stored ts

    # Escalation DM: accepted then 500, and the look-up fails too, so the activity fails and is retried.
    await store.escalations.create("U1", task.task_id, WF, escalation_id="esc-1", reason="upstream 500",
                                   suggestion="retry", attempts=3)
    slack.accept_then_fail("chat.postMessage", matching="retry_task")
    slack.fail_next("conversations.history", 500, times=4)  # more than the client's own 3 retries
    assert await as_temporal_would(lambda: notifier.escalate(state, task, "Retry it.", "esc-1")) == 2

    # Report: the same, in the thread; the retry finds the accepted report and edits it.
    report = StatusReport(user_id="U1", workflow_id=WF, day="2026-11-28", timezone="America/New_York",
                          window_start=START, window_end=START + timedelta(hours=3), total_generated=1)
    slack.accept_then_fail("chat.postMessage", matching="Daily Task Summary")
    slack.fail_next("conversations.replies", 500, times=4)
    assert await as_temporal_would(lambda: notifier.report(report)) == 2
    await notifier.report(report)  # re-delivery (the bot's redeliver job) edits, never posts

    failed_after_accepting = [c for c, _ in slack.calls if c == "ACCEPTED-THEN-FAILED:chat.postMessage"]
    assert len(failed_after_accepting) == 3
    parents = [m for m in slack.top_level() if "Dayshift for 2026-11-28" in (m["text"] or "")]
    assert len(parents) == 1
    assert "<!date^" in slack.called("chat.postMessage")[0]["text"]  # report due in the reader's own time
    dms = [m for m in slack.top_level() if "retry_task" in json.dumps(m["blocks"] or "")]
    assert len(dms) == 1
    reports = [m for m in slack.replies(parents[0]["ts"]) if "Daily Task Summary" in json.dumps(m["blocks"] or "")]
    assert len(reports) == 1
    notes = [m for m in slack.replies(parents[0]["ts"]) if "needs your decision" in (m["text"] or "")]
    assert len(notes) == 1
    # The stored coordinates are those of the one message of each kind.
    run = await store.runs.get("U1", WF)
    assert run is not None and (run.thread_ts, run.report_ts) == (parents[0]["ts"], reports[0]["ts"])
    escalation = await store.escalations.get("U1", "esc-1")
    assert escalation is not None and escalation.delivered and escalation.dm_ts == dms[0]["ts"]
    assert "done: 0/1 completed" in (parents[0]["text"] or "")  # the parent was edited, not reposted


async def test_a_post_slack_refused_is_posted_again(slack: FakeSlack, store: Store) -> None:
    """A 500 without the message being taken: the look-up finds nothing, so the post is made (once)."""
    await store.users.ensure("U2")
    await store.runs.open("U2", "day-U2-2026-11-28", "2026-11-28", start_time=START.isoformat(), deadline="")
    notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store)
    notifier.lookup_delays = (0.05,)
    state = DayState(user_id="U2", workflow_id="day-U2-2026-11-28", day="2026-11-28", timezone="UTC",
                     deadline=START + timedelta(hours=3))
    slack.fail_next("chat.postMessage", 500, times=3)
    assert await as_temporal_would(lambda: notifier.day_started(state)) == 2
    assert len([m for m in slack.top_level() if "Dayshift for" in (m["text"] or "")]) == 1


async def test_a_whole_day_under_temporal_retries_posts_each_message_once(ts_env: WorkflowEnvironment, store: Store,
                                                                          slack: FakeSlack) -> None:
    """The same faults in a real day on the time-skipping server: Temporal retries the failed activities."""
    slack.accept_then_fail("chat.postMessage", matching="has started")
    slack.accept_then_fail("chat.postMessage", matching="retry_task")
    slack.accept_then_fail("chat.postMessage", matching="Daily Task Summary")
    slack.fail_next("conversations.history", 500, times=4)  # the first look-up fails: the activity is retried
    slack.fail_next("conversations.replies", 500, times=4)
    notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store)
    notifier.lookup_delays = (0.05, 0.1)
    agents = ScriptedAgents(plan=["impossible: needs a human", "write notes"])
    report = await run_day(ts_env, store, agents, notifier, day_input(user="U3", timezone="America/New_York"))
    assert len(report.completed) == 1 and len(report.failed) == 1

    assert len([c for c, _ in slack.calls if c == "ACCEPTED-THEN-FAILED:chat.postMessage"]) == 3
    parents = [m for m in slack.top_level() if "Dayshift for" in (m["text"] or "")]
    dms = [m for m in slack.top_level() if "retry_task" in json.dumps(m["blocks"] or "")]
    assert len(parents) == 1 and len(dms) == 1
    reports = [m for m in slack.replies(parents[0]["ts"]) if "Daily Task Summary" in json.dumps(m["blocks"] or "")]
    assert len(reports) == 1
    run = await store.runs.get("U3", f"day-U3-{DAY}")
    assert run is not None and run.report_delivered and run.report_ts == reports[0]["ts"]


async def test_posts_made_once_pass_the_redaction_like_every_other_call(slack: FakeSlack, store: Store) -> None:
    """The post-once client is the bot's redacting client too: a report or escalation DM that quotes a secret
    (a token pattern, or a configured secret of any shape) reaches Slack masked. Real notifier and client, the
    fake Slack records what arrived on the wire."""
    configured = "plain-looking-db-pass-1234"  # no token shape: masked only because it is registered
    github = "ghp_" + "A1b2C3d4E5" * 4
    anthropic = "sk-ant-api03-" + "x9Y8z7W6" * 3
    register_secret(configured)
    try:
        await store.users.ensure("U4")
        wf = "day-U4-2026-11-28"
        await store.runs.open("U4", wf, "2026-11-28", start_time=START.isoformat(),
                              deadline=(START + timedelta(hours=3)).isoformat())
        notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store)
        task = TaskState(task_id="t-4", short_id="tfour4", description="rotate the CI token",
                         status=TaskStatus.FAILED, attempts=3, error=f"401 with key {anthropic}", escalated=True)
        state = DayState(user_id="U4", workflow_id=wf, day="2026-11-28", timezone="UTC", started_at=START,
                         deadline=START + timedelta(hours=3), tasks=[task])
        await store.escalations.create("U4", task.task_id, wf, escalation_id="esc-4", reason="401",
                                       suggestion="retry", attempts=3)
        await notifier.escalate(state, task, "Retry it.", "esc-4")
        report = StatusReport(user_id="U4", workflow_id=wf, day="2026-11-28", timezone="UTC", window_start=START,
                              window_end=START + timedelta(hours=3), total_generated=1,
                              next_steps=f"Replace {github} in the CI settings", notes=[f"db pass was {configured}"])
        await notifier.report(report)
    finally:
        forget_secret(configured)

    posts = slack.called("chat.postMessage")
    [dm] = [p for p in posts if "retry_task" in json.dumps(p.get("blocks") or "")]
    [posted_report] = [p for p in posts if "Daily Task Summary" in json.dumps(p.get("blocks") or "")]
    assert "[REDACTED]" in json.dumps(dm) and "[REDACTED]" in json.dumps(posted_report)
    assert "Replace [REDACTED] in the CI settings" in json.dumps(posted_report)
    for method, params in slack.calls:
        wire = json.dumps(params)
        for secret in (configured, github, anthropic):
            assert secret not in wire, (method, secret)


async def test_the_post_once_client_retries_only_what_slack_never_took(slack: FakeSlack) -> None:
    """A 429 is retried inside the client (Slack did nothing); a 500 is not (Slack may have posted): it comes
    back to the notifier, which looks for its message first. Both through the redacting client."""
    poster = post_once_client(web_client("xoxb-test-token", slack.api_url))
    assert isinstance(poster, RedactingWebClient)
    slack.fail_next("chat.postMessage", 429, retry_after=0)
    resp = await poster.chat_postMessage(channel="C1", text="after a 429, token=abcdefgh12345")
    assert resp["ok"] and [c for c, _ in slack.calls].count("FAILED:chat.postMessage") == 1
    assert slack.called("chat.postMessage")[-1]["text"] == "after a 429, token=[REDACTED]"
    slack.accept_then_fail("chat.postMessage")
    with pytest.raises(SlackApiError):
        await poster.chat_postMessage(channel="C1", text="taken, then 500")
    assert len([m for m in slack.messages if m["text"] == "taken, then 500"]) == 1  # one attempt, not four


def test_post_keys_in_metadata_pass_redaction_unchanged_while_text_is_masked() -> None:
    """The key a post carries in its metadata is ours, and the dedupe lookup compares it as written: redacting a
    registered secret that happens to occur in it would make a retried post miss its first copy (unit, no I/O)."""
    from bot.slack_client import _clean

    register_secret("U0SECRET42")
    try:
        key = "day-U0SECRET42-2026-11-29:report"
        cleaned = _clean({"text": "user U0SECRET42", "metadata": {"event_type": "dayshift_post",
                                                                   "event_payload": {"key": key}}})
        assert cleaned["metadata"]["event_payload"]["key"] == key
        assert "U0SECRET42" not in cleaned["text"]
    finally:
        forget_secret("U0SECRET42")
