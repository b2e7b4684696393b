"""Determinism guard: recorded histories of the day's scenarios replay against the current code.

``histories/*.json`` are recorded with today's code paths (they carry every patch marker); the folders
``histories/before-<patch>/`` keep days recorded before a patch, so the old branch of each patch keeps replaying
(a day started before a deploy finishes on the new code the way it began).

Set RECORD_WORKFLOW_HISTORIES=1 while running the time-skipping tests to refresh the recordings in
``histories/`` (do so only for an intended change of the workflow, and keep the ``before-*`` folders).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.daily_shift import HARD_DEADLINE, LEAN_TASKS
from workflows.worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
# Every workflow.patched(...) id in the workflow code, with the folder of days recorded before it.
PATCHES = {"checkpoint-beside-the-day": "before-hard-deadline", HARD_DEADLINE: "before-hard-deadline",
           LEAN_TASKS: "before-lean-tasks"}


def replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


async def replay_and_maybe_record(handle: WorkflowHandle) -> None:  # type: ignore[type-arg]
    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_WORKFLOW_HISTORIES"):
        test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split("::")[-1].split(" ")[0]
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{re.sub(r'[^a-z0-9_]', '_', test)}.json").write_text(history.to_json())


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def patch_markers(history: WorkflowHistory) -> set[str]:
    found = set()
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            attrs = event.marker_recorded_event_attributes
            for payload in attrs.details["patch-data"].payloads if attrs.marker_name == "core_patch" else []:
                found.add(json.loads(payload.data)["id"])
    return found


CURRENT = sorted(HISTORIES.glob("*.json"))
RECORDED = sorted(HISTORIES.glob("**/*.json"))


@pytest.mark.skipif(not RECORDED, reason="no recorded histories")
@pytest.mark.parametrize("path", RECORDED, ids=[str(p.relative_to(HISTORIES).with_suffix("")) for p in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@pytest.mark.parametrize("patch", sorted(PATCHES))
async def test_both_branches_of_each_patch_replay(patch: str) -> None:
    """Each patch has recorded days on both sides of it, and they all replay (the test above)."""
    after = [p for p in CURRENT if patch in patch_markers(load(p))]
    before = sorted((HISTORIES / PATCHES[patch]).glob("*.json"))
    assert len(after) >= 5, f"too few current recordings take the new branch of {patch}"
    if patch in (HARD_DEADLINE, LEAN_TASKS):  # decided at the start of every day (the other at a checkpoint)
        assert len(after) == len(CURRENT)
    assert before and not any(patch in patch_markers(load(p)) for p in before)
    for path in after[:2] + before[:2]:
        result = await replayer().replay_workflow(load(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_every_patch_in_the_code_is_listed_here() -> None:
    source = (Path(__file__).parents[2] / "workflows" / "daily_shift.py").read_text()
    used = set(re.findall(r'workflow\.patched\("([^"]+)"\)', source)) | {HARD_DEADLINE, LEAN_TASKS}
    assert used == set(PATCHES)
