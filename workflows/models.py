"""Workflow inputs, state and the status report. Small payloads: ids, summaries, numbers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from storage.models import TaskIdentity, TaskLabel, TaskStatus

TASK_QUEUE = "daily-tasks"
# Agent runs (plan, executors, reviews, advice, next steps) queue here, so bookkeeping, delivery and updates
# on TASK_QUEUE never wait behind an agent slot.
AGENT_QUEUE = "daily-tasks-agents"
# Everything that talks to Slack; served only by a process that has a Notifier (the bot, the demo).
NOTIFY_QUEUE = "daily-tasks-notify"
OUTPUT_SUMMARY_CHARS = 400


def agent_queue(task_queue: str) -> str:
    """The agent queue that goes with a workflow task queue (``daily-tasks`` -> AGENT_QUEUE)."""
    return f"{task_queue}-agents"


def notify_queue(task_queue: str) -> str:
    """The notification queue that goes with a workflow task queue (``daily-tasks`` -> NOTIFY_QUEUE)."""
    return f"{task_queue}-notify"


def day_workflow_id(user_id: str, day: str) -> str:
    """The fixed id of a user's day, computable by the bot without a lookup."""
    return f"day-{user_id}-{day}"


class ShiftTimings(BaseModel):
    """The shape of a shift; workflow inputs so tests and the demo can compress a day."""

    user_id: str
    window_seconds: float = 10_800
    checkpoint_seconds: float = 900
    warning_seconds: float = 300
    max_parallel: int = 3


class DayInput(ShiftTimings):
    day: str
    timezone: str = "UTC"
    scheduled_start: datetime | None = None
    min_useful_seconds: float | None = None
    grace_seconds: float = 120
    heartbeat_timeout_seconds: float = 30
    retry_initial_seconds: float = 5
    retry_max_seconds: float = 60
    max_tasks: int = 8
    # After the deadline: how long cancelled work may take to stop, and the budget for the closing agent step.
    close_seconds: float = 20
    next_steps_seconds: float = 20
    advice_seconds: float = 60


class ScheduleInput(ShiftTimings):
    """What a user's Temporal Schedule starts; the day's details are resolved when it fires."""


class TaskState(TaskIdentity):
    """The workflow's view of a task (event-sourced by Temporal). ``output`` is a summary of at most
    OUTPUT_SUMMARY_CHARS: the whole output lives in the task row, which the workflow never overwrites."""

    generated_by: str = "orchestrator"
    status: TaskStatus = TaskStatus.GENERATED
    assigned_to: str | None = None
    progress: int = 0
    progress_note: str | None = None
    attempts: int = 0
    rounds: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    output: str | None = None
    error: str | None = None
    blocked_reason: str | None = None
    escalated: bool = False
    resolution: str | None = None
    cost_usd: float = 0.0
    source_ref: str | None = None


class DayState(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    timezone: str
    phase: str = "starting"
    started_at: datetime | None = None
    deadline: datetime | None = None
    warned: bool = False
    checkpoints: int = 0
    reviews: int = 0
    plan_summary: str = ""
    # What went wrong that the user should know (planning, review, escalation, notification failures);
    # shown in the report's Notes and on Home.
    notes: list[str] = Field(default_factory=list)
    review_note: str | None = None
    tasks: list[TaskState] = Field(default_factory=list)
    cost_usd: float = 0.0
    model_label: str | None = None  # set (by the worker's activities) when the day runs on the offline model


class AddTaskRequest(BaseModel):
    description: str
    capabilities: list[str] = Field(default_factory=list)
    source_ref: str | None = None


class EditTaskRequest(BaseModel):
    task_ref: str
    description: str


class ProgressSignal(BaseModel):
    task_id: str
    percent: int
    note: str | None = None


class ReportItem(TaskLabel):
    """One line of the report, derived from a TaskState by ``workflows.records.report_item``."""

    task_id: str = ""
    status: str
    generated_by: str = "orchestrator"
    duration_minutes: float | None = None
    elapsed_minutes: float | None = None
    progress: int = 0
    output: str | None = None
    reason: str | None = None
    attempts: int = 0
    resolution: str | None = None


class StatusReport(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    timezone: str
    window_start: datetime
    window_end: datetime
    completed: list[ReportItem] = Field(default_factory=list)
    in_progress: list[ReportItem] = Field(default_factory=list)
    failed: list[ReportItem] = Field(default_factory=list)
    not_started: list[ReportItem] = Field(default_factory=list)
    cancelled: list[ReportItem] = Field(default_factory=list)
    total_generated: int = 0
    completion_rate: float = 0.0
    average_task_minutes: float | None = None
    time_used_minutes: float = 0.0
    window_minutes: float = 180.0
    next_steps: str = ""
    cost_usd: float = 0.0
    skipped_reason: str | None = None
    notes: list[str] = Field(default_factory=list)
    failed_reason: str | None = None
    model_label: str | None = None  # "offline model (...)" when no real model did the work
