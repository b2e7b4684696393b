"""A local fake Slack (a fake, for end-to-end tests of the real Bolt socket-mode client).

One aiohttp app on 127.0.0.1:<ephemeral>: the Web API under /api/{method}, the socket-mode websocket at
/link (sends ``hello``, pushes envelopes, records acks), and response_url endpoints under /response/.
Failures can be queued per method (e.g. a 429 with Retry-After, or a 500), including the nasty one: Slack
accepts a post, then answers 500 (``accept_then_fail``). Posted messages are kept (``messages``) with their
metadata, and ``conversations.history`` / ``conversations.replies`` read them back as Slack does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web


class FakeSlack:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.responses: list[dict[str, Any]] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.ack_events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.sent_at: dict[str, float] = {}
        self.acked_at: dict[str, float] = {}
        self.failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any], str | None]]] = defaultdict(list)
        self.user_tz: dict[str, str] = {}
        self.messages: list[dict[str, Any]] = []
        self.accepted_then_failed: dict[str, list[str | None]] = defaultdict(list)
        self._last_ts = 0.0
        self._accept_status = 500
        self._ts = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._connected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.connections = 0
        self.files: dict[str, dict[str, Any]] = {}  # file_id -> name, content, shares (files.* API)
        self.fail_uploads = 0  # the next N uploads to an upload URL answer 500 and keep nothing

    # ---- lifecycle --------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/link", self._link)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_connected(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    # ---- Web API --------------------------------------------------------------------------------

    def fail_next(self, method: str, status: int, times: int = 1, retry_after: int | None = None,
                  matching: str | None = None) -> None:
        """The next ``times`` calls of ``method`` (whose params contain ``matching``, if given) fail."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}
        self.failures[method] += [(status, headers, body, matching)] * times

    def accept_then_fail(self, method: str, status: int = 500, times: int = 1, matching: str | None = None) -> None:
        """The next ``times`` calls of ``method`` take effect (the message is posted), then answer ``status``."""
        self.accepted_then_failed[method] += [matching] * times
        self._accept_status = status

    def top_level(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages that are not replies (thread parents and plain posts), oldest first."""
        return [m for m in self.messages if m["thread_ts"] in (None, m["ts"])
                and (channel is None or m["channel"] == channel)]

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["thread_ts"] == thread_ts and m["ts"] != thread_ts]

    def _next_ts(self) -> str:
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def called(self, method: str) -> list[dict[str, Any]]:
        return [params for m, params in self.calls if m == method]

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        auth = request.headers.get("Authorization", "")
        params: dict[str, Any] = dict(request.query)  # slack_sdk sends some POSTs' arguments in the query
        if request.method == "GET":
            pass
        elif request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update(dict(await request.post()))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        expected = "Bearer xapp-" if method == "apps.connections.open" else "Bearer xoxb-"
        if not auth.startswith(expected):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        queued = self.failures[method]
        text = json.dumps(params, ensure_ascii=False)
        hit = next((i for i, f in enumerate(queued) if f[3] is None or f[3] in text), None)
        if hit is not None:
            status, headers, body, _ = queued.pop(hit)
            self.calls.append((f"FAILED:{method}", params))
            return web.json_response(body, status=status, headers=headers)
        self.calls.append((method, params))
        answer = self._answer(method, params)
        late = self.accepted_then_failed[method]
        hit = next((i for i, m in enumerate(late) if m is None or m in text), None)
        if hit is not None:  # Slack did the work, but the caller never hears so
            late.pop(hit)
            self.calls.append((f"ACCEPTED-THEN-FAILED:{method}", params))
            return web.json_response({"ok": False, "error": "internal_error"},
                                     status=self._accept_status)
        return web.json_response(answer)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "dayshift",
                    "url": "https://fake.slack/"}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link?ticket={uuid.uuid4().hex}"}
        if method == "chat.postMessage":
            ts = self._next_ts()
            self.messages.append({"channel": params.get("channel"), "ts": ts, "thread_ts": params.get("thread_ts"),
                                  "text": params.get("text"), "blocks": params.get("blocks"),
                                  "metadata": _json(params.get("metadata")), "user": "UBOT"})
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts}}
        if method == "files.getUploadURLExternal":
            if not params.get("filename") or not str(params.get("length", "")).isdigit():
                return {"ok": False, "error": "invalid_arguments"}
            file_id = "F" + uuid.uuid4().hex[:10].upper()
            self.files[file_id] = {"name": params["filename"], "length": int(params["length"]), "content": None,
                                   "shares": []}
            return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            wanted = _json(params.get("files")) or []
            found = [self.files.get(str(f.get("id"))) for f in wanted]
            if not wanted or any(f is None or f["content"] is None for f in found):
                return {"ok": False, "error": "file_not_found"}
            channel, thread_ts = params.get("channel_id"), params.get("thread_ts")
            ts = self._next_ts()
            shared = [{"id": f["id"], "name": self.files[f["id"]]["name"], "title": f.get("title")} for f in wanted]
            for f in wanted:
                self.files[f["id"]]["shares"].append({"channel_id": channel, "thread_ts": thread_ts, "ts": ts})
            if channel:  # Slack shares the files as a message of their own (in the thread, with thread_ts)
                self.messages.append({"channel": channel, "ts": ts, "thread_ts": thread_ts, "text": "",
                                      "blocks": None, "metadata": None, "user": "UBOT", "files": shared})
            return {"ok": True, "files": shared}
        if method == "chat.update":
            ts = params.get("ts")
            for m in self.messages:
                if m["channel"] == params.get("channel") and m["ts"] == ts:
                    m.update({k: params[k] for k in ("text", "blocks") if k in params})
                    if params.get("metadata"):
                        m["metadata"] = _json(params["metadata"])
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"text": params.get("text"), "ts": ts}}
        if method in ("conversations.history", "conversations.replies"):
            oldest = float(params.get("oldest") or 0)
            with_meta = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            if method == "conversations.history":
                found = [m for m in self.top_level(str(params.get("channel"))) if float(m["ts"]) > oldest][::-1]
            else:
                parent = str(params.get("ts"))
                found = [m for m in self.messages if m["channel"] == params.get("channel")
                         and (m["ts"] == parent or (m["thread_ts"] == parent and float(m["ts"]) > oldest))]
            return {"ok": True, "has_more": False, "messages": [
                {"type": "message", "user": m["user"], "text": m["text"], "ts": m["ts"],
                 **({"thread_ts": m["thread_ts"]} if m["thread_ts"] else {}),
                 **({"files": m["files"]} if m.get("files") else {}),
                 **({"metadata": m["metadata"]} if with_meta and m["metadata"] else {})} for m in found]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(params.get("users", "X"))[1:]}}
        if method in ("views.publish", "views.open", "views.update"):
            return {"ok": True, "view": {"id": "V" + uuid.uuid4().hex[:8], "hash": "h1"}}
        if method == "users.info":
            user = str(params.get("user"))
            return {"ok": True, "user": {"id": user, "tz": self.user_tz.get(user, "America/Chicago")}}
        if method == "chat.getPermalink":
            return {"ok": True, "permalink": f"https://fake.slack/archives/{params.get('channel')}/p"
                                             f"{str(params.get('message_ts')).replace('.', '')}"}
        return {"ok": True}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL files.getUploadURLExternal hands out (files.slack.com/upload/v1/... in Slack)."""
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="unknown upload url")
        if self.fail_uploads:
            self.fail_uploads -= 1
            return web.Response(status=500, text="upload failed")
        body = await request.read()  # slack_sdk posts the raw bytes
        file["content"] = body
        return web.Response(status=200, text=f"OK - {len(body)}")

    def thread_files(self, thread_ts: str) -> list[dict[str, Any]]:
        """The files shared into a thread (with their bytes), in the order they were shared."""
        return [{**self.files[f["id"]], "id": f["id"], "ts": m["ts"], "channel": m["channel"]}
                for m in self.replies(thread_ts) for f in m.get("files") or []]

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append({"rid": request.match_info["rid"], **(await request.json())})
        return web.json_response({"ok": True})

    # ---- socket mode ------------------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._ws = ws
        self.connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                            "connection_info": {"app_id": "A1"}})
        self._connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                if "envelope_id" in data:
                    self.acked_at[data["envelope_id"]] = asyncio.get_running_loop().time()
                    self.acks[data["envelope_id"]] = data
                    self.ack_events[data["envelope_id"]].set()
        return ws

    async def send(self, kind: str, payload: dict[str, Any], *, envelope_id: str | None = None,
                   **extra: Any) -> str:
        assert self._ws is not None, "no socket-mode client connected"
        eid = envelope_id or uuid.uuid4().hex
        self.sent_at[eid] = asyncio.get_running_loop().time()
        await self._ws.send_json({"envelope_id": eid, "type": kind, "payload": payload,
                                  "accepts_response_payload": kind != "events_api", **extra})
        return eid

    async def send_raw(self, text: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(text)

    async def wait_ack(self, eid: str, timeout: float = 3.0) -> dict[str, Any]:
        """Slack's rule: an ack later than 3 s is lost."""
        await asyncio.wait_for(self.ack_events[eid].wait(), timeout)
        return self.acks[eid]

    async def wait_for(self, predicate, timeout: float = 10.0) -> Any:  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            found = predicate()
            if found:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError("condition not met in time")

    # ---- payloads -----------------------------------------------------------------------------------

    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/{uuid.uuid4().hex[:8]}"

    def command(self, user: str, text: str) -> dict[str, Any]:
        return {"token": "x", "team_id": "T1", "team_domain": "t", "channel_id": "C1", "channel_name": "general",
                "user_id": user, "user_name": user.lower(), "command": "/dayshift", "text": text,
                "api_app_id": "A1", "response_url": self.response_url(), "trigger_id": f"trig-{uuid.uuid4().hex[:6]}"}

    def message_action(self, user: str, text: str, ts: str = "1700000000.000001") -> dict[str, Any]:
        return {"type": "message_action", "callback_id": "add_as_task", "trigger_id": "trig-1", "token": "x",
                "action_ts": "1700000001.1", "team": {"id": "T1", "domain": "t"}, "user": {"id": user, "name": user},
                "channel": {"id": "C1", "name": "general"}, "message": {"type": "message", "text": text, "ts": ts,
                                                                        "user": "U0THER"},
                "response_url": self.response_url(), "api_app_id": "A1"}

    def block_action(self, user: str, action_id: str, value: str) -> dict[str, Any]:
        return {"type": "block_actions", "user": {"id": user, "username": user, "team_id": "T1"},
                "api_app_id": "A1", "token": "x", "container": {"type": "message", "message_ts": "1.1",
                                                                "channel_id": "D1", "is_ephemeral": False},
                "trigger_id": "trig-2", "team": {"id": "T1", "domain": "t"}, "channel": {"id": "D1", "name": "dm"},
                "response_url": self.response_url(),
                "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                             "action_ts": "1700000002.1", "text": {"type": "plain_text", "text": action_id}}]}

    def view_submission(self, user: str, values: dict[str, Any]) -> dict[str, Any]:
        return {"type": "view_submission", "team": {"id": "T1", "domain": "t"}, "user": {"id": user, "team_id": "T1"},
                "api_app_id": "A1", "token": "x", "trigger_id": "trig-3",
                "view": {"id": "V1", "type": "modal", "callback_id": "settings_submit", "team_id": "T1",
                         "state": {"values": values}, "hash": "h", "private_metadata": "",
                         "title": {"type": "plain_text", "text": "Dayshift settings"}, "blocks": []}}

    def home_opened(self, user: str, event_id: str) -> dict[str, Any]:
        return {"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": event_id,
                "event_time": 1700000000, "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
                "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home",
                          "event_ts": "1700000000.1"}}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
