"""Dayshift's ``http_request`` tool (issue 13 item 3), called as the executor's MCP tool is called.

A real aiohttp server on loopback plays the partner API. The tool is built from the settings exactly as the
composition root builds it; only its resolver is replaced, mapping the allowlisted test names to that server
(the checked address is a public one, the connection goes to loopback) and other names to 127.0.0.1 or the
metadata address, which must be refused.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agents.egress import blocked_address
from agents.http_tool import HttpTool, Resolved, system_resolver
from agents.tools import AgentContext, executor_tools
from bot.services import http_tool_or_exit
from bot.settings import Settings
from storage.redaction import forget_secret
from storage.store import Store

TOKEN = "tok-" + uuid.uuid4().hex
PUBLIC = "93.184.215.14"


class Partner:
    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application()

        async def data(request: web.Request) -> web.Response:
            self.seen.append(dict(request.headers))
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": "unauthorised"}, status=401)
            return web.json_response({"items": [1, 2, 3]})

        async def echo(request: web.Request) -> web.Response:
            return web.Response(text=f"you sent {request.headers.get('Authorization')}")

        async def items(request: web.Request) -> web.Response:
            return web.json_response({"created": await request.json()}, status=201)

        async def to(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://{request.match_info['host']}:{self.port}/data")

        async def big(request: web.Request) -> web.Response:
            return web.Response(text="x" * 50_000)

        app.router.add_get("/data", data)
        app.router.add_get("/echo", echo)
        app.router.add_post("/items", items)
        app.router.add_get("/to/{host}", to)
        app.router.add_get("/big", big)
        return app


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    p = Partner()
    runner = web.AppRunner(p.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    p.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield p
    await runner.cleanup()


async def mapped_resolver(host: str, port: int) -> list[Resolved]:
    table = {"api.partner.test": [(PUBLIC, "127.0.0.1")], "other.partner.test": [(PUBLIC, "127.0.0.1")],
             "evil.example.org": [(PUBLIC, "127.0.0.1")],
             "loop.partner.test": [("127.0.0.1", "127.0.0.1")],
             "meta.partner.test": [(PUBLIC, "127.0.0.1"), ("169.254.169.254", "169.254.169.254")]}
    if host not in table:
        raise OSError(f"no such host {host}")
    return table[host]


@pytest.fixture
def tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[HttpTool]:
    monkeypatch.setenv("DAYSHIFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAYSHIFT_HTTP_ALLOWED_DOMAINS", "partner.test")
    monkeypatch.setenv("DAYSHIFT_HTTP_CREDENTIALS", json.dumps({"api.partner.test":
                                                                    {"Authorization": f"Bearer {TOKEN}"}}))
    monkeypatch.setenv("DAYSHIFT_HTTP_MAX_RESPONSE_BYTES", "10000")
    built = http_tool_or_exit(Settings())
    assert built is not None
    built.resolver = mapped_resolver
    yield built  # type: ignore[misc]
    forget_secret(f"Bearer {TOKEN}")
    forget_secret(TOKEN)


async def call(store: Store, tool: HttpTool, **args: Any) -> tuple[str, bool]:
    """The executor's http_request tool, as the CLI calls it: returns (what the model reads, is_error)."""
    ctx = AgentContext(store=store, user_id="U1", workflow_id="w", day="2026-11-28", agent_id="executor-x",
                       deadline="", http=tool)
    [handler] = [t.handler for t in executor_tools(ctx) if t.name == "http_request"]
    out = await handler(args)
    return out["content"][0]["text"], bool(out.get("is_error"))


async def test_allowlisted_host_gets_its_credential_which_the_model_and_logs_never_see(
        partner: Partner, tool: HttpTool, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen, error = await call(store, tool, method="GET", url=f"http://api.partner.test:{partner.port}/data")
    assert not error and json.loads(seen)["status"] == 200 and json.loads(json.loads(seen)["body"]) == {
        "items": [1, 2, 3]}
    assert partner.seen[-1]["Authorization"] == f"Bearer {TOKEN}"
    # The model cannot set or read it: its own Authorization header is dropped, an echo comes back masked.
    seen, _ = await call(store, tool, method="GET", url=f"http://api.partner.test:{partner.port}/echo",
                         headers={"Authorization": "Bearer model-made"})
    assert TOKEN not in seen and "[REDACTED]" in seen
    # Another allowlisted host does not get api.partner.test's credential.
    seen, _ = await call(store, tool, method="GET", url=f"http://other.partner.test:{partner.port}/data")
    assert json.loads(seen)["status"] == 401 and "Authorization" not in partner.seen[-1]
    assert TOKEN not in caplog.text


async def test_json_post_and_the_response_cap(partner: Partner, tool: HttpTool, store: Store) -> None:
    seen, error = await call(store, tool, method="POST", url=f"http://api.partner.test:{partner.port}/items",
                             json={"title": "hello"})
    assert not error and json.loads(seen)["status"] == 201 and '"hello"' in json.loads(seen)["body"]
    seen, _ = await call(store, tool, method="GET", url=f"http://api.partner.test:{partner.port}/big")
    result = json.loads(seen)
    assert result["truncated"] is True and len(result["body"]) == 10_000


@pytest.mark.parametrize(("url", "words"), [
    ("http://evil.example.org:{port}/data", "evil.example.org is not on the allowed domains (partner.test)"),
    ("http://api.partner.test:{port}/to/evil.example.org", "evil.example.org is not on the allowed domains"),
    ("http://api.partner.test:{port}/to/loop.partner.test", "resolves to 127.0.0.1"),
    ("http://loop.partner.test:{port}/data", "loop.partner.test resolves to 127.0.0.1"),
    ("http://meta.partner.test:{port}/data", "resolves to 169.254.169.254"),
    ("http://127.0.0.1:{port}/data", "not an address"),
    ("file:///etc/passwd", "only http(s) URLs"),
])
async def test_refused(partner: Partner, tool: HttpTool, store: Store, url: str, words: str) -> None:
    before = len(partner.seen)
    seen, error = await call(store, tool, method="GET", url=url.format(port=partner.port))
    assert error and words in seen
    assert len(partner.seen) == before  # nothing reached the server's /data


async def test_the_production_resolver_checks_what_the_system_resolves(store: Store) -> None:
    """No mapping: this machine's own name resolves (through /etc/hosts) to its private or loopback address."""
    host = socket.gethostname().lower()
    addresses = await system_resolver(host, 80)
    assert all(checked == connect for checked, connect in addresses)  # production never redirects a connection
    if not addresses or not all(blocked_address(ipaddress.ip_address(a)) for a, _ in addresses):
        pytest.skip(f"{host} resolves to a public address here")
    tool = HttpTool(allowed_domains=(host,))
    seen, error = await call(store, tool, method="GET", url=f"http://{host}/")
    assert error and f"{host} resolves to" in seen and "loopback, private or metadata" in seen


async def test_one_lookup_per_hop_so_a_rebinding_name_cannot_switch_address(partner: Partner, tool: HttpTool,
                                                                              store: Store) -> None:
    """A name that answers a public address first and the metadata address after: the connection uses the
    address that was checked (a second look-up by the HTTP client would have been the rebinding hole)."""
    answers = [[(PUBLIC, "127.0.0.1")], [("169.254.169.254", "169.254.169.254")]]
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> list[Resolved]:
        calls.append(host)
        return answers[min(len(calls) - 1, 1)]

    tool.resolver = rebinding
    seen, error = await call(store, tool, method="GET", url=f"http://api.partner.test:{partner.port}/data")
    assert not error and json.loads(seen)["status"] == 200 and calls == ["api.partner.test"]
