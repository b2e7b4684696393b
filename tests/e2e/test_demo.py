"""`dayshift demo --json` as a user runs it: embedded Temporal dev server, real SDK + CLI, offline model.
The compressed day tells the story: planned work completes, a failing task is retried and escalated (and the
demo answers it), a task is added mid-window, and a long one is still running at the deadline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.devserver, pytest.mark.cli]
BIN = Path(sys.executable).parent


def test_demo_json_tells_the_story_of_a_day(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    env |= {"DAYSHIFT_DATA_DIR": str(tmp_path / "data"), "DAYSHIFT_DEFAULT_TIMEZONE": "America/New_York"}
    proc = subprocess.run([str(BIN / "dayshift"), "demo", "--json", "--window-seconds", "40"], env=env,
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # stdout is the report alone: no Temporal Core log line in front of it
    assert report["user_id"] == "demo" and report["timezone"] == "America/New_York"
    assert abs(report["window_minutes"] - 40 / 60) < 0.01
    assert report["model_label"] and "offline model" in report["model_label"]
    # completed work, by the planner and by the user who added a task mid-window
    done = report["completed"]
    assert done and all(i["output"].startswith(("Finished:", "Wrapped up early")) for i in done)
    assert any(i["generated_by"] == "orchestrator" for i in done)
    everything = [i for k in ("completed", "in_progress", "failed", "not_started") for i in report[k]]
    added = [i for i in everything if i["description"].startswith("Summarise this morning's support tickets")]
    assert len(added) == 1 and added[0]["generated_by"] == "user"
    assert "mid-window" in proc.stderr and "/dayshift add" in proc.stderr
    # failed, retried with backoff (3 attempts), escalated, and answered by the demo
    flaky = next(i for i in report["failed"] if i["description"].startswith("Sync the team calendar"))
    assert flaky["attempts"] == 3 and "529" in flaky["reason"] and flaky["resolution"] == "skipped by you"
    assert "escalated to you" in proc.stderr and "demo answered the escalation" in proc.stderr
    # still running at the deadline, reported with its %
    long_one = next(i for i in report["in_progress"] if i["description"].startswith("Migrate the old wiki pages"))
    assert 0 < long_one["progress"] < 100
    assert "checkpoint" in proc.stderr and "orchestrator review" in proc.stderr
    assert "[[offline:" not in proc.stdout  # stage directives are not shown
    assert report["cost_usd"] > 0 and report["next_steps"]
    artifacts = list((tmp_path / "data" / "workspaces" / "demo").rglob("artifact.md"))
    assert len(artifacts) >= len(done)
    assert "Temporal UI: http://127.0.0.1:" in proc.stderr
    # Nothing left running: no temporal server or claude CLI from this run survives.
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
