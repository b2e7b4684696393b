"""Block Kit builders (slack_sdk.models, no Bolt). Every builder stays inside Slack's limits:
50 blocks a message, 100 in a Home tab, 3,000 characters a text."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    PlanBlock,
    SectionBlock,
    TaskCardBlock,
)

from storage.models import CategoryCount, Task, TaskStatus, User
from workflows.models import DayState, ReportItem, StatusReport, TaskState
from workflows.report import duration, render_text, window_text

MESSAGE_BLOCKS = 50
HOME_BLOCKS = 100
TEXT_LIMIT = 3000
_MORE_ROOM = 60  # the "…and N more" line
MESSAGE_TEXT_LIMIT = 39_000  # Slack truncates a message's text at 40,000 characters

USAGE = """*Dayshift* — your daily AI shift
• `/dayshift add <text>` add a task (today's shift if it is running, else the next one)
• `/dayshift list` today's tasks and the ones waiting
• `/dayshift edit <id> <text>` change a pending task
• `/dayshift cancel <id>` cancel a pending task
• `/dayshift run` start today's shift now
• `/dayshift status` how today's shift is doing
• `/dayshift history [days]` past days (1-90, default 7)
• `/dayshift settings` start time, timezone, notification channel, pause
• `/dayshift dashboard` a personal link to the web dashboard (timeline, history, charts)
• `/dayshift help` this help
Tip: use the *Add as task* message shortcut to turn any message into a task."""

STATUS_ICON = {"completed": "✅", "in_progress": "🔄", "failed": "❌", "cancelled": "🚫", "pending": "⏸️",
               "generated": "🆕", "pre_validated": "☑️"}


def escape(text: str | None) -> str:
    """Escape Slack's control characters so user text can't ping channels or inject links."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_time(ts: datetime, timezone: str = "UTC", *, seconds: bool = False,
               token: str | None = None) -> str:
    """A time every reader sees in their own timezone (Slack's date token); the fallback, for clients that
    cannot render it, is the owner's local time with the timezone named."""
    local = ts.astimezone(ZoneInfo(timezone))
    fallback = local.strftime("%-I:%M:%S %p" if seconds else "%-I:%M %p") + f" {timezone}"
    fmt = token or ("{time_secs}" if seconds else "{time}")
    return f"<!date^{int(ts.timestamp())}^{fmt}|{fallback}>"


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "… (truncated)"


def md(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text)))


def bar(percent: int, width: int = 10) -> str:
    filled = max(0, min(width, round(percent / 100 * width)))
    return "▰" * filled + "▱" * (width - filled)


def dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def task_line(t: TaskState) -> str:
    icon = STATUS_ICON.get(t.status.value, "•")
    line = f"{icon} `{t.short_id}` {escape(t.description[:150])}"
    if t.status is TaskStatus.IN_PROGRESS:
        note = f" · {escape(t.progress_note)}" if t.progress_note else ""
        line += f"\n      {bar(t.progress)} {t.progress}%{note}"
    elif t.error or t.blocked_reason:
        line += f"\n      _{escape((t.error or t.blocked_reason or '')[:200])}_"
    return line


def task_list_blocks(state: DayState | None, waiting: list[Task]) -> list[Block]:
    blocks: list[Block] = []
    if state is not None:
        blocks.append(md(f"*Today's shift* ({state.phase}) — {len(state.tasks)} task(s)"))
        lines = [task_line(t) for t in state.tasks]
        blocks += _chunked(lines, 25)
    else:
        blocks.append(md("No shift is running right now."))
    if waiting:
        blocks.append(md("*Waiting for the next shift*\n" + "\n".join(
            f"⏸️ `{t.short_id}` {escape(t.description[:150])}" for t in waiting[:30])))
    return blocks[:MESSAGE_BLOCKS]


def _chunked(lines: list[str], per_block: int) -> list[Block]:
    out: list[Block] = []
    for i in range(0, len(lines), per_block):
        out.append(md("\n".join(lines[i:i + per_block])))
    return out


