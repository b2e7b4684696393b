"""A deterministic in-test AgentRuntime (a fake: no Claude). Behaviour is keyed on task text.

- "fail-always"  -> retryable failure on every attempt
- "fail-once"    -> fails the first attempt of each round, then succeeds
- "impossible"   -> non-retryable failure
- "fail-until-retry" -> fails every attempt of round 1, succeeds in round 2
- "gate"         -> waits until the test opens ``gate`` (time does not skip meanwhile)
- "hold"         -> runs until cancelled, reporting progress (real-clock tests only)
"""

from __future__ import annotations

import asyncio
from collections import Counter

from agents.contracts import (
    AdviceRequest,
    AgentFailure,
    ExecRequest,
    ExecResult,
    NextStepsRequest,
    PlanRequest,
    PlanResult,
    ReviewRequest,
    ReviewResult,
    RunMonitor,
    TaskDraft,
)


class ScriptedAgents:
    def __init__(self, plan: list[str] | None = None, *, review_adds: list[str] | None = None,
                 review_retries: bool = False) -> None:
        self.plan = plan if plan is not None else ["Summarise yesterday's notes", "Tidy the backlog",
                                                   "Draft the weekly update"]
        self.review_adds = list(review_adds or [])
        self.review_retries = review_retries
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.completed: Counter[str] = Counter()
        self.reviews: list[ReviewRequest] = []
        self.plan_requests: list[PlanRequest] = []
        self.gate = asyncio.Event()

    async def plan_day(self, req: PlanRequest) -> PlanResult:
        self.calls["plan"] += 1
        self.plan_requests.append(req)
        caps = [["files"]] * len(self.plan)
        tasks = [TaskDraft(description=d, capabilities=c if "bogus" not in d else ["teleport"])
                 for d, c in zip(self.plan, caps, strict=True)]
        return PlanResult(tasks=tasks, summary="scripted plan", cost_usd=0.01)

    async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult:
        self.calls["run"] += 1
        key = f"{req.task_id}:{req.round}"
        self.attempts[key] += 1
        text = req.description
        await monitor.progress(25, "started")
        if "fail-always" in text:
            raise AgentFailure("model API answered 529 overloaded", retryable=True, kind="ApiOverloaded")
        if "impossible" in text:
            raise AgentFailure("permission denied: tool not in profile", retryable=False, kind="PermissionDenied")
        if "fail-once" in text and self.attempts[key] == 1:
            raise AgentFailure("network reset", retryable=True, kind="Transient")
        if "fail-until-retry" in text and req.round == 1:
            raise AgentFailure("upstream 500", retryable=True, kind="Transient")
        if "gate" in text:
            await self.gate.wait()
        if "hold" in text:
            pct = 25
            while True:
                await asyncio.sleep(0.3)
                pct = min(95, pct + 5)
                await monitor.progress(pct, "working")
        await monitor.progress(80, "almost")
        self.completed[req.task_id] += 1
        return ExecResult(output=f"done: {text}", cost_usd=0.002, input_tokens=100, output_tokens=20)

    async def review(self, req: ReviewRequest) -> ReviewResult:
        self.calls["review"] += 1
        self.reviews.append(req)
        adds = [TaskDraft(description=d, capabilities=["files"]) for d in self.review_adds[: req.can_add]]
        self.review_adds = self.review_adds[len(adds):]
        retries = [t.task_id for t in req.tasks if t.status == "failed"] if self.review_retries else []
        return ReviewResult(new_tasks=adds, retry_task_ids=retries, note="reviewed", cost_usd=0.001)

    async def advise(self, req: AdviceRequest) -> str:
        self.calls["advise"] += 1
        return f"Looks transient ({req.error}); try again."

    async def next_steps(self, req: NextStepsRequest) -> str:
        self.calls["next_steps"] += 1
        return "Carry unfinished work into tomorrow."


class RecordingNotifier:
    """A fake Notifier that records calls (and can be told to fail)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.progress_posts = 0
        self.escalations: list[tuple[str, str]] = []
        self.reports: list[object] = []
        self.fail_reports = 0

    async def day_started(self, state) -> None:  # type: ignore[no-untyped-def]
        self.started.append(state.workflow_id)

    async def progress(self, state) -> None:  # type: ignore[no-untyped-def]
        self.progress_posts += 1

    async def escalate(self, state, task, suggestion, escalation_id) -> None:  # type: ignore[no-untyped-def]
        self.escalations.append((task.task_id, suggestion))

    async def report(self, report) -> None:  # type: ignore[no-untyped-def]
        if self.fail_reports > 0:
            self.fail_reports -= 1
            raise RuntimeError("slack 500")
        self.reports.append(report)

    async def changed(self, user_id: str) -> None:
        return None
