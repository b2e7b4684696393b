"""The user's time and the whole report in Slack (issue 11 item 8): pure Block Kit / text builders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.blocks import MESSAGE_BLOCKS, home_view, report_blocks, report_text, status_text
from storage.models import TaskStatus, User
from workflows.models import DayState, StatusReport, TaskState
from workflows.report import build_report, render_text

TZ = "America/New_York"
START = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)  # 8:00 AM in New York
END = START + timedelta(hours=3)


def _day(completed: int = 12) -> DayState:
    tasks = [TaskState(task_id=f"c{i}", short_id=f"c{i:05d}", description=f"finished job {i}",
                       status=TaskStatus.COMPLETED, start_time=START + timedelta(minutes=i),
                       end_time=START + timedelta(minutes=i + 20), output=f"output {i}", attempts=1)
             for i in range(completed)]
    tasks.append(TaskState(task_id="x1", short_id="xxxxx1", description="withdrawn idea", status=TaskStatus.CANCELLED,
                           end_time=START + timedelta(minutes=5)))
    tasks.append(TaskState(task_id="r1", short_id="rrrrr1", description="still running",
                           status=TaskStatus.IN_PROGRESS, start_time=START + timedelta(minutes=30), progress=40,
                           assigned_to="executor-rrrrr1-r1"))
    return DayState(user_id="U1", workflow_id="day-U1-2026-11-28", day="2026-11-28", timezone=TZ, tasks=tasks,
                    started_at=START, deadline=END, phase="running", checkpoints=3)


def _report() -> StatusReport:
    return build_report(_day(), START, END, END, next_steps="Rest.")


def _token(ts: datetime) -> str:
    return f"<!date^{int(ts.timestamp())}^{{time}}|"


def test_report_window_is_the_users_timezone_and_each_readers_own_time() -> None:
    blocks = json.dumps([b.to_dict() for b in report_blocks(_report())], ensure_ascii=False)
    assert "Execution Window: 8:00 AM - 11:00 AM America/New_York" in blocks
    assert _token(START) + "8:00 AM America/New_York>" in blocks
    assert _token(END) + "11:00 AM America/New_York>" in blocks
    assert "UTC" not in blocks and "13:00" not in blocks


def test_report_lists_every_task_and_cancelled_ones_on_their_own_line() -> None:
    blocks = [b.to_dict() for b in report_blocks(_report())]
    dumped = json.dumps(blocks, ensure_ascii=False)
    assert len(blocks) <= MESSAGE_BLOCKS and "more" not in dumped
    for i in range(12):
        assert f"`c{i:05d}` finished job {i}" in dumped
    cancelled = next(b["text"]["text"] for b in blocks if "CANCELLED" in b.get("text", {}).get("text", ""))
    assert "*🚫 CANCELLED (1 tasks)*" in cancelled and "`xxxxx1` withdrawn idea" in cancelled


def test_plain_text_fallback_is_the_spec_text_format() -> None:
    report = _report()
    report.completed[0].description = "ping <!channel> & co"
    text = report_text(report)
    assert text.startswith("📋 Daily Task Summary - 2026-11-28\nExecution Window: 8:00 AM - 11:00 AM America/New_York")
    for line in ("✅ COMPLETED (12 tasks)", "🔄 IN PROGRESS (1 tasks)", "❌ FAILED (0 tasks)",
                 "⏸️  NOT STARTED (0 tasks)", "🚫 CANCELLED (1 tasks)", "- withdrawn idea\n  Status: Cancelled",
                 "Completion Rate: 12/13 (92%)", "Next Steps: Rest."):
        assert line in text, line
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; co" in text  # user text cannot ping
    assert text.replace("&lt;!channel&gt; &amp;", "<!channel> &") == render_text(report)


def test_home_and_status_show_times_as_date_tokens() -> None:
    state = _day(2)
    view = json.dumps(home_view(User(user_id="U1", timezone=TZ), state, [], None, [], [], "tomorrow", "stats"),
                      ensure_ascii=False)
    assert _token(END) in view  # the deadline
    assert _token(START + timedelta(minutes=30)) in view  # when the running task started
    assert "UTC" not in view and "16:00" not in view  # no UTC wall-clock times
    status = status_text(state)
    assert _token(END) + "11:00 AM America/New_York>" in status and "UTC" not in status
