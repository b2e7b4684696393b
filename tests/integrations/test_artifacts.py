"""Artifacts in the day's thread (issue 13 item 1).

The real SlackNotifier and slack_sdk client (the bot's retry handlers) against the fake Slack, which implements
files.getUploadURLExternal, an upload URL and files.completeUploadExternal; real SQLite; files collected from a
real workspace folder by the repository the executor activity uses. A notifier call that raises is called
again, as Temporal retries the deliver_report activity.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.blocks import home_view
from bot.slack_client import web_client
from bot.slack_notifier import SlackNotifier
from storage.artifacts import ArtifactCaps, purge_workspaces
from storage.models import User
from storage.store import Store
from tests.conftest import as_temporal_would
from tests.fakes.slack import FakeSlack
from workflows.models import ReportItem, StatusReport

WF = "day-U1-2026-11-28"
DAY = "2026-11-28"
START = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
CAPS = ArtifactCaps(max_bytes=2_000, max_files=3)


async def _day(slack: FakeSlack, store: Store, tmp_path: Path, files: dict[str, bytes], user: str = "U1",
               task_id: str = "t-1") -> tuple[SlackNotifier, StatusReport]:
    wf = f"day-{user}-{DAY}"
    await store.users.ensure(user, timezone="America/New_York")
    await store.runs.open(user, wf, DAY, start_time=START.isoformat(),
                          deadline=(START + timedelta(hours=3)).isoformat())
    workspace = tmp_path / "workspaces" / user / DAY / "abc123"
    workspace.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (workspace / name).write_bytes(content)
    await store.artifacts.collect(user, task_id, wf, DAY, workspace, sorted(files), CAPS)
    report = StatusReport(user_id=user, workflow_id=wf, day=DAY, timezone="America/New_York", window_start=START,
                          window_end=START + timedelta(hours=3), total_generated=1,
                          completed=[ReportItem(task_id=task_id, short_id="abc123", description="write the changelog",
                                                status="completed", output="done")])
    notifier = SlackNotifier(web_client("xoxb-test-token", slack.api_url), store)
    notifier.lookup_delays = (0.05, 0.1)
    return notifier, report


async def test_report_thread_gets_the_redacted_artifact_and_the_oversized_one_is_listed(
        slack: FakeSlack, store: Store, tmp_path: Path) -> None:
    secret = "xoxb-1234567890-abcdefghij"
    notifier, report = await _day(slack, store, tmp_path, {
        "CHANGELOG.md": f"# Changelog\n- fix login\n- token in a log line: {secret}\n".encode(),
        "big.csv": b"a,b\n" + b"1,2\n" * 1_000,  # 4 KB: past the 2 KB cap
        "tool.exe": b"MZ",  # a type not allowed
    })
    await notifier.report(report)

    run = await store.runs.get("U1", WF)
    assert run is not None and run.thread_ts and run.thread_channel
    shared = slack.thread_files(run.thread_ts)
    assert [f["name"] for f in shared] == ["CHANGELOG.md"]
    content = shared[0]["content"].decode()
    assert content.startswith("# Changelog\n- fix login") and secret not in content and "[REDACTED]" in content
    complete = slack.called("files.completeUploadExternal")
    assert len(complete) == 1
    assert complete[0]["channel_id"] == run.thread_channel and complete[0]["thread_ts"] == run.thread_ts
    # The report names its files; the ones past a cap with their size and why, and they were never uploaded.
    reports = [m for m in slack.replies(run.thread_ts) if "Daily Task Summary" in json.dumps(m["blocks"] or "")]
    text = json.dumps(reports[0]["blocks"])
    assert "CHANGELOG.md" in text and "big.csv (4.0 KB, not uploaded: larger than 2.0 KB)" in text
    assert "tool.exe" in text and "type not allowed" in text
    assert [p["filename"] for p in slack.called("files.getUploadURLExternal")] == ["CHANGELOG.md"]
    # Delivering again (the bot's re-delivery) shares nothing twice.
    await notifier.report(report)
    assert len(slack.thread_files(run.thread_ts)) == 1


async def test_a_500_after_the_share_was_accepted_gives_exactly_one_file(slack: FakeSlack, store: Store,
                                                                        tmp_path: Path) -> None:
    notifier, report = await _day(slack, store, tmp_path, {"notes.md": b"# Notes\n"})
    slack.accept_then_fail("files.completeUploadExternal", times=1)
    slack.fail_next("conversations.replies", 500, times=4)  # the in-call look-up fails too: the activity retries
    assert await as_temporal_would(lambda: notifier.report(report)) == 2
    run = await store.runs.get("U1", WF)
    assert run is not None and run.thread_ts
    assert [f["name"] for f in slack.thread_files(run.thread_ts)] == ["notes.md"]
    assert len(slack.called("files.getUploadURLExternal")) == 1  # the retry reused the stored file id
    art = (await store.artifacts.for_run("U1", WF))[0]
    assert art.file_id == slack.thread_files(run.thread_ts)[0]["id"] and art.shared_at is not None


async def test_a_failed_upload_is_retried_and_the_day_count_cap_lists_the_rest(slack: FakeSlack, store: Store,
                                                                              tmp_path: Path) -> None:
    files = {f"n{i}.txt": f"note {i}".encode() for i in range(5)}
    notifier, report = await _day(slack, store, tmp_path, files)
    slack.fail_uploads = 1
    assert await as_temporal_would(lambda: notifier.report(report)) == 2
    run = await store.runs.get("U1", WF)
    assert run is not None and run.thread_ts
    assert sorted(f["name"] for f in slack.thread_files(run.thread_ts)) == ["n0.txt", "n1.txt", "n2.txt"]
    assert [f["content"] for f in slack.thread_files(run.thread_ts)] == [b"note 0", b"note 1", b"note 2"]
    assert len(slack.called("files.getUploadURLExternal")) == 4  # the failed upload's file id was never stored
    text = json.dumps(next(m for m in slack.messages if m["ts"] == run.report_ts)["blocks"])
    assert "n4.txt (6 B, not uploaded: past the day's 3 files)" in text


async def test_slack_refusing_a_file_is_shown_in_the_report_and_does_not_block_it(slack: FakeSlack, store: Store,
                                                                                tmp_path: Path) -> None:
    notifier, report = await _day(slack, store, tmp_path, {"a.md": b"# A\n"})
    slack.failures["files.getUploadURLExternal"].append((200, {}, {"ok": False, "error": "missing_scope"}, None))
    await notifier.report(report)
    run = await store.runs.get("U1", WF)
    assert run is not None and run.report_ts
    report_msg = next(m for m in slack.messages if m["ts"] == run.report_ts)
    assert "Slack refused it (missing_scope)" in json.dumps(report_msg["blocks"])


async def test_users_artifacts_stay_apart_and_home_shows_todays(slack: FakeSlack, store: Store, tmp_path: Path) -> None:
    await _day(slack, store, tmp_path, {"mine.md": b"# mine"}, user="U1")
    await _day(slack, store, tmp_path, {"theirs.md": b"# theirs"}, user="U2", task_id="t-2")
    assert [a.name for a in await store.artifacts.for_run("U1", WF)] == ["mine.md"]
    today = await store.artifacts.for_day("U1", DAY)
    user = User(user_id="U1", created_at=START.isoformat(), updated_at=START.isoformat())
    view = json.dumps(home_view(user, None, [], None, [], [], "tomorrow", "", artifacts=today))
    assert "Today's files" in view and "mine.md" in view and "theirs.md" not in view


async def test_retention_purges_old_workspaces_and_artifacts(slack: FakeSlack, store: Store, tmp_path: Path) -> None:
    await _day(slack, store, tmp_path, {"old.md": b"# old"})
    fresh = tmp_path / "workspaces" / "U1" / "2027-01-01" / "x"
    fresh.mkdir(parents=True)
    today = date(2027, 1, 2)
    assert purge_workspaces(tmp_path / "workspaces", today, keep_days=30) == 1
    assert not (tmp_path / "workspaces" / "U1" / DAY).exists() and fresh.exists()
    assert await store.artifacts.purge(today, keep_days=30) == 1
    assert await store.artifacts.for_run("U1", WF) == []
