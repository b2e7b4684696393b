"""The workflow runner passes our own packages through the sandbox for speed (workflows/worker.py RUNNER). The
sandbox then no longer proxies what those modules import, so this reads the workflow code for the calls it would
have refused (unit, no server), and checks that the sandbox still refuses them in code it does import (real
time-skipping test server)."""

from __future__ import annotations

import ast
import random
import uuid
from datetime import datetime
from pathlib import Path

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows.worker import RUNNER

WORKFLOW_CODE = ["daily_shift.py", "scheduled_shift.py", "records.py", "report.py"]
# Calls that differ between a run and its replay; workflow code uses workflow.now(), workflow.uuid4(),
# workflow.random() and activities instead.
FORBIDDEN = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "random", "randint", "choice",
             "uuid4", "uuid1", "sleep", "open", "getenv"}


def _calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            if name in FORBIDDEN and owner not in ("workflow", "asyncio"):
                found.append(f"{path.name}:{node.lineno} {owner + '.' if owner else ''}{name}()")
    return found


def test_workflow_code_makes_no_non_deterministic_calls() -> None:
    root = Path(__file__).parents[2] / "workflows"
    assert [c for name in WORKFLOW_CODE for c in _calls(root / name)] == []


def test_the_check_above_sees_such_calls(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom datetime import datetime\nx = datetime.now()\ny = time.time()\n"
                   "from temporalio import workflow\nz = workflow.now()\n")
    assert _calls(bad) == ["bad.py:3 datetime.now()", "bad.py:4 time.time()"]


@workflow.defn
class PeekAtTheWorld:
    @workflow.run
    async def run(self) -> list[str]:
        caught = []
        for peek in (datetime.now, lambda: random.random(), lambda: open("/etc/hostname")):
            try:
                peek()
                caught.append("allowed")
            except Exception as err:
                caught.append(type(err).__name__)
        return caught


async def test_the_runner_still_refuses_non_deterministic_calls_in_sandboxed_code(ts_env: WorkflowEnvironment) -> None:
    q = f"sandbox-{uuid.uuid4().hex[:6]}"
    async with Worker(ts_env.client, task_queue=q, workflows=[PeekAtTheWorld], workflow_runner=RUNNER):
        caught = await ts_env.client.execute_workflow(PeekAtTheWorld.run, id=q, task_queue=q)
    assert caught == ["RestrictedWorkflowAccessError"] * 3