def _item_line(i: ReportItem, fmt: str) -> str:
    detail = {
        "done": f"Duration: {duration(i.duration_minutes)} · Output: {escape((i.output or '')[:160])}",
        "progress": f"{bar(i.progress)} {i.progress}% · Elapsed: {duration(i.elapsed_minutes)}",
        "failed": f"Reason: {escape((i.reason or '')[:160])} · Attempts: {i.attempts}"
                  + (f" · {escape(i.resolution)}" if i.resolution else ""),
        "pending": f"Reason: {escape((i.reason or 'Not yet assigned')[:160])}",
        "cancelled": "Cancelled" + (f" · {escape(i.reason[:160])}" if i.reason else ""),
    }[fmt]
    return f"• `{i.short_id}` {escape(i.description[:140])}\n    {detail}"


def _group_sections(title: str, items: list[ReportItem], fmt: str, max_blocks: int) -> list[Block]:
    """Every item of a group, packed into as few sections as Slack's 3,000 characters allow; only when
    ``max_blocks`` sections cannot hold them all does the group end in "…and N more"."""
    head = f"*{title} ({len(items)} tasks)*"
    lines = [_item_line(i, fmt) for i in items] or ["_none_"]
    sections: list[list[str]] = [[head]]
    size = len(head)
    for n, line in enumerate(lines):
        last_section = len(sections) >= max_blocks
        room = TEXT_LIMIT - (_MORE_ROOM if last_section and n < len(lines) - 1 else 0)
        if size + 1 + len(line) > room:
            if last_section:
                sections[-1].append(f"_…and {len(lines) - n} more (see the Home tab)_")
                break
            sections.append([])
            size = -1
        sections[-1].append(line)
        size += 1 + len(line)
    return [md("\n".join(section)) for section in sections]


def report_summary(report: StatusReport) -> str:
    """One line about a report (Home's "Last shift")."""
    return (f"📋 Daily Task Summary - {report.day}: {len(report.completed)} completed, {len(report.in_progress)} in "
            f"progress, {len(report.failed)} failed, {len(report.not_started)} not started")


def report_text(report: StatusReport) -> str:
    """The message's plain-text fallback (notifications, clients without blocks): the spec's text format."""
    return clip(escape(render_text(report)), MESSAGE_TEXT_LIMIT)


def report_window(report: StatusReport) -> str:
    """The spec's window line in the owner's timezone, then the same window in the reader's own time."""
    short = report.window_minutes < 60
    return (f"{window_text(report)} · your time: {slack_time(report.window_start, report.timezone, seconds=short)}"
            f" - {slack_time(report.window_end, report.timezone, seconds=short)}")


def report_blocks(report: StatusReport) -> list[Block]:
    """The spec's status report as Block Kit: every task, cancelled ones on lines of their own."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=f"📋 Daily Task Summary - {report.day}"[:150]))]
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=report_window(report))]))
    if report.model_label:
        blocks.append(md(f"🧪 *Ran on the {escape(report.model_label)}*"))
    if report.skipped_reason:
        blocks.append(md(f"⏭️ *Shift skipped:* {escape(report.skipped_reason)}"))
    if report.failed_reason:
        blocks.append(md(f"⚠️ *Shift failed:* {escape(report.failed_reason)}"))
    avg = duration(report.average_task_minutes) if report.average_task_minutes is not None else "n/a"
    tail: list[Block] = [
        DividerBlock(),
        md(f"*Summary Stats*\n• Total Generated: {report.total_generated}\n"
           f"• Completion Rate: {len(report.completed)}/{report.total_generated} "
           f"({report.completion_rate:.0%})\n• Average Task Time: {avg}\n"
           f"• Total Time Used: {duration(report.time_used_minutes)} of "
           f"{duration(report.window_minutes)}\n• Cost: ${report.cost_usd:.4f}"),
        *([notes_block(report.notes)] if report.notes else []),
        md(f"*Next Steps:* {escape(report.next_steps or 'n/a')}"),
    ]
    groups = [("✅ COMPLETED", report.completed, "done"), ("🔄 IN PROGRESS", report.in_progress, "progress"),
              ("❌ FAILED", report.failed, "failed"), ("⏸️ NOT STARTED", report.not_started, "pending")]
    if report.cancelled:
        groups.append(("🚫 CANCELLED", report.cancelled, "cancelled"))
    budget = MESSAGE_BLOCKS - len(blocks) - len(tail)
    for n, (title, items, fmt) in enumerate(groups):
        later = len(groups) - n - 1  # every later group keeps at least one section
        sections = _group_sections(title, items, fmt, max(1, budget - later))
        blocks += sections
        budget -= len(sections)
    return (blocks + tail)[:MESSAGE_BLOCKS]


def status_text(state: DayState) -> str:
    """``/dayshift status`` for a running shift, its deadline in the reader's own time."""
    done = sum(1 for t in state.tasks if t.status is TaskStatus.COMPLETED)
    deadline = f", report due {slack_time(state.deadline, state.timezone)}" if state.deadline else ""
    return (f"Shift {state.day} is {state.phase}: {done}/{len(state.tasks)} done, "
            f"checkpoint {state.checkpoints}{deadline}.")


