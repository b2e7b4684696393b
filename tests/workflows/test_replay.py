"""Determinism guard: recorded histories of the day's scenarios replay against the current code.

Set RECORD_WORKFLOW_HISTORIES=1 while running the time-skipping tests to refresh the recordings in
``tests/workflows/histories/`` (do so only for an intended, versioned change of the workflow).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


def replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


async def replay_and_maybe_record(handle: WorkflowHandle) -> None:  # type: ignore[type-arg]
    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_WORKFLOW_HISTORIES"):
        test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split("::")[-1].split(" ")[0]
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{re.sub(r'[^a-z0-9_]', '_', test)}.json").write_text(history.to_json())


RECORDED = sorted(HISTORIES.glob("*.json"))


@pytest.mark.skipif(not RECORDED, reason="no recorded histories")
@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
