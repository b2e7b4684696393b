"""Build the day's status report from workflow state (deterministic) and render it as text."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from storage.models import TaskStatus
from workflows.models import DayState, ReportItem, StatusReport
from workflows.records import report_item


def build_report(state: DayState, window_start: datetime, window_end: datetime, now: datetime,
                 next_steps: str = "", skipped_reason: str | None = None) -> StatusReport:
    groups: dict[str, list[ReportItem]] = {"completed": [], "in_progress": [], "failed": [], "not_started": [],
                                            "cancelled": []}
    for t in state.tasks:
        item = report_item(t, now)
        if t.status is TaskStatus.COMPLETED:
            groups["completed"].append(item)
        elif t.status is TaskStatus.IN_PROGRESS:
            groups["in_progress"].append(item)
        elif t.status is TaskStatus.FAILED:
            groups["failed"].append(item)
        elif t.status is TaskStatus.CANCELLED:
            groups["cancelled"].append(item)
        else:
            groups["not_started"].append(item)
    total = sum(len(v) for k, v in groups.items() if k != "cancelled")
    durations = [i.duration_minutes for i in groups["completed"] if i.duration_minutes is not None]
    # Time the shift actually worked: from the first task's start to the last one's end (or now).
    worked = [(t.start_time, t.end_time or min(now, window_end)) for t in state.tasks if t.start_time is not None]
    used = (max(e for _, e in worked) - min(s for s, _ in worked)).total_seconds() / 60 if worked else 0.0
    return StatusReport(
        user_id=state.user_id,
        workflow_id=state.workflow_id,
        day=state.day,
        timezone=state.timezone,
        window_start=window_start,
        window_end=window_end,
        total_generated=total,
        completion_rate=round(len(groups["completed"]) / total, 3) if total else 0.0,
        average_task_minutes=round(sum(durations) / len(durations), 2) if durations else None,
        time_used_minutes=round(max(0.0, used), 2),
        window_minutes=round((window_end - window_start).total_seconds() / 60, 2),
        next_steps=next_steps,
        cost_usd=round(sum(t.cost_usd for t in state.tasks) + state.cost_usd, 4),
        skipped_reason=skipped_reason,
        completed=groups["completed"], in_progress=groups["in_progress"], failed=groups["failed"],
        not_started=groups["not_started"], cancelled=groups["cancelled"],
    )


def _clock(ts: datetime, tz: str, seconds: bool = False) -> str:
    return ts.astimezone(ZoneInfo(tz)).strftime("%-I:%M:%S %p" if seconds else "%-I:%M %p")


def duration(minutes: float | None) -> str:
    """Minutes as the spec shows them; under a minute (compressed days) in seconds."""
    minutes = minutes or 0.0
    return f"{minutes:g} min" if minutes >= 1 or minutes == 0 else f"{minutes * 60:.0f} s"


def _brief(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def window_text(report: StatusReport) -> str:
    """The spec's window line, in the owner's timezone: "Execution Window: 8:00 AM - 11:00 AM America/New_York"."""
    short = report.window_minutes < 60
    return (f"Execution Window: {_clock(report.window_start, report.timezone, short)} - "
            f"{_clock(report.window_end, report.timezone, short)} {report.timezone}")


def render_text(report: StatusReport) -> str:
    """The spec's plain-text status format (console, logs, Slack fallback text)."""
    lines = [f"📋 Daily Task Summary - {report.day}", window_text(report), ""]
    if report.model_label:
        lines += [f"🧪 Ran on the {report.model_label}", ""]
    if report.skipped_reason:
        lines += [f"⏭️  Shift skipped: {report.skipped_reason}", ""]
    if report.failed_reason:
        lines += [f"⚠️  Shift failed: {report.failed_reason}", ""]
    lines.append(f"✅ COMPLETED ({len(report.completed)} tasks)")
    for i in report.completed:
        lines += [f"- {_brief(i.description)}",
                  f"  Status: Completed | Duration: {duration(i.duration_minutes)} | Output: {_brief(i.output, 120)}"]
    lines += ["", f"🔄 IN PROGRESS ({len(report.in_progress)} tasks)"]
    for i in report.in_progress:
        lines += [f"- {_brief(i.description)}",
                  f"  Status: In Progress | Progress: {i.progress}% | Elapsed: {duration(i.elapsed_minutes)}"]
    lines += ["", f"❌ FAILED ({len(report.failed)} tasks)"]
    for i in report.failed:
        extra = f" | Resolution: {i.resolution}" if i.resolution else ""
        lines += [f"- {_brief(i.description)}",
                  f"  Status: Failed | Reason: {_brief(i.reason, 120)} | Attempts: {i.attempts}{extra}"]
    lines += ["", f"⏸️  NOT STARTED ({len(report.not_started)} tasks)"]
    for i in report.not_started:
        lines += [f"- {_brief(i.description)}", f"  Status: Pending | Reason: {_brief(i.reason, 120)}"]
    if report.cancelled:
        lines += ["", f"🚫 CANCELLED ({len(report.cancelled)} tasks)"]
        for i in report.cancelled:
            lines += [f"- {_brief(i.description)}", "  Status: Cancelled"]
    avg = duration(report.average_task_minutes) if report.average_task_minutes is not None else "n/a"
    lines += [
        "", "---", "Summary Stats:",
        f"- Total Generated: {report.total_generated}",
        f"- Completion Rate: {len(report.completed)}/{report.total_generated} ({report.completion_rate:.0%})",
        f"- Average Task Time: {avg}",
        f"- Total Time Used: {duration(report.time_used_minutes)} (out of {duration(report.window_minutes)})",
        f"- Cost: ${report.cost_usd:.4f}",
        *(["", "Notes:", *(f"- {_brief(n, 300)}" for n in report.notes)] if report.notes else []),
        "", f"Next Steps: {report.next_steps or 'n/a'}",
    ]
    return "\n".join(lines)