def notes_block(notes: list[str]) -> Block:
    """What went wrong that the user should know (failed planning, review, escalation, notification)."""
    return md(clip("*Notes*\n" + "\n".join(f"• {escape(n[:300])}" for n in notes[-10:]), 2900))


_CARD_STATUS = {TaskStatus.COMPLETED: "complete", TaskStatus.IN_PROGRESS: "in_progress", TaskStatus.FAILED: "error"}


def progress_blocks(state: DayState, *, native: bool = True) -> tuple[str, list[Block]]:
    """The live progress reply: a native ``plan`` of ``task_card``s, or plain sections as a fallback."""
    done = sum(1 for t in state.tasks if t.status is TaskStatus.COMPLETED)
    text = f"Shift progress: {done}/{len(state.tasks)} done (checkpoint {state.checkpoints})"
    if native and 0 < len(state.tasks) <= 40:
        cards = [TaskCardBlock(task_id=t.short_id, title=clip(f"{t.description} ({t.progress}%)", 200),
                               status=_CARD_STATUS.get(t.status, "pending")) for t in state.tasks]
        return text, [PlanBlock(title=text[:150], tasks=cards)]
    return text, [md(f"*{text}*"), *_chunked([task_line(t) for t in state.tasks], 20)][:MESSAGE_BLOCKS]


def escalation_blocks(task: TaskState, suggestion: str, day: str) -> list[Block]:
    return [
        md(f"⚠️ *A task in your {day} shift failed after {task.attempts} attempts*\n"
           f"`{task.short_id}` {escape(task.description[:300])}\n*Error:* {escape((task.error or '')[:500])}"),
        md(f"*Suggestion:* {escape(suggestion[:800])}"),
        ActionsBlock(block_id=f"escalation-{task.short_id}", elements=[
            ButtonElement(text="Retry", action_id="retry_task", value=task.task_id, style="primary"),
            ButtonElement(text="Skip", action_id="skip_task", value=task.task_id),
        ]),
        ContextBlock(elements=[MarkdownTextObject(text="No answer leaves the task failed in today's report.")]),
    ]


def settings_modal(user: User) -> dict[str, Any]:
    start_options = [{"text": {"type": "plain_text", "text": label}, "value": value}
                     for label, value in (("8:00 AM", "08:00"), ("10:00 AM", "10:00"))]
    initial = next((o for o in start_options if o["value"] == user.preferred_start_time), start_options[0])
    channel_input: dict[str, Any] = {"type": "conversations_select", "action_id": "channel",
                                     "placeholder": {"type": "plain_text", "text": "Direct message (default)"},
                                     "filter": {"include": ["public", "private"]}}
    if user.slack_channel:
        channel_input["initial_conversation"] = user.slack_channel
    pause_option = {"text": {"type": "plain_text", "text": "Pause my daily shift"}, "value": "paused"}
    pause: dict[str, Any] = {"type": "checkboxes", "action_id": "paused", "options": [pause_option]}
    if user.paused:
        pause["initial_options"] = [pause_option]
    return {
        "type": "modal", "callback_id": "settings_submit",
        "title": {"type": "plain_text", "text": "Dayshift settings"},
        "submit": {"type": "plain_text", "text": "Save"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "start", "label": {"type": "plain_text", "text": "Start time"},
             "element": {"type": "static_select", "action_id": "start", "options": start_options,
                         "initial_option": initial}},
            {"type": "input", "block_id": "tz", "label": {"type": "plain_text", "text": "Timezone (IANA name)"},
             "element": {"type": "plain_text_input", "action_id": "tz", "initial_value": user.timezone,
                         "max_length": 64}},
            {"type": "input", "block_id": "channel", "optional": True,
             "label": {"type": "plain_text", "text": "Notification channel"}, "element": channel_input},
            {"type": "input", "block_id": "paused", "optional": True,
             "label": {"type": "plain_text", "text": "Pause"}, "element": pause},
        ],
    }


