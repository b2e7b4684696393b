"""Unit tests of pure pieces (no servers): Block Kit limits, the workspace guard, settings, logging,
text cleaning, the report renderer, the supervision watchdog and the offline model's SSE."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agents.contracts import AgentFailure
from agents.offline.sse import message_body, sse_events
from agents.profiles import allowed_tools, builtin_tools, unknown_capabilities
from agents.supervision import AgentMonitor
from bot.blocks import HOME_BLOCKS, MESSAGE_BLOCKS, TEXT_LIMIT, escape, home_view, progress_blocks, report_blocks
from bot.control import UserError, clean_text
from bot.logging_setup import JsonFormatter, redact, register_secret
from bot.settings import Settings
from storage.models import TaskStatus, User
from workflows.models import DayState, ReportItem, StatusReport, TaskState
from workflows.report import build_report, render_text

NOW = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def _state(n: int, status: TaskStatus = TaskStatus.COMPLETED, text: str = "task") -> DayState:
    tasks = [TaskState(task_id=f"id{i}", short_id=f"s{i:05d}", description=f"{text} {i}", status=status,
                       start_time=NOW - timedelta(minutes=30), end_time=NOW - timedelta(minutes=10), progress=40,
                       output="o" * 500, attempts=1) for i in range(n)]
    return DayState(user_id="U1", workflow_id="day-U1-2026-11-28", day="2026-11-28", timezone="Europe/Berlin",
                    tasks=tasks, deadline=NOW)


def _block_texts(blocks: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)]


def test_report_blocks_stay_within_slack_limits_for_huge_days() -> None:
    for n in (200, 600):
        state = _state(n, text="x" * 3000)
        report = build_report(state, NOW - timedelta(hours=3), NOW, NOW)
        blocks = [b.to_dict() for b in report_blocks(report)]
        assert len(blocks) <= MESSAGE_BLOCKS
        assert all(len(t) <= TEXT_LIMIT for t in _block_texts(blocks))
        dumped = json.dumps(blocks, ensure_ascii=False)
        more = re.search(r"…and (\d+) more", dumped)
        if n == 200:  # every task fits in Slack's limits, so every task is listed
            assert more is None and dumped.count("`s0") == 200
        else:  # past Slack's limits the report shows all it can, then says how many more
            assert more is not None and dumped.count("`s0") + int(more.group(1)) == n


def test_progress_uses_native_plan_blocks_with_fallback() -> None:
    text, blocks = progress_blocks(_state(3, TaskStatus.IN_PROGRESS))
    as_dict = [b.to_dict() for b in blocks]
    assert as_dict[0]["type"] == "plan" and {t["status"] for t in as_dict[0]["tasks"]} == {"in_progress"}
    assert "0/3 done" in text
    _, fallback = progress_blocks(_state(60, TaskStatus.IN_PROGRESS))
    assert all(b.to_dict()["type"] == "section" for b in fallback) and len(fallback) <= MESSAGE_BLOCKS


def test_home_view_within_limits_and_escapes_user_text() -> None:
    state = _state(80, TaskStatus.PENDING, text="<!channel> ping")
    view = home_view(User(user_id="U1"), state, [], None, [], [], "tomorrow", "stats")
    assert len(view["blocks"]) <= HOME_BLOCKS
    dumped = json.dumps(view)
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped


def test_escape_and_clean_text() -> None:
    assert escape("<@U1> & <!here>") == "&lt;@U1&gt; &amp; &lt;!here&gt;"
    assert clean_text("  a\x00b\x1bc  ") == "abc"
    for bad in ("", "   ", "\x00\x01", "x" * 2001):
        with pytest.raises(UserError):
            clean_text(bad)


def test_render_text_matches_the_spec_format() -> None:
    state = _state(1)
    state.tasks.append(TaskState(task_id="f", short_id="ffffff", description="broken", status=TaskStatus.FAILED,
                                 error="API 500", attempts=3))
    state.tasks.append(TaskState(task_id="p", short_id="pppppp", description="later", status=TaskStatus.PENDING))
    text = render_text(build_report(state, NOW - timedelta(hours=3), NOW, NOW, next_steps="Rest."))
    for expected in ("📋 Daily Task Summary - 2026-11-28", "Execution Window: 9:00 AM - 12:00 PM Europe/Berlin",
                     "✅ COMPLETED (1 tasks)", "Status: Completed | Duration: 20 min",
                     "❌ FAILED (1 tasks)", "Reason: API 500 | Attempts: 3", "⏸️  NOT STARTED (1 tasks)",
                     "Status: Pending | Reason: Not yet assigned", "Completion Rate: 1/3 (33%)",
                     "Average Task Time: 20 min", "Total Time Used: 20 min (out of 180 min)",
                     "Next Steps: Rest."):
        assert expected in text, expected


def test_profiles() -> None:
    assert builtin_tools(["files"]) == ["Read", "Write", "Edit", "Glob", "Grep"]
    assert "Bash" in builtin_tools(["compute"]) and "WebFetch" in builtin_tools(["http"])
    # Beside Bash, the in-process file tools go (Bash does their work inside the sandbox: no symlink race).
    assert builtin_tools(["files", "compute"]) == ["Bash"] and "Read" not in allowed_tools(["compute", "research"])
    assert "mcp__dayshift__send_message" in allowed_tools(["notify"])
    assert "mcp__dayshift__send_message" not in allowed_tools(["files"])
    assert unknown_capabilities(["files", "teleport"]) == ["teleport"]


def test_settings_validation_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYSHIFT_DEFAULT_TIMEZONE", "Mars/Base")
    with pytest.raises(ValidationError, match="unknown timezone 'Mars/Base'"):
        Settings()
    monkeypatch.setenv("DAYSHIFT_DEFAULT_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("DAYSHIFT_DEFAULT_START_TIME", "09:00")
    with pytest.raises(ValidationError, match="choose 08:00 or 10:00"):
        Settings()
    monkeypatch.setenv("DAYSHIFT_ALLOW_ANY_START_TIME", "true")
    assert Settings().default_start_time == "09:00"
    monkeypatch.setenv("DAYSHIFT_WINDOW_SECONDS", "-5")
    with pytest.raises(ValidationError, match="positive number of seconds"):
        Settings()


def test_logs_are_json_and_never_print_secrets() -> None:
    register_secret("my-custom-secret-value")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.secrets")
    log.addHandler(handler)
    log.propagate = False
    log.warning("token xoxb-1234-5678-abcdef and key sk-ant-api03-XYZ and my-custom-secret-value",
                extra={"user_id": "U1", "workflow_id": "day-U1", "data": {"auth": "Bearer xapp-1-A-B-C"}})
    line = json.loads(stream.getvalue())
    assert line["level"] == "WARNING" and line["user_id"] == "U1" and line["workflow_id"] == "day-U1"
    assert "timestamp" in line and "event" in line
    raw = stream.getvalue()
    for secret in ("xoxb-1234", "sk-ant-api03", "my-custom-secret-value", "xapp-1-A"):
        assert secret not in raw
    assert redact("api_key=abcdefgh12345") == "api_key=[REDACTED]"


async def test_watchdog_stops_a_silent_agent_and_heartbeats_carry_progress() -> None:
    beats: list[dict] = []  # type: ignore[type-arg]
    monitor = AgentMonitor(lambda d: beats.append(d), interval=0.05, stale_after=0.3)

    async def silent() -> str:
        await monitor.progress(30, "started")
        await asyncio.sleep(10)
        return "never"

    with pytest.raises(AgentFailure) as exc:
        await monitor.run(silent)
    assert exc.value.retryable and exc.value.kind == "AgentStalled" and monitor.stalled
    assert beats and all(b["percent"] == 30 for b in beats)

    lively = AgentMonitor(lambda d: None, interval=0.05, stale_after=0.3, resume={"percent": 50, "session_id": "s1"})
    assert lively.resume_session_id == "s1" and lively.percent == 50

    async def busy() -> str:
        for _ in range(10):
            lively.touch()
            await asyncio.sleep(0.1)
        return "done"

    assert await lively.run(busy) == "done"

    queued = AgentMonitor(lambda d: None, interval=0.05, stale_after=0.2)

    async def waits_for_a_slot() -> str:
        queued.waiting(True)
        await asyncio.sleep(0.6)  # three times the stall limit, but only queued
        queued.waiting(False)
        await queued.progress(10)
        return "ran"

    assert await queued.run(waits_for_a_slot) == "ran" and not queued.stalled


def test_offline_sse_stream_shape() -> None:
    body = message_body("m", [{"type": "text", "text": "hi"},
                              {"type": "tool_use", "id": "t1", "name": "x", "input": {"a": 1}}], "tool_use",
                        {"input_tokens": 5, "output_tokens": 7})
    events = [e.decode() for e in sse_events(body)]
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
                     "message_stop"]
    delta = json.loads(events[5].split("data: ", 1)[1])
    assert json.loads(delta["delta"]["partial_json"]) == {"a": 1}
    assert json.loads(events[-2].split("data: ", 1)[1])["delta"]["stop_reason"] == "tool_use"


def test_report_item_defaults() -> None:
    item = ReportItem(short_id="a", description="b", status="pending")
    assert item.progress == 0 and item.reason is None
    report = StatusReport(user_id="U", workflow_id="w", day="d", timezone="UTC", window_start=NOW, window_end=NOW)
    assert report.completion_rate == 0.0
