"""The e-mail copy of the day's report (issue 13 item 5), for users who gave an address in their settings.

Sent through ``DAYSHIFT_SMTP_URL`` (``smtp://user:password@host:587?from=dayshift@example.com&starttls=1``, or
``smtps://`` for TLS from the start) with aiosmtplib. The send is recorded before it happens, with the
Message-ID the mail carries, and marked sent after: a retried delivery sends nothing once it is marked, and a
resend after a crash mid-send is the same message (same Message-ID, which mail clients de-duplicate). A
failure never holds up the Slack report; it is recorded and shown on Home.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from pydantic import BaseModel

from bot.settings import Settings
from storage.redaction import redact
from storage.store import Store
from workflows.models import StatusReport
from workflows.report import render_text

log = logging.getLogger(__name__)


class SmtpTarget(BaseModel):
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    sender: str
    use_tls: bool = False
    start_tls: bool | None = None


def parse_smtp_url(url: str) -> SmtpTarget:
    """DAYSHIFT_SMTP_URL, or ValueError saying what is wrong (never quoting the password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("DAYSHIFT_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("DAYSHIFT_SMTP_URL has no host")
    query = parse_qs(parts.query)
    sender = (query.get("from") or [""])[0] or (f"dayshift@{parts.hostname}")
    if "@" not in sender:
        raise ValueError("DAYSHIFT_SMTP_URL's from= must be an e-mail address")
    starttls = (query.get("starttls") or [""])[0].lower()
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError as exc:
        raise ValueError("DAYSHIFT_SMTP_URL has a bad port") from exc
    return SmtpTarget(host=parts.hostname, port=port,
                      username=unquote(parts.username) if parts.username else None,
                      password=unquote(parts.password) if parts.password else None, sender=sender,
                      use_tls=parts.scheme == "smtps",
                      start_tls=None if not starttls else starttls in ("1", "true", "yes"))


class EmailReporter:
    def __init__(self, target: SmtpTarget, store: Store, *, timeout: float = 20.0) -> None:
        self.target = target
        self.store = store
        self.timeout = timeout

    async def send_report(self, report: StatusReport) -> None:
        user = await self.store.users.get(report.user_id)
        if user is None or not user.email:
            return
        state = await self.store.email_reports.get(report.user_id, report.workflow_id)
        if state is not None and state.status == "sent":
            return
        domain = self.target.sender.split("@", 1)[1]
        state = await self.store.email_reports.intend(report.user_id, report.workflow_id, report.day, user.email,
                                                      make_msgid("dayshift", domain=domain))
        if state.status == "sent":
            return
        msg = EmailMessage()
        msg["From"] = self.target.sender
        msg["To"] = user.email
        msg["Subject"] = (f"Dayshift report for {report.day}: {len(report.completed)}/{report.total_generated} "
                          "completed")
        msg["Message-ID"] = state.message_id
        msg.set_content(redact(render_text(report)))
        try:
            await aiosmtplib.send(msg, hostname=self.target.host, port=self.target.port,
                                  username=self.target.username, password=self.target.password,
                                  use_tls=self.target.use_tls, start_tls=self.target.start_tls, timeout=self.timeout)
        except Exception as exc:  # shown on Home; the Slack report is what the day delivers
            error = f"{type(exc).__name__}: {exc}"
            log.warning("report e-mail failed", extra={"user_id": report.user_id,
                                                       "data": {"error": redact(error)[:200]}})
            await self.store.email_reports.finish(report.user_id, report.workflow_id, error)
            return
        await self.store.email_reports.finish(report.user_id, report.workflow_id, None)


def email_reporter(settings: Settings, store: Store) -> EmailReporter | None:
    """The reporter when DAYSHIFT_SMTP_URL is set (checked at start-up by the settings)."""
    if settings.smtp_url is None:
        return None
    return EmailReporter(parse_smtp_url(settings.smtp_url.get_secret_value()), store)
