"""Findings of the containment security review, each pinned on its own (no CLI): URL parser differentials,
background Bash, file tools next to Bash, redacted progress notes, allowlisted names that resolve inside,
the gateway's routes, and the URL-password pattern. Real aiohttp servers and real SQLite; DNS answers are
faked (no DNS here) by replacing ``getaddrinfo``."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agents.egress import canonical_url, url_problem
from agents.gateway import ModelGateway
from agents.guard import WorkspaceGuard
from agents.profiles import FILE_TOOLS, allowed_tools, builtin_tools
from agents.sandbox import ContainmentPolicy, capability_problem
from agents.supervision import AgentMonitor
from agents.tools import AgentContext, executor_tools
from storage.redaction import MASK, redact, register_secret
from storage.store import Store

PUBLIC = "93.184.215.14"
ANSWERS = {"example.com": PUBLIC, "www.example.com": PUBLIC, "inner.example.com": "10.0.0.7"}


def _answer(host: str, port: Any) -> list[Any]:
    if host not in ANSWERS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ANSWERS[host], port))]


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_async(host: str, port: Any, **kw: Any) -> list[Any]:
        return _answer(host, port)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_async)
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **kw: _answer(host, port))


# Every URL here is one that a WHATWG parser (the CLI's WebFetch) and urlsplit may read differently, or
# that names loopback/private space in a form other than a dotted quad.
TRICKS = [
    "http://127.0.0.1:8233\\@example.com/",  # urlsplit: example.com; WHATWG: 127.0.0.1
    "http://127.0.0.1:8233\\@www.example.com/x",
    "http://example.com\\@127.0.0.1/",
    "http://user@example.com/", "http://127.0.0.1:8233@example.com/", "http://a:b@example.com/",
    "http://example.com /", "http://exa mple.com/", " http://example.com/", "http://example.com/\n",
    "http://example.com\t/", "http://example.com/\x00", "http://exämple.com/", "http://%65xample.com/",
    "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://0x7f000001/", "http://127.1/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::1]/", "http://[::]/", "http://0.0.0.0/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/", "http://[fe80::1%25eth0]/",
    "http://localhost./", "http://example.com./", "http://www.example.com./", "http://localhost/",
    "http://foo.localhost/", "ftp://example.com/", "javascript:alert(1)", "http:/example.com/",
    "http:example.com", "//example.com/", "http://example.com:99999/", "http://example.com:8o/",
    "http://example.com:/", "http://-example.com/", "http://example.com:80:80/", "HTTP://127.0.0.1/",
]


async def test_egress_refuses_every_url_two_parsers_could_read_differently(dns: None) -> None:
    allowed = ("example.com", "127.0.0.1")  # even if the allowlist named loopback
    for url in TRICKS:
        assert await url_problem(url, allowed) is not None, url
    assert "backslash" in (await url_problem(TRICKS[0], allowed) or "")
    assert await url_problem("https://example.com/a/b?q=1&r=%20x#frag", allowed) is None
    assert await url_problem("HTTPS://WWW.Example.COM:8443/p", allowed) is None
    assert "resolves to 10.0.0.7" in (await url_problem("https://inner.example.com/", allowed) or "")
    # What passes has one reading, and is handed on rebuilt in its canonical form.
    assert canonical_url("HTTPS://WWW.Example.COM:8443/p?x") == ("https://www.example.com:8443/p?x",
                                                                "www.example.com", 8443)
    assert canonical_url("http://[::ffff:127.0.0.1]/")[1] == "::ffff:7f00:1"


async def test_guard_refuses_background_bash_and_compute_tasks_get_no_in_process_file_tools(tmp_path: Path) -> None:
    guard = WorkspaceGuard(tmp_path, allowed_tools(["compute", "files"]))
    assert await guard.check("Bash", {"command": "ls"}) is None
    assert "run_in_background" in (await guard.check("Bash", {"command": "ln -sfn / l", "run_in_background": True})
                                   or "")
    for caps in (["compute", "files"], ["files", "compute"], ["research", "compute", "http"]):
        assert "Bash" in builtin_tools(caps) and not FILE_TOOLS & set(builtin_tools(caps)), caps
        assert not FILE_TOOLS & set(allowed_tools(caps)), caps
        assert "profile" in (await WorkspaceGuard(tmp_path, allowed_tools(caps)).check(
            "Read", {"file_path": "a.txt"}) or ""), caps
    assert builtin_tools(["files", "http"]) == ["Read", "Write", "Edit", "Glob", "Grep", "WebFetch"]


async def test_progress_notes_are_redacted_before_they_become_heartbeat_details(store: Store) -> None:
    secret = "xoxb-progress-" + uuid.uuid4().hex
    registered = "plain-registered-" + uuid.uuid4().hex
    register_secret(registered)
    beats: list[dict[str, Any]] = []
    progress: list[str | None] = []

    async def on_progress(percent: int, note: str | None) -> None:
        progress.append(note)

    mon = AgentMonitor(lambda d: beats.append(d), on_progress=on_progress)
    ctx = AgentContext(store=store, user_id="U1", workflow_id="wf", day="2026-11-28", agent_id="a",
                       deadline="2099-01-01T00:00:00+00:00", task_id="t1", monitor=mon)
    report = {t.name: t for t in executor_tools(ctx)}["report_progress"]
    await report.handler({"percent": 40, "note": f"found {secret} and {registered}"})
    await mon.progress(50, f"direct {registered}")  # a caller that forgot to redact
    mon.note = f"set behind its back {secret}"
    beats.append(mon.details())
    assert beats and progress
    for seen in [*map(str, beats), *map(str, progress)]:
        assert secret not in seen and registered not in seen, seen
    assert MASK in str(beats[0]["note"])


async def test_an_allowlisted_name_that_resolves_inside_is_refused_at_load_and_at_pre_validation(
        dns: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from bot.settings import Settings

    inner = ContainmentPolicy(http_allowed_domains=("example.com", "inner.example.com"))
    problem = await capability_problem(["http", "compute"], inner) or ""
    assert "http is unavailable" in problem and "inner.example.com resolves to 10.0.0.7" in problem
    assert "10.0.0.7" in (await capability_problem(["http"], inner) or "")
    assert await capability_problem(["http"], ContainmentPolicy(http_allowed_domains=("example.com",))) is None
    assert await capability_problem(["http"], ContainmentPolicy(http_allowed_domains=("nx.example.org",))) is None
    monkeypatch.setenv("DAYSHIFT_HTTP_ALLOWED_DOMAINS", "example.com,inner.example.com")
    with pytest.raises(ValidationError, match=r"inner\.example\.com resolves to 10\.0\.0\.7"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("DAYSHIFT_HTTP_ALLOWED_DOMAINS", "example.com")
    assert Settings(_env_file=None).http_allowed_domains == ("example.com",)  # type: ignore[call-arg]


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[tuple[str, str, str | None]]]]:
    """A stand-in Anthropic API that records every call the gateway forwards (and the key it carried)."""
    seen: list[tuple[str, str, str | None]] = []

    async def anything(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.get("x-api-key")))
        return web.json_response({"type": "message", "usage": {"input_tokens": 1, "output_tokens": 1}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", seen  # type: ignore[union-attr]
    await runner.cleanup()


async def test_gateway_forwards_only_the_messages_endpoints(
        upstream: tuple[str, list[tuple[str, str, str | None]]]) -> None:
    base, seen = upstream
    real = "sk-ant-api03-gateway-routes-" + uuid.uuid4().hex
    gateway = await ModelGateway(base, real).start()
    try:
        token = gateway.issue()
        auth = {"x-api-key": token}
        async with aiohttp.ClientSession() as http:
            statuses = {}
            for method, path in [("GET", "/v1/models"), ("POST", "/v1/files"), ("GET", "/v1/messages/batches"),
                                 ("POST", "/v1/messages/batches"), ("DELETE", "/v1/files/f1"), ("GET", "/"),
                                 ("GET", "/v1/messages"), ("PUT", "/v1/messages"), ("POST", "/v1/complete"),
                                 ("POST", "/v1/messages?beta=true"), ("POST", "/v1/messages/count_tokens")]:
                async with http.request(method, gateway.base_url + path, json={}, headers=auth) as r:
                    statuses[(method, path)] = r.status
        assert statuses.pop(("POST", "/v1/messages?beta=true")) == 200
        assert statuses.pop(("POST", "/v1/messages/count_tokens")) == 200
        assert statuses.pop(("GET", "/v1/messages")) == 405 and statuses.pop(("PUT", "/v1/messages")) == 405
        assert set(statuses.values()) == {404}, statuses
        assert seen == [("POST", "/v1/messages", real), ("POST", "/v1/messages/count_tokens", real)]
    finally:
        await gateway.stop()


def test_url_password_pattern_masks_real_userinfo_only() -> None:
    assert redact("postgresql://dayshift:pg-secret-pw@db/dayshift") == f"postgresql://dayshift:{MASK}@db/dayshift"
    assert "hunter2xyz" not in redact("see https://bob:hunter2xyz@git.example.com/repo")
    for kept in ("WebFetch http://127.0.0.1:8233\\@example.com/ was refused",
                 "http://127.0.0.1:8233/path?next=a@b.c", "http://example.com:443/#x:y@z"):
        assert redact(kept) == kept, redact(kept)
