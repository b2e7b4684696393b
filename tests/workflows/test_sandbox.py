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

# The modules whose code runs inside a workflow: the two workflows, the helpers they call and the models whose
# defaults and validators run there, and the interceptor. (workflows/activities.py is imported by the workflow
# too, for its input models and method names; its activity bodies never run in a workflow: the scan below
# checks its models' class bodies, not the ShiftActivities class.)
WORKFLOW_CODE = ["daily_shift.py", "scheduled_shift.py", "records.py", "report.py", "models.py", "events.py"]
ANY = frozenset({"*"})
# What differs between a run and its replay (workflow code uses workflow.now(), workflow.uuid4(),
# workflow.random() and activities instead), by module; "*": anything from it.
DENIED: dict[str, frozenset[str]] = {
    "time": ANY, "random": ANY, "secrets": ANY, "socket": ANY, "threading": ANY, "subprocess": ANY,
    "os": frozenset({"environ", "getenv", "urandom", "getpid", "times", "listdir", "stat"}),
    "uuid": frozenset({"uuid1", "uuid4"}),
    "datetime.datetime": frozenset({"now", "utcnow", "today", "fromtimestamp"}),
    "datetime.date": frozenset({"today", "fromtimestamp"}),
}
DENIED_BUILTINS = {"open", "input"}


def _denied(qualified: str, attr: str | None = None) -> bool:
    if attr is None:  # a name imported from a module: ``from time import time``
        module, _, attr = qualified.rpartition(".")
        return module in DENIED and (DENIED[module] is ANY or attr in DENIED[module])
    if qualified in DENIED:
        return DENIED[qualified] is ANY or attr in DENIED[qualified]
    return False


def _findings(path: Path, only_classes: bool = False) -> list[str]:
    """References (not only calls) to denied names, through import aliases; ``global`` statements (module state
    that a run could change and its replay not see)."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for n in node.names:
                aliases[(n.asname or n.name).split(".")[0]] = n.name if n.asname else n.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for n in node.names:
                aliases[n.asname or n.name] = f"{node.module}.{n.name}"
    roots: list[ast.AST] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name != "ShiftActivities"] \
        if only_classes else [tree]
    found = []
    for root in roots:
        for node in ast.walk(root):
            hit = None
            if isinstance(node, ast.Attribute):
                parts, base = [node.attr], node.value
                while isinstance(base, ast.Attribute):  # datetime.datetime.now: resolve the whole chain
                    parts.insert(0, base.attr)
                    base = base.value
                if isinstance(base, ast.Name) and base.id in aliases:
                    owner = ".".join([aliases[base.id], *parts[:-1]])
                    if _denied(owner, node.attr):
                        hit = ".".join([base.id, *parts])
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in aliases and _denied(aliases[node.id]):
                    hit = node.id
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value in {a for v in DENIED.values() for a in v}:
                hit = f"getattr(..., {node.args[1].value!r})"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DENIED_BUILTINS:
                hit = node.func.id
            elif isinstance(node, ast.Global):
                hit = f"global {', '.join(node.names)}"
            if hit:
                found.append(f"{path.name}:{node.lineno} {hit}")
    return found


def test_workflow_code_refers_to_nothing_non_deterministic() -> None:
    root = Path(__file__).parents[2] / "workflows"
    found = [f for name in WORKFLOW_CODE for f in _findings(root / name)]
    found += _findings(root / "activities.py", only_classes=True)
    assert found == []


def test_every_workflow_module_the_workflows_import_is_checked() -> None:
    root = Path(__file__).parents[2] / "workflows"
    imported = set()
    for name in ("daily_shift.py", "scheduled_shift.py"):
        for node in ast.walk(ast.parse((root / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workflows."):
                imported.add(node.module.split(".")[1] + ".py")  # type: ignore[union-attr]
    assert imported - {"activities.py"} <= set(WORKFLOW_CODE)


def test_the_check_above_sees_such_references(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import time\nimport os\nimport random as rnd\nfrom datetime import datetime as dt\n"
        "from time import time_ns as clock\nfrom pydantic import Field\nfrom temporalio import workflow\n"
        "a = dt.now()\nb = Field(default_factory=dt.utcnow)\nc = time.monotonic()\nd = clock()\n"
        "e = os.environ.get('X')\nf = rnd.uniform(0, 1)\ng = getattr(dt, 'now')()\nh = open('/etc/hostname')\n"
        "import datetime\ni = datetime.datetime.now()\n"
        "def bump():\n    global COUNT\n"
        "ok = workflow.now()\n")
    assert sorted(f.split(" ", 1)[1] for f in _findings(bad)) == sorted([
        "clock", "dt.now", "dt.utcnow", "time.monotonic", "os.environ", "rnd.uniform", "getattr(..., 'now')",
        "open", "datetime.datetime.now", "global COUNT"])


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
