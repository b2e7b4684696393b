"""`dayshift run` / `dayshift worker` as an operator starts them (real subprocesses, the real Bolt client, the
fake Slack in tests/fakes/slack.py, the embedded Temporal dev server): no silent offline model, a refused
token ends the process at once, and SIGTERM stops it within 10 s even in the Slack connect loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.fakes.slack import FakeSlack

BIN = Path(sys.executable).parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYSHIFT_", "SLACK_", "ANTHROPIC_", "TEMPORAL_"))}
    return env | {"DAYSHIFT_DATA_DIR": str(tmp_path / "data"), "DAYSHIFT_TEMPORAL_UI_PORT": "0",
                  "DAYSHIFT_WEB_PORT": "0"} | extra


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _spawn(tmp_path: Path, command: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(str(BIN / "dayshift"), command, env=env, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


def _children(tmp_path: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]


@pytest.mark.parametrize("command", ["run", "worker"])
async def test_no_model_configured_exits_before_connecting(tmp_path: Path, command: str) -> None:
    slack = await FakeSlack().start()
    try:
        env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-no-model-1", SLACK_APP_TOKEN="xapp-1-no-model",
                   SLACK_API_URL=slack.api_url, TEMPORAL_ADDRESS=f"127.0.0.1:{_closed_port()}")
        if command == "run":
            del env["TEMPORAL_ADDRESS"]  # run would start its embedded server: it must not get that far
        started = time.monotonic()
        proc = await _spawn(tmp_path, command, env)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 2
        assert time.monotonic() - started < 15
        message = err.decode()
        for needle in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "DAYSHIFT_MODEL=offline"):
            assert needle in message
        assert slack.calls == [] and slack.connections == 0  # nothing was contacted
        assert not (tmp_path / "data" / "dayshift.db").exists()
        assert _children(tmp_path) == []
    finally:
        await slack.stop()


@pytest.mark.parametrize(("variable", "bad"), [("SLACK_BOT_TOKEN", "not-a-bot-token"),
                                                ("SLACK_APP_TOKEN", "not-an-app-token")])
async def test_bad_token_exits_at_once_naming_the_variable(tmp_path: Path, variable: str, bad: str) -> None:
    slack = await FakeSlack().start()  # answers invalid_auth to tokens of the wrong kind, as Slack does
    try:
        env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-good-1", SLACK_APP_TOKEN="xapp-1-good", SLACK_API_URL=slack.api_url,
                   DAYSHIFT_MODEL="offline") | {variable: bad}
        started = time.monotonic()
        proc = await _spawn(tmp_path, "run", env)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode not in (0, None)
        assert time.monotonic() - started < 20  # process start-up included (imports on a loaded machine)
        assert f"Slack rejected {variable} (invalid_auth)" in err.decode()
        assert bad not in err.decode()
        assert slack.connections == 0
        assert _children(tmp_path) == []  # no Temporal server was started for nothing
    finally:
        await slack.stop()


@pytest.mark.serial  # asserts a stop within 10 s: run alone
@pytest.mark.devserver
async def test_sigterm_in_the_slack_connect_loop_stops_within_10s(tmp_path: Path) -> None:
    """Slack unreachable (nothing listens on SLACK_API_URL): the bot retries with backoff, each retry a warning,
    with its worker already serving days; SIGTERM then ends it cleanly in under 10 s."""
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-unreachable-1", SLACK_APP_TOKEN="xapp-1-unreachable",
               SLACK_API_URL=f"http://127.0.0.1:{_closed_port()}/api/", DAYSHIFT_MODEL="offline")
    proc = await _spawn(tmp_path, "run", env)
    lines: list[dict[str, object]] = []
    try:
        async def read_until_retries(n: int) -> None:
            assert proc.stderr is not None
            while sum(1 for line in lines if line.get("event") == "slack_retry") < n:
                raw = await proc.stderr.readline()
                assert raw, "dayshift run ended early"
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue

        await asyncio.wait_for(read_until_retries(2), timeout=120)
        retries = [line for line in lines if line.get("event") == "slack_retry"]
        assert all(line["level"] == "WARNING" for line in retries)
        assert float(retries[1]["in_seconds"]) > float(retries[0]["in_seconds"])  # backoff
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("temporal" in " ".join(c.cmdline()) for c in children)  # days can run meanwhile
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=30)
        assert time.monotonic() - started < 10
        assert code == 0
        await asyncio.sleep(0.5)
        assert [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.serial  # asserts a stop within 10 s: run alone
@pytest.mark.devserver
async def test_sigterm_during_startup_stops_within_10s(tmp_path: Path) -> None:
    slack = await FakeSlack().start()
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-startup-1", SLACK_APP_TOKEN="xapp-1-startup",
               SLACK_API_URL=slack.api_url, DAYSHIFT_MODEL="offline")
    proc = await _spawn(tmp_path, "run", env)
    try:
        await slack.wait_for(lambda: slack.called("auth.test"), timeout=30)  # past settings, into start-up

        def temporal_spawned() -> bool:
            with contextlib.suppress(psutil.Error):
                return any("temporal" in " ".join(c.cmdline()) for c in psutil.Process(proc.pid).children())
            return False

        await slack.wait_for(temporal_spawned, timeout=30)  # the embedded server is starting
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=30)
        assert time.monotonic() - started < 10 and code == 0
        await asyncio.sleep(0.5)
        assert [p for p in _children(tmp_path) if p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await slack.stop()


@pytest.mark.serial  # asserts a stop within 10 s: run alone
@pytest.mark.devserver
@pytest.mark.cli
async def test_sigterm_while_agents_run_stops_within_10s(tmp_path: Path) -> None:
    """Mid-day: executors (claude CLI processes) are working; SIGTERM still ends everything in under 10 s."""
    slack = await FakeSlack().start()
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-running-1", SLACK_APP_TOKEN="xapp-1-running",
               SLACK_API_URL=slack.api_url, DAYSHIFT_MODEL="offline", DAYSHIFT_WINDOW_SECONDS="120",
               DAYSHIFT_CHECKPOINT_SECONDS="30", DAYSHIFT_WARNING_SECONDS="10")
    proc = await _spawn(tmp_path, "run", env)
    try:
        await slack.wait_connected(timeout=90)
        await slack.wait_ack(await slack.send("slash_commands", slack.command("URUN", "add Long job [[offline:marathon "
                                                                                     "seconds=5]]")))
        await slack.wait_ack(await slack.send("slash_commands", slack.command("URUN", "run")))

        def executor_running() -> bool:
            with contextlib.suppress(psutil.Error):
                return any("claude" in " ".join(c.cmdline()) and "[[" not in " ".join(c.cmdline())
                           for c in psutil.Process(proc.pid).children(recursive=True))
            return False

        await slack.wait_for(executor_running, timeout=60)
        await asyncio.sleep(2)
        children = psutil.Process(proc.pid).children(recursive=True)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=30)
        except TimeoutError:
            proc.kill()
            _, err = await proc.communicate()
            raise AssertionError(err.decode()[-6000:]) from None
        _, err = await proc.communicate()
        print("stopped in", round(time.monotonic() - started, 2), "forced" if b"forced_stop" in err else "clean")
        assert time.monotonic() - started < 10 and code == 0
        await asyncio.sleep(1)
        assert [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await slack.stop()
