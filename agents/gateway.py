"""A loopback Messages gateway: agents get a per-run token, never the real Anthropic key.

Each agent run is issued its own random token (``dsgw-...``). The CLI sends it as its API key to
this gateway on 127.0.0.1; the gateway swaps in the real key and streams the upstream answer back
unchanged (SSE included). A token dies when its run ends. Bash inside the sandbox has no route to
loopback, and WebFetch refuses loopback addresses, so even a leaked token is useless. The gateway
also meters each run's tokens from the stream and refuses further calls past a run's token cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from typing import cast

import aiohttp
from aiohttp import web

from storage.redaction import forget_secret, register_secret

log = logging.getLogger(__name__)
TOKEN_PREFIX = "dsgw-"
_HOP = frozenset({"host", "x-api-key", "authorization", "content-length", "connection", "keep-alive",
                  "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "accept-encoding"})
_RESP_DROP = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"})


@dataclass
class RunUsage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    max_tokens: int | None = None

    @property
    def exhausted(self) -> bool:
        return self.max_tokens is not None and self.input_tokens + self.output_tokens >= self.max_tokens


class ModelGateway:
    def __init__(self, upstream: str, api_key: str | None, *, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port = 0
        self._api_key = api_key
        self._runs: dict[str, RunUsage] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> ModelGateway:
        async with self._lock:
            if self._runner is not None:
                return self
            app = web.Application(client_max_size=64 * 1024 * 1024)
            # Only the calls the CLI needs; anything else (models, files, batches...) is 404/405, never forwarded.
            app.router.add_post("/v1/messages", self._forward)
            app.router.add_post("/v1/messages/count_tokens", self._forward)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, self.host, 0)
            await site.start()
            server = cast(asyncio.Server | None, site._server)
            if server is not None and server.sockets:
                self.port = int(server.sockets[0].getsockname()[1])
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))
            self._runner = runner
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def issue(self, max_tokens: int | None = None) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        self._runs[token] = RunUsage(max_tokens=max_tokens)
        register_secret(token)
        return token

    def revoke(self, token: str) -> RunUsage | None:
        forget_secret(token)
        return self._runs.pop(token, None)

    def usage(self, token: str) -> RunUsage | None:
        return self._runs.get(token)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        presented = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer ").strip()
        run = self._runs.get(presented)
        if run is None:
            return _error(401, "authentication_error", "unknown or expired Dayshift agent token")
        if run.exhausted:
            return _error(400, "invalid_request_error", "this agent run used up its token budget")
        run.requests += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        body = await request.read()
        assert self._session is not None
        try:
            upstream = await self._session.request(request.method, self.upstream + request.rel_url.path_qs,
                                                   headers=headers, data=body)
        except aiohttp.ClientError as exc:
            return _error(502, "api_error", f"model upstream unreachable: {type(exc).__name__}")
        async with upstream:
            resp = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in _RESP_DROP})
            await resp.prepare(request)
            meter = _Meter(run)
            async for chunk in upstream.content.iter_any():
                meter.feed(chunk)
                await resp.write(chunk)
            meter.close()
            await resp.write_eof()
            return resp


class _Meter:
    """Reads ``usage`` from an SSE stream (or a JSON body) as it passes, without holding it all."""

    def __init__(self, run: RunUsage) -> None:
        self.run = run
        self.buffer = b""
        self.whole = b""
        self.sse = False

    def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.startswith(b"data:"):
                self.sse = True
                self._usage(line[5:])
            elif not self.sse and len(self.whole) < 4_000_000:
                self.whole += line + b"\n"

    def close(self) -> None:
        if not self.sse:
            self._usage(self.whole + self.buffer)

    def _usage(self, raw: bytes) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        usage = data.get("usage")
        if usage is None and isinstance(data.get("message"), dict):
            usage = data["message"].get("usage")
        if not isinstance(usage, dict):
            return
        kind = data.get("type")
        if kind == "message_delta":
            self.run.output_tokens += int(usage.get("output_tokens") or 0)
        elif kind == "message_start":
            self.run.input_tokens += int(usage.get("input_tokens") or 0)
        else:  # a whole (non-streamed) message
            self.run.input_tokens += int(usage.get("input_tokens") or 0)
            self.run.output_tokens += int(usage.get("output_tokens") or 0)


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}}, status=status)
