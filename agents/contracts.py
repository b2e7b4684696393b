"""What the workflow asks of agents, and what comes back. Pure pydantic: safe inside workflow code.

The workflow layer depends on this interface only, so the day can be tested with a deterministic
in-test implementation while the real one (``agents.runtime.ClaudeAgentRuntime``) talks to Claude.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from storage.models import TaskIdentity, TaskSpec


class TaskDraft(TaskSpec):
    """A task an agent proposes: exactly what a task asks for, nothing more."""


class TaskBrief(TaskIdentity):
    """A task as agents see it in prompts (derived by ``workflows.records.brief``)."""

    status: str
    note: str | None = None


class PlanRequest(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    now: str
    deadline: str
    user_tasks: list[TaskBrief] = Field(default_factory=list)
    min_tasks: int = 3
    max_tasks: int = 8


class PlanResult(BaseModel):
    tasks: list[TaskDraft]
    summary: str = ""
    cost_usd: float = 0.0


class ExecRequest(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    task_id: str
    short_id: str
    description: str
    capabilities: list[str]
    deadline: str
    warn_at: str
    round: int = 1


class ExecResult(BaseModel):
    output: str
    artifacts: list[str] = Field(default_factory=list)
    session_id: str | None = None
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


class ReviewRequest(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    now: str
    deadline: str
    tasks: list[TaskBrief]
    happened: list[str]
    can_add: int


class ReviewResult(BaseModel):
    new_tasks: list[TaskDraft] = Field(default_factory=list)
    retry_task_ids: list[str] = Field(default_factory=list)
    note: str = ""
    cost_usd: float = 0.0


class AdviceRequest(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    task: TaskBrief
    error: str
    attempts: int


class NextStepsRequest(BaseModel):
    user_id: str
    workflow_id: str
    day: str
    summary: str


class AgentFailure(Exception):
    """An agent run that did not succeed. ``retryable`` decides whether Temporal tries again."""

    def __init__(self, message: str, *, retryable: bool, kind: str = "AgentError") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.kind = kind
        self.spent: object | None = None  # the error ResultMessage of a run that failed, for its cost


class RunMonitor(Protocol):
    """What a running agent tells its supervisor: liveness, progress and its session id."""

    def touch(self) -> None: ...

    async def progress(self, percent: int, note: str | None = None) -> None: ...

    def set_session(self, session_id: str) -> None: ...

    def waiting(self, flag: bool) -> None:
        """While waiting for an agent slot, silence is expected and is not a stall."""

    @property
    def resume_session_id(self) -> str | None: ...


class AgentRuntime(Protocol):
    async def plan_day(self, req: PlanRequest) -> PlanResult: ...

    async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult: ...

    async def review(self, req: ReviewRequest) -> ReviewResult: ...

    async def advise(self, req: AdviceRequest) -> str: ...

    async def next_steps(self, req: NextStepsRequest) -> str: ...
