"""An Anthropic-Messages-compatible HTTP server (SSE streaming, tool_use) on loopback.

Start it in-process (``async with OfflineModel() as model: model.base_url``) or standalone with
``python -m agents.offline``. Every request is counted in ``requests`` for tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

from aiohttp import web

from agents.offline.conversation import Conversation
from agents.offline.roles import respond, tool_results, usage_for
from agents.offline.sse import message_body, sse_events

log = logging.getLogger(__name__)


class OfflineModel:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, executor_step_delay: float = 0.0) -> None:
        """``executor_step_delay`` paces executors (seconds per turn) so a compressed demo day looks like work."""
        self.host = host
        self.port = port
        self.executor_step_delay = executor_step_delay
        self.requests: list[dict[str, Any]] = []
        self.tool_results: dict[str, dict[str, Any]] = {}  # tool_use id -> what the CLI returned to the model
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/health", self._health)
        app.router.add_route("*", "/{tail:.*}", self._other)
        return app

    async def start(self) -> OfflineModel:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = cast(asyncio.Server | None, site._server)
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OfflineModel:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _other(self, request: web.Request) -> web.Response:
        return web.json_response({"type": "error", "error": {"type": "not_found_error",
                                                             "message": f"offline model has no {request.path}"}},
                                 status=404)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"input_tokens": max(1, len(json.dumps(body)) // 4)})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid_request_error", "body is not JSON")
        conv = Conversation.parse(body)
        self.requests.append({"role": conv.role, "turn": conv.turn, "model": conv.model, "tools": conv.tools,
                              "prompt": conv.prompt[-2000:], "prompt_chars": len(conv.prompt),
                              "body_bytes": request.content_length or 0,
                              "api_key": request.headers.get("x-api-key"), "stream": bool(body.get("stream")),
                              "messages_tail": json.dumps(conv.messages)[-3000:]})
        for result in tool_results(conv.messages):
            self.tool_results.setdefault(result["id"], result)
        turn = respond(conv)
        if conv.role == "execute":
            turn.delay = max(turn.delay, self.executor_step_delay)
        if turn.delay:
            await asyncio.sleep(turn.delay)
        if turn.error is not None:
            status, kind, message = turn.error
            return _error(status, kind, message)
        out = message_body(conv.model, turn.content, turn.stop_reason, usage_for(conv, turn))
        if not body.get("stream"):
            return web.json_response(out)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for event in sse_events(out):
            await resp.write(event)
        await resp.write_eof()
        return resp


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}}, status=status)
