"""Typed rows: what the repositories take and return."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class TaskStatus(StrEnum):
    """The spec's lifecycle plus ``cancelled`` (a pending task the user withdrew)."""

    GENERATED = "generated"
    PRE_VALIDATED = "pre_validated"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({TaskStatus.GENERATED, TaskStatus.PRE_VALIDATED, TaskStatus.PENDING})
FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class Row(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class User(Row):
    user_id: str
    email: str | None = None
    display_name: str | None = None
    timezone: str = "UTC"
    preferred_start_time: str = "08:00"
    slack_channel: str | None = None
    paused: bool = False
    daily_budget_usd: float | None = None


class TaskSpec(BaseModel):
    """What a task asks for: what an agent drafts or a user types. Every task shape below starts here,
    so a field added to a task is added once and reaches every view of it."""

    description: str
    capabilities: list[str] = Field(default_factory=list)
    category: str = "general"


class TaskLabel(TaskSpec):
    """A task as people refer to it (report lines, Slack)."""

    short_id: str


class TaskIdentity(TaskLabel):
    """A task once it exists: the key shared by the row, the workflow's state and the agents' brief."""

    task_id: str


class TaskMirror(TaskIdentity, Row):
    """The columns of a task row the workflow owns and mirrors after every transition.

    Output, cost and tokens are not here on purpose: the executor activity writes them, and a mirror
    of the workflow's (summarised) view must never overwrite them.
    """

    user_id: str
    created_at: str
    generated_by: str = "orchestrator"
    assigned_to: str | None = None
    status: TaskStatus
    start_time: str | None = None
    end_time: str | None = None
    error_message: str | None = None
    retry_count: int = 0
    workflow_id: str | None = None
    progress: int = 0
    progress_note: str | None = None
    source_ref: str | None = None


EXECUTOR_COLUMNS = frozenset({"output", "cost_usd", "input_tokens", "output_tokens"})


class TaskFields(TaskMirror):
    """The canonical task record, live or archived: the workflow's columns plus what the executor wrote."""

    output: str | None = None
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


class Task(TaskFields):
    updated_at: str | None = None


class HistoryTask(TaskFields):
    day: str
    archived_at: str


class TaskEvent(Row):
    event_id: int
    task_id: str
    user_id: str
    workflow_id: str | None = None
    at: str
    kind: str
    from_status: str | None = None
    to_status: str | None = None
    attempt: int | None = None
    message: str | None = None


class WorkflowRun(Row):
    workflow_id: str
    user_id: str
    day: str
    start_time: str | None = None
    end_time: str | None = None
    deadline: str | None = None
    status: str
    main_agent_id: str | None = None
    thread_channel: str | None = None
    thread_ts: str | None = None
    status_ts: str | None = None
    report_json: str | None = None
    report_delivered: bool = False
    report_ts: str | None = None
    snapshot_json: str | None = None


class SlackPost(Row):
    """A Slack message the day posts exactly once (then edits); ``ts`` is None until Slack confirmed it."""

    post_key: str
    user_id: str
    channel: str
    thread_ts: str | None = None
    ts: str | None = None
    created_at: str
    posted_at: str | None = None


class Escalation(Row):
    escalation_id: str
    task_id: str
    user_id: str
    workflow_id: str
    created_at: str
    reason: str
    suggestion: str | None = None
    attempts: int
    delivered: bool = False
    dm_channel: str | None = None
    dm_ts: str | None = None
    resolution: str | None = None
    resolved_at: str | None = None


class MemoryEntry(Row):
    user_id: str
    state_key: str
    state_value: str
    agent_id: str
    updated_at: str


class CategoryCount(Row):
    category: str
    count: int
    avg_minutes: float | None = None


class FailurePattern(Row):
    error_message: str
    count: int
    last_seen: str
    categories: str


class Artifact(Row):
    """A file an executor produced, kept (redacted) for the report; ``content`` is None past a cap."""

    user_id: str
    task_id: str
    name: str
    workflow_id: str
    day: str
    size: int
    mime: str
    content: bytes | None = None
    skipped: str | None = None
    file_id: str | None = None
    shared_at: str | None = None
    created_at: str


class EmailReport(Row):
    """The e-mail copy of one day's report; ``status`` is sending, sent or failed (``error`` says why)."""

    user_id: str
    workflow_id: str
    day: str
    address: str
    message_id: str
    status: str
    error: str | None = None
    updated_at: str


def human_size(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
