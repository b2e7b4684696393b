"""The e-mail copy of the report (issue 13 item 5): the real aiosmtplib client against a real local aiosmtpd
server, real SQLite; the report goes through the real SlackNotifier to the fake Slack."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bot.blocks import home_view, settings_modal
from bot.email_report import EmailReporter, parse_smtp_url
from bot.listeners.views import _values
from bot.slack_client import web_client
from bot.slack_notifier import SlackNotifier
from storage.store import Store
from tests.fakes.slack import FakeSlack
from workflows.models import ReportItem, StatusReport

DAY = "2026-11-28"
WF = f"day-U1-{DAY}"
START = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "message": message_from_bytes(envelope.content)})
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _report() -> StatusReport:
    return StatusReport(user_id="U1", workflow_id=WF, day=DAY, timezone="UTC", window_start=START,
                        window_end=START + timedelta(hours=3), total_generated=1, completed=[
                            ReportItem(task_id="t1", short_id="aaaaaa", description="sync the calendar",
                                       status="completed", output="token xoxb-1111111111-secretsecret written")])


async def test_the_report_is_emailed_once_to_the_users_address(smtp: tuple[Inbox, int], store: Store) -> None:
    inbox, port = smtp
    user = await store.users.ensure("U1")
    await store.users.save(user.model_copy(update={"email": "ada@example.com"}))
    await store.runs.open("U1", WF, DAY, start_time=START.isoformat(), deadline="")
    slack = await FakeSlack().start()
    try:
        reporter = EmailReporter(parse_smtp_url(f"smtp://127.0.0.1:{port}?from=dayshift@example.com"), store)
        notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store, email=reporter)
        await notifier.report(_report())
        await notifier.report(_report())  # a retried or re-delivered report
    finally:
        await slack.stop()
    assert len(inbox.messages) == 1
    sent = inbox.messages[0]
    assert sent["to"] == ["ada@example.com"] and sent["from"] == "dayshift@example.com"
    body = sent["message"].get_payload(decode=True).decode()
    assert "📋 Daily Task Summary - 2026-11-28" in body and "sync the calendar" in body
    assert "xoxb-1111111111-secretsecret" not in body and "[REDACTED]" in body
    state = await store.email_reports.get("U1", WF)
    assert state is not None and state.status == "sent" and sent["message"]["Message-ID"] == state.message_id


async def test_a_failed_send_is_shown_on_home_and_a_user_without_address_gets_none(smtp: tuple[Inbox, int],
                                                                                   store: Store) -> None:
    inbox, port = smtp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for user_id, email in (("U1", "ada@example.com"), ("U2", None)):
        user = await store.users.ensure(user_id)
        await store.users.save(user.model_copy(update={"email": email}))
    broken = EmailReporter(parse_smtp_url(f"smtp://127.0.0.1:{closed}"), store, timeout=5)
    await broken.send_report(_report())  # never raises: the Slack report must not wait on mail
    state = await store.email_reports.latest("U1")
    assert state is not None and state.status == "failed" and state.error
    user = await store.users.get("U1")
    assert user is not None
    view = json.dumps(home_view(user, None, [], None, [], [], "tomorrow", "", email=state))
    assert "was not sent" in view and "ada@example.com" in view
    working = EmailReporter(parse_smtp_url(f"smtp://127.0.0.1:{port}"), store)
    await working.send_report(_report().model_copy(update={"user_id": "U2", "workflow_id": f"day-U2-{DAY}"}))
    assert inbox.messages == []
    await working.send_report(_report())  # the failed one is sent on the next delivery, with its Message-ID
    assert len(inbox.messages) == 1 and inbox.messages[0]["message"]["Message-ID"] == state.message_id


def test_the_settings_modal_takes_an_address() -> None:
    from storage.models import User

    user = User(user_id="U1", email="ada@example.com", created_at="x", updated_at="x")
    modal = json.dumps(settings_modal(user))
    assert '"action_id": "email"' in modal and "ada@example.com" in modal
    view = {"state": {"values": {"email": {"email": {"value": " bob@example.com "}}}}}
    assert _values(view)["email"] == "bob@example.com"
    assert _values({"state": {"values": {}}})["email"] is None


@pytest.mark.parametrize("url", ["http://x", "smtp://", "smtp://h?from=nobody"])
def test_a_bad_smtp_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="DAYSHIFT_SMTP_URL"):
        parse_smtp_url(url)
