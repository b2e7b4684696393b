"""A deterministic in-test AgentRuntime (a fake: no Claude). Behaviour is keyed on task text.

- "fail-always"  -> retryable failure on every attempt
- "fail-once"    -> fails the first attempt of each round, then succeeds
- "impossible"   -> non-retryable failure
- "fail-until-retry" -> fails every attempt of round 1, succeeds in round 2
- "gate"         -> waits until the test opens ``gate`` (time does not skip meanwhile)
- "hold"         -> runs until cancelled, reporting progress (real-clock tests only)
- "stubborn"     -> a model that hangs and ignores cancellation (real-clock tests only)
- "slow"         -> takes ``slow_seconds`` (real time) while holding one of ``slots`` agent slots, like the runtime

``hang`` names agent calls that never return ("review", "advise", "next_steps", "plan"): a model that hangs.
Time does not skip on the test server while any activity is outstanding, so tests using them run in real time.
"""

from __future__ import annotations

import asyncio
import time
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
                 review_retries: bool = False, hang: tuple[str, ...] = (), fail: tuple[str, ...] = (),
                 slots: int | None = None, slow_seconds: float = 1.0) -> None:
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
        self.release = asyncio.Event()
        self.hang = set(hang)
        self.fail = set(fail)
        self.slots = asyncio.Semaphore(slots) if slots else None
        self.slow_seconds = slow_seconds
        self.running = 0
        self.started_at: dict[str, float] = {}

    async def _maybe_hang(self, call: str) -> None:
        if call in self.fail:
            raise AgentFailure(f"{call}: model API answered 500", retryable=False, kind="ApiError")
        if call in self.hang:
            await asyncio.Event().wait()

    async def plan_day(self, req: PlanRequest) -> PlanResult:
        self.calls["plan"] += 1
        self.plan_requests.append(req)
        await self._maybe_hang("plan")
        caps = [["files"]] * len(self.plan)
        tasks = [TaskDraft(description=d, capabilities=c if "bogus" not in d else ["teleport"])
                 for d, c in zip(self.plan, caps, strict=True)]
        return PlanResult(tasks=tasks, summary="scripted plan", cost_usd=0.01)

    async def run_task(self, req: ExecRequest, monitor: RunMonitor) -> ExecResult:
        self.calls["run"] += 1
        key = f"{req.task_id}:{req.round}"
        self.attempts[key] += 1
        text = req.description
        self.started_at[req.task_id] = asyncio.get_running_loop().time()
        if "slow" in text and self.slots is not None:
            monitor.waiting(True)  # queued for an agent slot, as the real runtime does
            async with self.slots:
                monitor.waiting(False)
                self.running += 1
                try:
                    await asyncio.sleep(self.slow_seconds)
                finally:
                    self.running -= 1
        await monitor.progress(25, "started")
        if "stubborn" in text:
            while not self.release.is_set():  # swallows cancellation until the test releases it
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    continue
            raise asyncio.CancelledError()
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
        await self._maybe_hang("review")
        adds = [TaskDraft(description=d, capabilities=["files"]) for d in self.review_adds[: req.can_add]]
        self.review_adds = self.review_adds[len(adds):]
        retries = [t.task_id for t in req.tasks if t.status == "failed"] if self.review_retries else []
        return ReviewResult(new_tasks=adds, retry_task_ids=retries, note="reviewed", cost_usd=0.001)

    async def advise(self, req: AdviceRequest) -> str:
        self.calls["advise"] += 1
        await self._maybe_hang("advise")
        return f"Looks transient ({req.error}); try again."

    async def next_steps(self, req: NextStepsRequest) -> str:
        self.calls["next_steps"] += 1
        await self._maybe_hang("next_steps")
        return "Carry unfinished work into tomorrow."


class RecordingNotifier:
    """A fake Notifier that records calls (and can be told to fail)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.progress_posts = 0
        self.escalations: list[tuple[str, str]] = []
        self.reports: list[object] = []
        self.fail_reports = 0
        self.hang: set[str] = set()  # "escalate", "progress", "report", "day_started": Slack hangs on these
        self.fail: set[str] = set()  # ... or answers 500
        self.report_times: list[float] = []

    async def _maybe_hang(self, call: str) -> None:
        if call in self.fail:
            raise RuntimeError(f"slack 500 on {call}")
        if call in self.hang:
            await asyncio.Event().wait()

    async def day_started(self, state) -> None:  # type: ignore[no-untyped-def]
        await self._maybe_hang("day_started")
        self.started.append(state.workflow_id)

    async def progress(self, state) -> None:  # type: ignore[no-untyped-def]
        await self._maybe_hang("progress")
        self.progress_posts += 1

    async def escalate(self, state, task, suggestion, escalation_id) -> None:  # type: ignore[no-untyped-def]
        await self._maybe_hang("escalate")
        self.escalations.append((task.task_id, suggestion))

    async def report(self, report) -> None:  # type: ignore[no-untyped-def]
        await self._maybe_hang("report")
        if self.fail_reports > 0:
            self.fail_reports -= 1
            raise RuntimeError("slack 500")
        self.reports.append(report)
        self.report_times.append(time.time())

    async def changed(self, user_id: str) -> None:
        return None
