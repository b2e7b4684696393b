"""Budget that does not fail good tasks (issue 11 item 7). Real SQLite and PostgreSQL; the runtime test
replaces only the SDK session (the agent itself) with a canned ResultMessage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from claude_agent_sdk import ClaudeAgentOptions, ResultMessage

from agents.runtime import AgentConfig, ClaudeAgentRuntime, RunOutcome
from agents.tools import AgentContext
from storage.ledger import BudgetExceeded, LedgerRepository
from storage.store import Store
from tests.fakes.agents import RecordingNotifier, ScriptedAgents
from workflows.activities import ShiftActivities, ValidateInput
from workflows.models import TaskState

DAY = "2026-11-28"


@pytest.fixture
def store(any_store: Store) -> Store:
    """The budget rule holds on both backends (PostgreSQL skips when unreachable)."""
    return any_store


async def _agent(store: Store, n: int, cost: float, run_seconds: float) -> float:
    held = await store.ledger.reserve("U1", DAY, f"exec:{n}", amount_usd=1.0, daily_cap_usd=5.0,
                                      agent_kind="executor", poll_seconds=0.02)
    await asyncio.sleep(run_seconds)
    await store.ledger.settle("U1", f"exec:{n}", actual_usd=cost)
    return held


async def test_full_caps_wait_for_running_agents_to_settle_instead_of_failing(store: Store) -> None:
    # Eight agents with a $1 cap each on a $5 day; each really costs 2 cents. Today the 6th fails BudgetExceeded.
    held = await asyncio.gather(*(_agent(store, n, 0.02, 0.2) for n in range(8)))
    assert len(held) == 8 and all(h > 0.5 for h in held)
    assert await store.ledger.actual("U1", DAY) == pytest.approx(0.16)


async def test_what_remains_is_reserved_and_a_spent_day_fails_at_once(store: Store) -> None:
    await store.ledger.reserve("U1", DAY, "a", amount_usd=1.0, daily_cap_usd=5.0, agent_kind="executor")
    await store.ledger.settle("U1", "a", actual_usd=4.5)
    assert await store.ledger.reserve("U1", DAY, "b", amount_usd=1.0, daily_cap_usd=5.0,
                                      agent_kind="executor") == pytest.approx(0.5)
    await store.ledger.settle("U1", "b", actual_usd=0.47)
    started = asyncio.get_running_loop().time()
    with pytest.raises(BudgetExceeded, match="spent"):
        await store.ledger.reserve("U1", DAY, "c", amount_usd=1.0, daily_cap_usd=5.0, agent_kind="executor")
    assert asyncio.get_running_loop().time() - started < 1.0  # really spent: no waiting
    # Other users and other days are untouched.
    assert await store.ledger.reserve("U2", DAY, "d", amount_usd=1.0, daily_cap_usd=5.0, agent_kind="x") == 1.0


async def test_a_dead_agents_hold_counts_as_spent_after_its_lease(store: Store) -> None:
    await store.ledger.reserve("U1", DAY, "dead", amount_usd=1.0, daily_cap_usd=1.0, agent_kind="executor")
    later = LedgerRepository(store.db, clock=lambda: datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(BudgetExceeded):
        await later.reserve("U1", DAY, "next", amount_usd=1.0, daily_cap_usd=1.0, agent_kind="executor")
    # Within the lease it is a running agent's hold: the next agent waits (here: a short bounded wait).
    with pytest.raises(BudgetExceeded, match="did not settle"):
        await store.ledger.reserve("U1", DAY, "next", amount_usd=1.0, daily_cap_usd=1.0, agent_kind="executor",
                                   wait_seconds=0.2, poll_seconds=0.05)


async def test_prevalidation_uses_the_same_rule(store: Store) -> None:
    acts = ShiftActivities(store, ScriptedAgents(), RecordingNotifier(), daily_budget_usd=5.0, agent_budget_usd=1.0)
    tasks = [TaskState(task_id="t1", short_id="t1", description="do it", capabilities=["files"])]
    for n in range(5):  # five running agents hold the whole day, but nothing is spent yet
        await store.ledger.reserve("U1", DAY, f"run{n}", amount_usd=1.0, daily_cap_usd=5.0, agent_kind="executor")
    [ok] = await acts.validate_tasks(ValidateInput(user_id="U1", day=DAY, tasks=tasks))
    assert ok.ok, ok.reason
    for n in range(5):
        await store.ledger.settle("U1", f"run{n}", actual_usd=0.999)
    [spent] = await acts.validate_tasks(ValidateInput(user_id="U1", day=DAY, tasks=tasks))
    assert not spent.ok and "spent" in (spent.reason or "")


async def test_every_agent_run_gets_its_own_ledger_row(store: Store, tmp_path: Path) -> None:
    """A retried plan (same ledger key) used to return early from reserve and overwrite the first cost."""
    runtime = ClaudeAgentRuntime(store, AgentConfig(data_dir=tmp_path, agent_budget_usd=1.0, daily_budget_usd=5.0))
    costs = iter([0.03, 0.05])
    caps: list[float | None] = []

    async def session(options: ClaudeAgentOptions, prompt: str, monitor: object) -> RunOutcome:
        caps.append(options.max_budget_usd)
        result = ResultMessage(subtype="success", duration_ms=1, duration_api_ms=1, is_error=False, num_turns=1,
                               session_id="s", total_cost_usd=next(costs), usage={"input_tokens": 10})
        return RunOutcome(result=result, session_id="s", text="ok")

    runtime._session = session  # type: ignore[method-assign]
    ctx = AgentContext(store=store, user_id="U1", workflow_id="wf", day=DAY, agent_id="o", deadline="")
    for _ in range(2):  # the activity's retry runs the same step again with the same key
        await runtime._run(ctx, "plan:wf", "orchestrator", "p", ClaudeAgentOptions(max_budget_usd=1.0))
    assert await store.ledger.runs("U1", DAY) == 2
    assert await store.ledger.actual("U1", DAY) == pytest.approx(0.08)
    # With $0.40 left, the next run is capped at what remains.
    await store.ledger.reserve("U1", DAY, "big", amount_usd=1.0, daily_cap_usd=5.0, agent_kind="x")
    await store.ledger.settle("U1", "big", actual_usd=4.52)
    costs = iter([0.01])
    await runtime._run(ctx, "next:wf", "orchestrator", "p", ClaudeAgentOptions(max_budget_usd=1.0))
    assert caps[-1] == pytest.approx(0.40)
