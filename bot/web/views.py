"""What each page shows, read through ShiftControl, the store and the day's workflow query (the same
reads as the Slack Home tab and ``/dayshift``), shaped for the templates and charts."""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.control import ShiftControl
from bot.stats import metrics
from storage.models import OPEN_STATUSES, HistoryTask, Task, TaskStatus, User, WorkflowRun
from storage.tasks import NotFound
from workflows.models import DayState, StatusReport, TaskState, day_workflow_id
from workflows.schedules import local_day

EDITABLE = frozenset(s.value for s in OPEN_STATUSES)


@dataclass
class Row:
    """One task on the board and one bar on the timeline."""

    task_id: str
    short_id: str
    description: str
    status: str
    generated_by: str
    progress: int = 0
    agent: str | None = None
    note: str | None = None
    error: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    attempts: int = 0
    cost_usd: float = 0.0

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE


@dataclass
class Timeline:
    start: datetime
    deadline: datetime
    now: datetime
    checkpoints: list[tuple[datetime, bool]]
    warning_at: datetime
    warned: bool
    rows: list[Row]
    tz: str


@dataclass
class Board:
    user: User
    day: str
    phase: str  # "running"/"planning"/... while live, "done" after, "idle" before
    live: bool
    rows: list[Row]
    waiting: list[Row]
    timeline: Timeline | None
    notes: list[str] = field(default_factory=list)
    plan_summary: str = ""
    cost_usd: float = 0.0
    report: StatusReport | None = None

    def fingerprint(self) -> str:
        """Changes when anything shown changes (but not merely because time passed)."""
        parts = [self.phase, self.plan_summary, str(len(self.notes)), f"{self.cost_usd:.4f}",
                 str(self.timeline.warned if self.timeline else None),
                 str([c[1] for c in self.timeline.checkpoints] if self.timeline else None)]
        for r in self.rows + self.waiting:
            parts.append(f"{r.task_id}|{r.status}|{r.progress}|{r.agent}|{r.note}|{r.error}|{r.description}|"
                         f"{r.start}|{r.end}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _from_state(t: TaskState) -> Row:
    return Row(task_id=t.task_id, short_id=t.short_id, description=t.description, status=t.status.value,
               generated_by=t.generated_by, progress=t.progress, agent=t.assigned_to, note=t.progress_note,
               error=t.error or t.blocked_reason, start=_aware(t.start_time), end=_aware(t.end_time),
               attempts=t.attempts, cost_usd=t.cost_usd)


def _from_task(t: Task | HistoryTask) -> Row:
    return Row(task_id=t.task_id, short_id=t.short_id, description=t.description, status=t.status.value,
               generated_by=t.generated_by, progress=t.progress, agent=t.assigned_to,
               note=getattr(t, "progress_note", None), error=t.error_message, start=_aware(t.start_time),
               end=_aware(t.end_time), attempts=t.retry_count, cost_usd=t.cost_usd)


def _marks(start: datetime, deadline: datetime, every: float, done: int | None) -> list[tuple[datetime, bool]]:
    marks: list[tuple[datetime, bool]] = []
    at, k = start + timedelta(seconds=every), 1
    while at < deadline and len(marks) < 200:
        marks.append((at, (k <= done) if done is not None else True))
        at, k = at + timedelta(seconds=every), k + 1
    return marks


async def board(control: ShiftControl, user_id: str) -> Board:
    user = await control.user(user_id)
    store = control.store
    now = datetime.now(UTC)
    state: DayState | None = await control.state(user)
    waiting = [_from_task(t) for t in await store.tasks.pending_unassigned(user_id)]
    every, warn = control.settings.checkpoint_seconds, control.settings.warning_seconds
    if state is not None and state.started_at and state.deadline:
        rows = [_from_state(t) for t in state.tasks]
        start, deadline = _aware(state.started_at), _aware(state.deadline)
        assert start is not None and deadline is not None
        timeline = Timeline(start=start, deadline=deadline, now=now,
                            checkpoints=_marks(start, deadline, every, state.checkpoints),
                            warning_at=deadline - timedelta(seconds=warn), warned=state.warned, rows=rows,
                            tz=user.timezone)
        return Board(user=user, day=state.day, phase=state.phase, live=True, rows=rows, waiting=waiting,
                     timeline=timeline, notes=list(state.notes), plan_summary=state.plan_summary,
                     cost_usd=state.cost_usd)
    day = local_day(user.timezone)
    run = await store.runs.get(user_id, day_workflow_id(user_id, day))
    rows = [_from_task(t) for t in await store.history.day(user_id, day)] if run else []
    past = _archived_timeline(run, rows, now, user, every, warn) if run else None
    report = StatusReport.model_validate_json(run.report_json) if run and run.report_json else None
    return Board(user=user, day=day, phase="done" if run else "idle", live=False, rows=rows, waiting=waiting,
                 timeline=past, report=report, cost_usd=report.cost_usd if report else 0.0)


def _archived_timeline(run: WorkflowRun, rows: list[Row], now: datetime, user: User, every: float,
                       warn: float) -> Timeline | None:
    """A finished day drawn from its run row, archived tasks and last checkpoint snapshot."""
    start, deadline = _aware(run.start_time), _aware(run.deadline)
    if start is None or deadline is None:
        return None
    snapshot = DayState.model_validate_json(run.snapshot_json) if run.snapshot_json else None
    done = snapshot.checkpoints if snapshot else 0
    return Timeline(start=start, deadline=deadline, now=min(now, deadline),
                    checkpoints=_marks(start, deadline, every, done), warning_at=deadline - timedelta(seconds=warn),
                    warned=bool(snapshot and snapshot.warned) or now >= deadline, rows=rows, tz=user.timezone)


# ---- history -------------------------------------------------------------------------------------------


@dataclass
class DayCell:
    day: date
    total: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def rate(self) -> float | None:
        return self.completed / self.total if self.total else None


@dataclass
class History:
    user: User
    today: date
    month: date  # first of the month shown
    weeks: list[list[DayCell | None]]
    ranges: list[dict[str, object]]
    categories: list[tuple[str, float, int]]  # (category, avg minutes, count)
    costs: list[tuple[date, float]]
    selected: date | None = None
    selected_rows: list[Row] = field(default_factory=list)
    selected_run: WorkflowRun | None = None
    selected_report: StatusReport | None = None
    prev_month: date | None = None
    next_month: date | None = None


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


async def history(control: ShiftControl, user_id: str, *, month: date | None = None,
                  selected: date | None = None) -> History:
    user = await control.user(user_id)
    store = control.store
    today = datetime.now(ZoneInfo(user.timezone)).date()
    first = (month or selected or today).replace(day=1)
    totals = {str(r["day"]): r for r in await store.history.day_totals(user_id, 90, today)}  # the 7/30/90 ranges
    # The calendar's month, however far back: day_totals reads from the month's first day on (grouped by day,
    # so at most one row per day); the days after the month are left out below.
    shown = {str(r["day"]): r for r in await store.history.day_totals(user_id, max(1, (today - first).days + 1),
                                                                        today)}
    weeks: list[list[DayCell | None]] = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        cells: list[DayCell | None] = []
        for d in week:
            if d.month != first.month:
                cells.append(None)
                continue
            t = shown.get(d.isoformat())
            cells.append(DayCell(d, int(t["total"] or 0), int(t["completed"] or 0), int(t["failed"] or 0))  # type: ignore[call-overload]
                         if t else DayCell(d))
        weeks.append(cells)
    ranges = []
    for days in (7, 30, 90):
        m = await metrics(store, days, today, user_id)
        rows = [r for d, r in totals.items() if d >= (today - timedelta(days=days - 1)).isoformat()]
        total = sum(int(r["total"] or 0) for r in rows)  # type: ignore[call-overload]
        completed = sum(int(r["completed"] or 0) for r in rows)  # type: ignore[call-overload]
        failed = sum(int(r["failed"] or 0) for r in rows)  # type: ignore[call-overload]
        ranges.append({"days": days, "total": total, "completed": completed, "failed": failed,
                       "other": total - completed - failed, "shifts": m["workflows"],
                       "workflow_success_rate": m["workflow_success_rate"], "failure_rate": m["failure_rate"]})
    cats = [(c.category, float(c.avg_minutes or 0.0), c.count)
            for c in await store.history.completed_by_category(user_id, 30, today)]
    costs = [(today - timedelta(days=i), await store.ledger.actual(user_id, (today - timedelta(days=i)).isoformat()))
             for i in range(29, -1, -1)]
    h = History(user=user, today=today, month=first, weeks=weeks, ranges=ranges, categories=cats, costs=costs,
                prev_month=(first - timedelta(days=1)).replace(day=1),
                next_month=(first + timedelta(days=32)).replace(day=1) if first < today.replace(day=1) else None)
    if selected is not None:
        h.selected = selected
        h.selected_rows = [_from_task(t) for t in await store.history.day(user_id, selected.isoformat())]
        h.selected_run = await store.runs.get(user_id, day_workflow_id(user_id, selected.isoformat()))
        if h.selected_run and h.selected_run.report_json:
            h.selected_report = StatusReport.model_validate_json(h.selected_run.report_json)
    return h


# ---- one task -----------------------------------------------------------------------------------------


async def find_task(control: ShiftControl, user_id: str, task_id: str) -> Row | None:
    """The user's task with this id, live, waiting or archived; None for anyone else's (or no) task."""
    task_id = task_id.strip().lower()
    if not task_id or len(task_id) > 64:
        return None
    state = await control.state(await control.user(user_id))
    if state is not None:
        for t in state.tasks:
            if t.task_id == task_id:
                return _from_state(t)
    try:
        return _from_task(await control.store.tasks.get(user_id, task_id))  # full ids only: no short-id guess
    except NotFound:
        pass
    archived = await control.store.history.get(user_id, task_id)
    return _from_task(archived) if archived is not None else None


def status_label(status: str) -> str:
    return {"in_progress": "in progress", "pre_validated": "pre-validated"}.get(status, status)


def is_final(status: str) -> bool:
    return status in (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)
