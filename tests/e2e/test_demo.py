"""`dayshift demo --json` as a user runs it: embedded Temporal dev server, real SDK + CLI, offline model."""

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


def test_demo_json_runs_a_compressed_day(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    env |= {"DAYSHIFT_DATA_DIR": str(tmp_path / "data"), "DAYSHIFT_DEFAULT_TIMEZONE": "America/New_York"}
    proc = subprocess.run([str(BIN / "dayshift"), "demo", "--json", "--window-seconds", "15"], env=env,
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["user_id"] == "demo" and report["timezone"] == "America/New_York"
    assert 3 <= report["total_generated"] <= 8
    done = report["completed"]
    assert done and all(i["output"].startswith("Finished:") for i in done)
    assert report["cost_usd"] > 0 and report["next_steps"]
    assert abs(report["window_minutes"] - 0.25) < 0.01
    # Executors really ran through the CLI and left artifacts in their workspaces.
    artifacts = list((tmp_path / "data" / "workspaces" / "demo").rglob("artifact.md"))
    assert len(artifacts) >= len(done)
    assert "Temporal UI: http://127.0.0.1:" in proc.stderr
    # Nothing left running: no temporal server or claude CLI from this run survives.
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