def home_view(user: User, state: DayState | None, waiting: list[Task], last_report: StatusReport | None,
              days: list[dict[str, object]], categories: list[CategoryCount], next_start: str,
              stats_line: str) -> dict[str, Any]:
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Dayshift")),
        ContextBlock(elements=[MarkdownTextObject(
            text=f"Starts {user.preferred_start_time} {escape(user.timezone)} · next shift: {escape(next_start)}"
                 + (" · ⏸️ paused" if user.paused else ""))]),
        ActionsBlock(block_id="home-actions", elements=[
            ButtonElement(text="Run today's shift now", action_id="home_run", value="run", style="primary"),
            ButtonElement(text="Settings", action_id="open_settings", value="settings"),
        ]),
        DividerBlock(),
    ]
    if state is not None:
        left = ""
        if state.deadline is not None:
            left = f" · report due {slack_time(state.deadline, user.timezone)}"
        blocks.append(md(f"*Today — live* ({state.phase}{left})"))
        for group, label in ((TaskStatus.IN_PROGRESS, "In progress"), (TaskStatus.PENDING, "Pending"),
                             (TaskStatus.COMPLETED, "Completed"), (TaskStatus.FAILED, "Failed"),
                             (TaskStatus.CANCELLED, "Cancelled")):
            ts = [t for t in state.tasks if t.status is group]
            if ts:
                lines = [task_line(t) + _timing(t, user.timezone) for t in ts]
                blocks.append(md(f"*{label}*\n" + "\n".join(lines[:15])))
        if state.notes:
            blocks.append(notes_block(state.notes))
    elif last_report is not None:
        blocks.append(md(f"*Last shift* ({last_report.day}): {report_summary(last_report)}"))
        if last_report.failed_reason or last_report.notes:
            failed = [f"Shift failed: {last_report.failed_reason}"] if last_report.failed_reason else []
            blocks.append(notes_block(failed + last_report.notes))
    else:
        blocks.append(md("No shift yet. It starts at your start time, or press *Run today's shift now*."))
    if waiting:
        blocks.append(md("*Waiting for the next shift*\n" + "\n".join(
            f"⏸️ `{t.short_id}` {escape(t.description[:120])}" for t in waiting[:15])))
    blocks.append(DividerBlock())
    history = ["*Last 7 days*"]
    for d in days[:7]:
        total = int(d["total"] or 0)  # type: ignore[call-overload]
        completed = int(d["completed"] or 0)  # type: ignore[call-overload]
        avg = f"{float(d['avg_seconds']) / 60:.1f} min/task" if d.get("avg_seconds") else "n/a"  # type: ignore[arg-type]
        history.append(f"• {d['day']}: {completed}/{total} done ({completed / total:.0%} ) · "
                       f"{int(d['failed'] or 0)} failed · {avg}" if total else f"• {d['day']}: no tasks")  # type: ignore[call-overload]
    if len(history) == 1:
        history.append("_no history yet_")
    blocks.append(md("\n".join(history)))
    if categories:
        blocks.append(md("*Completed by type (30 days)*: " + ", ".join(
            f"{escape(c.category)} {c.count}" + (f" ({c.avg_minutes:.0f} min avg)" if c.avg_minutes else "")
            for c in categories[:10])))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=stats_line)]))
    return {"type": "home", "blocks": dicts(blocks[:HOME_BLOCKS])}


def _timing(t: TaskState, timezone: str) -> str:
    if t.start_time is None:
        return ""
    end = f"–{slack_time(t.end_time, timezone)}" if t.end_time else ""
    return f"  _({slack_time(t.start_time, timezone)}{end}, {t.assigned_to or 'unassigned'})_"
