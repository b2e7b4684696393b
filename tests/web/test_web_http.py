"""HTTP-level tests of the dashboard: the real app served by uvicorn in the test's loop (as ``dayshift run``
serves it), a real store and ShiftControl on the Temporal dev server (no worker: nothing runs). Each test runs
on SQLite and on PostgreSQL (skipped, saying why, when no server is reachable)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from markupsafe import escape

from bot.control import ShiftControl, UserError
from bot.deps import BotDeps
from bot.listeners.commands import dispatch
from bot.web.auth import COOKIE, SESSION_TTL_SECONDS
from bot.web.live import BoardHub, Problem
from bot.web.server import Dashboard
from storage.models import TaskStatus
from storage.store import Store
from tests.web.conftest import Web, csrf_of, open_link
from tests.web.seed import YESTERDAY, seed_day

pytestmark = pytest.mark.devserver


@pytest.fixture
def store(any_store: Store) -> Store:
    """The ``web`` fixture's store, here on both backends (the browser tests keep SQLite)."""
    return any_store


async def _count(web: Web, table: str) -> int:
    row = await web.store.db.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


async def test_link_is_signed_single_use_and_expires(web: Web) -> None:
    anon = web.client()
    # No session: no data, only how to get a link.
    await web.control.add("UA", "Secret plan of A")
    for path in ("/", "/history", "/settings", "/board", "/history/2026-01-01"):
        resp = await anon.get(path)
        assert resp.status_code == 401 and "/dayshift dashboard" in resp.text, path
        assert "Secret plan" not in resp.text
    assert (await anon.get("/events")).status_code == 401

    link = web.dash.link_for("UA").removeprefix(web.url)
    token = link.split("t=", 1)[1]
    # Opening the link (what a link scanner or unfurler does too) only asks; it burns nothing.
    for _ in range(2):
        ask = await anon.get(link)
        assert ask.status_code == 200 and "Continue as" in ask.text and "UA" in ask.text
        assert COOKIE not in ask.cookies and 'method="post"' in ask.text
    assert await _count(web, "web_link_nonces") == 0
    # A form on another site cannot post the link for the visitor (login CSRF): refused, nothing burnt.
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        resp = await web.client().post("/auth/link", data={"t": token}, headers=headers)
        assert resp.status_code == 403 and "another site" in resp.text and COOKIE not in resp.cookies
    assert await _count(web, "web_link_nonces") == 0
    first = await anon.post("/auth/link", data={"t": token}, headers={"Origin": web.url})
    assert first.status_code == 303 and first.headers["location"].startswith("/")
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert await _count(web, "web_link_nonces") == 1
    assert "Secret plan of A" in (await anon.get("/")).text  # the cookie now opens A's board

    again = await web.client().get(link)
    assert again.status_code == 400 and "already used" in again.text and COOKIE not in again.cookies
    again = await web.client().post("/auth/link", data={"t": token})
    assert again.status_code == 400 and "already used" in again.text and COOKIE not in again.cookies

    expired = web.dash.auth.issue("UA", issued_at=time.time() - 601)
    for method in ("GET", "POST"):
        resp = await web.client().request(method, "/auth/link", params={"t": expired} if method == "GET" else None,
                                          data={"t": expired} if method == "POST" else None)
        assert resp.status_code == 400 and "expired" in resp.text and COOKIE not in resp.cookies
    fresh = web.dash.auth.issue("UA", issued_at=time.time() - 590)  # 10 s left: still good
    assert (await web.client().post("/auth/link", data={"t": fresh})).status_code == 303

    payload, sig = web.dash.auth.issue("UB").split(".")
    forged_user = web.dash.auth.issue("UA").split(".")[0] + "." + sig  # A's payload with B's signature
    other_secret = Dashboard(web.control, host="127.0.0.1", port=0, public_url=None).auth.issue("UA")
    for bad in (forged_user, payload + "." + sig[:-2], payload, "", "x" * 5000, "a.b", other_secret,
                "%00%ff", payload + "." + sig + ".x", payload + ".é", payload + "." + sig[:-1] + "é", "é.é"):
        resp = await web.client().get("/auth/link", params={"t": bad})
        assert resp.status_code == 400 and "not valid" in resp.text and COOKIE not in resp.cookies, bad[:30]
        resp = await web.client().post("/auth/link", data={"t": bad})
        assert resp.status_code == 400 and "not valid" in resp.text and COOKIE not in resp.cookies, bad[:30]
    assert await _count(web, "web_link_nonces") == 2  # refused links burn nothing

    # A made-up session cookie is no session.
    fake = web.client()
    fake.cookies.set(COOKIE, "not-a-session")
    assert (await fake.get("/")).status_code == 401

    # Sign-out ends the session for good.
    client = await web.signed_in("UA")
    session_cookie = client.cookies.get(COOKIE)
    token = csrf_of((await client.get("/")).text)
    assert (await client.post("/auth/logout", data={})).status_code == 403  # sign-out needs CSRF too
    resp = await client.post("/auth/logout", data={"csrf": token})
    assert resp.status_code == 200 and "Signed out" in resp.text
    stale = web.client()
    stale.cookies.set(COOKIE, session_cookie or "")
    assert (await stale.get("/")).status_code == 401


# Every route of the app and how another user's ids or data are kept out of it. A new route fails this
# test until it is added here.
ROUTES = {
    ("GET", "/auth/link"), ("POST", "/auth/link"), ("GET", "/auth/slack"), ("GET", "/auth/slack/callback"),
    ("POST", "/auth/logout"),
    ("GET", "/"), ("GET", "/board"), ("GET", "/events"),
    ("POST", "/tasks"), ("GET", "/tasks/{task_id}"), ("POST", "/tasks/{task_id}/edit"),
    ("POST", "/tasks/{task_id}/cancel"), ("POST", "/run"), ("GET", "/history"), ("GET", "/history/{day}"),
    ("GET", "/settings"), ("POST", "/settings"), ("GET", "/healthz"),
}


async def test_every_route_is_scoped_to_the_session_user(web: Web) -> None:
    app_routes = {(m, r.path) for r in web.dash.app.routes if isinstance(r, APIRoute) for m in r.methods}
    assert app_routes == ROUTES

    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    archived = await seed_day(web.store, "UA", yesterday, YESTERDAY)
    waiting = await web.control.add("UA", "A's waiting task about payroll")
    [a_task] = await web.store.tasks.pending_unassigned("UA")
    a_ids = [a_task.task_id, *archived]
    a = await web.signed_in("UA")
    b = await web.signed_in("UB")
    b_csrf = csrf_of((await b.get("/")).text)
    a_csrf = csrf_of((await a.get("/")).text)

    for task_id in a_ids:
        # The owner sees their task ...
        assert (await a.get(f"/tasks/{task_id}")).status_code == 200
        # ... another user gets 404 on every route that takes a task id, and nothing changes.
        resp = await b.get(f"/tasks/{task_id}")
        assert resp.status_code == 404 and "No such task among yours" in resp.text
        assert "payroll" not in resp.text and "TODO" not in resp.text
        resp = await b.post(f"/tasks/{task_id}/edit", data={"csrf": b_csrf, "text": "hijacked"})
        assert resp.status_code == 404
        resp = await b.post(f"/tasks/{task_id}/cancel", data={"csrf": b_csrf})
        assert resp.status_code == 404
        # A short id works for nobody in a URL (ids are full ids), not even A.
        assert (await b.get(f"/tasks/{task_id[:6]}")).status_code == 404
    assert (await web.store.tasks.get("UA", a_task.task_id)).description == "A's waiting task about payroll"
    assert (await web.store.tasks.get("UA", a_task.task_id)).status is TaskStatus.PENDING
    assert {t.description for t in await web.store.history.day("UA", yesterday.isoformat())} == \
        {d for d, *_ in YESTERDAY}

    # Pages without ids show only the session user's data.
    for path in ("/", "/board", "/history", f"/history/{yesterday.isoformat()}", "/settings"):
        body = (await b.get(path)).text
        assert "payroll" not in body and "Summarise yesterday" not in body and waiting.short_id not in body, path
        assert a_task.task_id not in body
    own = (await a.get(f"/history/{yesterday.isoformat()}")).text
    assert "Summarise yesterday" in own and "offline model told to fail (400)" in own
    async with b.stream("GET", "/events") as stream:
        lines = stream.aiter_lines()
        seen = [await asyncio.wait_for(_next_board(lines), timeout=10)]
        # A change of A's and one of B's while B's stream is open: B's next boards carry only B's.
        await web.control.add("UA", "A's second secret about salaries")
        await web.control.add("UB", "Streamed task of B")
        while "Streamed task of B" not in str(seen[-1]["html"]):
            seen.append(await asyncio.wait_for(_next_board(lines), timeout=10))
        assert len(seen) >= 2
        for chunk in seen:
            assert "payroll" not in str(chunk["html"]) and "salaries" not in str(chunk["html"])
            assert a_task.task_id not in str(chunk["html"])
    body = (await b.get("/board")).text
    assert "Streamed task of B" in body and "salaries" not in body and "payroll" not in body

    # Posts without ids change only the poster's own data.
    assert (await b.post("/tasks", data={"csrf": b_csrf, "text": "B's own task"})).status_code == 303
    assert [t.description for t in await web.store.tasks.pending_unassigned("UA")] == \
        [a_task.description, "A's second secret about salaries"]
    assert [t.description for t in await web.store.tasks.pending_unassigned("UB")] == \
        ["Streamed task of B", "B's own task"]
    resp = await b.post("/settings", data={"csrf": b_csrf, "timezone": "Asia/Tokyo", "start_time": "10:00"})
    assert resp.status_code == 303
    assert (await web.store.users.get("UA")).timezone == "UTC"  # type: ignore[union-attr]
    assert (await web.store.users.get("UB")).timezone == "Asia/Tokyo"  # type: ignore[union-attr]
    # B's CSRF token is no good with A's session.
    resp = await a.post("/tasks", data={"csrf": b_csrf, "text": "cross-session"})
    assert resp.status_code == 403
    assert (await a.post("/tasks", data={"csrf": a_csrf, "text": "A again"})).status_code == 303
    # Health says nothing about anyone.
    assert "UA" not in (await web.client().get("/healthz")).text

    # B's "run now" starts B's shift only (no worker here: it waits); A's tasks stay A's and waiting.
    a_waiting = [t.task_id for t in await web.store.tasks.pending_unassigned("UA")]
    resp = await b.post("/run", data={"csrf": b_csrf})
    assert resp.status_code == 303 and "done=started" in resp.headers["location"], resp.text[-400:]
    assert await web.control.live(await web.control.user("UA")) is None
    b_shift = await web.control.live(await web.control.user("UB"))
    assert b_shift is not None and b_shift.id.startswith("day-UB-")
    assert [t.task_id for t in await web.store.tasks.pending_unassigned("UA")] == a_waiting
    await b_shift.terminate("test over")
    body = (await b.get("/board")).text
    assert "payroll" not in body and "salaries" not in body and a_task.task_id not in body


async def _next_board(lines: AsyncIterator[str]) -> dict[str, object]:
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "board":
            data: dict[str, object] = json.loads(line[6:])
            return data
    raise AssertionError("stream ended")


async def test_csrf_and_bad_input_get_clear_messages_and_change_nothing(web: Web) -> None:
    a = await web.signed_in("UA")
    page = (await a.get("/")).text
    token = csrf_of(page)

    # Missing or wrong CSRF token: refused, nothing created.
    for data in ({"text": "no token"}, {"text": "bad token", "csrf": "0" * 40}, {"text": "empty", "csrf": ""},
                 {"text": "non-ASCII token", "csrf": "é"}, {"text": "non-ASCII token", "csrf": token[:-1] + "é"}):
        resp = await a.post("/tasks", data=data)
        assert resp.status_code == 403 and "security token (CSRF)" in resp.text and "nothing was changed" in resp.text
    for raw in ("é".encode(), (token[:-1] + "é").encode(), "é".encode("latin-1")):  # header bytes, any encoding
        resp = await a.post("/tasks", data={"text": "header"}, headers={"X-CSRF-Token": raw})  # type: ignore[dict-item]
        assert resp.status_code == 403 and "security token (CSRF)" in resp.text, resp.text[-300:]
    resp = await a.post("/tasks", data={"text": "header token"}, headers={"X-CSRF-Token": token})
    assert resp.status_code == 303  # the header works for scripts
    [kept] = await web.store.tasks.pending_unassigned("UA")

    # Bad task text: the same messages as `/dayshift add` (ShiftControl's own), and nothing stored.
    for text in ("", "   \t ", "x" * 10_000):
        with pytest.raises(UserError) as err:
            await web.control.add("UA", text)
        resp = await a.post("/tasks", data={"csrf": token, "text": text})
        assert resp.status_code == 400 and str(escape(str(err.value))) in resp.text, (text[:10], resp.text[-800:])
    assert "the limit is 2,000" in resp.text
    resp = await a.post("/tasks", content="text=" + "y" * 40_000 + f"&csrf={token}",
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 413 and "too large" in resp.text

    async def chunked() -> AsyncIterator[bytes]:
        yield f"csrf={token}&text=".encode()
        yield b"z" * 100_000

    resp = await a.post("/tasks", content=chunked(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 411 and "Content-Length" in resp.text
    assert [t.task_id for t in await web.store.tasks.pending_unassigned("UA")] == [kept.task_id]

    # Edit / cancel of the user's own task: bad text refused; a second cancel says why.
    resp = await a.post(f"/tasks/{kept.task_id}/edit", data={"csrf": token, "text": "  "})
    assert resp.status_code == 400 and "The task text is empty" in resp.text
    resp = await a.post(f"/tasks/{kept.task_id}/edit", data={"csrf": token, "text": "z" * 2_001})
    assert resp.status_code == 400 and "the limit is 2,000" in resp.text
    resp = await a.post(f"/tasks/{kept.task_id}/edit", data={"text": "no token"})
    assert resp.status_code == 403
    assert (await web.store.tasks.get("UA", kept.task_id)).description == "header token"
    resp = await a.post(f"/tasks/{kept.task_id}/edit", data={"csrf": token, "text": "header token, edited"})
    assert resp.status_code == 303 and "done=edited" in resp.headers["location"]
    assert (await web.store.tasks.get("UA", kept.task_id)).description == "header token, edited"
    assert (await a.post(f"/tasks/{kept.task_id}/cancel", data={})).status_code == 403
    assert (await web.store.tasks.get("UA", kept.task_id)).status is TaskStatus.PENDING
    assert (await a.post(f"/tasks/{kept.task_id}/cancel", data={"csrf": token})).status_code == 303
    resp = await a.post(f"/tasks/{kept.task_id}/cancel", data={"csrf": token})
    assert resp.status_code == 400 and "only pending tasks can be cancelled" in resp.text

    # Forged ids: 404 with a message, whatever their shape.
    for forged in ("nosuch", "' OR 1=1 --", "x" * 300, "..%2F..%2Fetc%2Fpasswd", "%00"):
        for method, path in (("GET", f"/tasks/{forged}"), ("POST", f"/tasks/{forged}/cancel"),
                             ("POST", f"/tasks/{forged}/edit")):
            resp = await a.request(method, path, data={"csrf": token, "text": "x"} if method == "POST" else None)
            assert resp.status_code == 404, (method, path[:40], resp.status_code)
    for bad in ("2026-13-01", "yesterday", "9999-01-01", "0001-01-01", "2026-01-01x"):
        assert (await a.get(f"/history/{bad}")).status_code == 404
    for bad in ("20xx-01", "0001-01", "9999-12", "2026-1", "2026-01-01"):
        resp = await a.get("/history", params={"month": bad})
        assert resp.status_code == 400 and "is not a month" in resp.text, bad

    # Settings: the Slack modal's validation and texts; a refused save changes nothing.
    before = await web.store.users.get("UA")
    cases = [({"timezone": "Mars/Olympus", "start_time": "08:00"}, "unknown timezone 'Mars/Olympus'"),
             ({"timezone": "Europe/Berlin", "start_time": "09:00"}, "choose 08:00 or 10:00"),
             ({"timezone": "Europe/Berlin", "start_time": "08:00", "channel": "#general"}, "channel id like C0123ABCD"),
             ({"timezone": "E" * 5000, "start_time": "08:00"}, "the limit is 64"),
             ({"timezone": "", "start_time": ""}, "unknown timezone")]
    for data, expected in cases:
        resp = await a.post("/settings", data={"csrf": token, **data})
        assert resp.status_code == 400 and expected.replace("'", "&#39;") in resp.text, (data, resp.text[-600:])
    assert (await a.post("/settings", data={"timezone": "Europe/Berlin", "start_time": "10:00"})).status_code == 403
    assert await web.store.users.get("UA") == before
    resp = await a.post("/settings", data={"csrf": token, "timezone": "Europe/Berlin", "start_time": "10:00",
                                          "channel": "C0123ABCD", "paused": "on"})
    assert resp.status_code == 303
    user = await web.store.users.get("UA")
    assert user is not None and (user.timezone, user.preferred_start_time, user.slack_channel, user.paused) == \
        ("Europe/Berlin", "10:00", "C0123ABCD", True)
    desc = await web.control.client.get_schedule_handle("dayshift-UA").describe()
    assert desc.schedule.spec.time_zone_name == "Europe/Berlin" and desc.schedule.state.paused


@pytest.mark.serial  # asserts a push within 2 s: run alone
async def test_sse_pushes_a_change_within_two_seconds(web: Web) -> None:
    a = await web.signed_in("UA")
    async with a.stream("GET", "/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        first = await asyncio.wait_for(_next_board(lines), timeout=10)
        assert "Nothing waiting" in str(first["html"])
        start = time.monotonic()
        outcome = await web.control.add("UA", "Pushed without a reload")  # the same path as /dayshift add
        update = await asyncio.wait_for(_next_board(lines), timeout=10)
        elapsed = time.monotonic() - start
        assert outcome.short_id in str(update["html"]) and "Pushed without a reload" in str(update["html"])
        assert elapsed < 2.0, elapsed

    # Three open tabs share one poller per user: board reads follow the poll interval, not the tab count.
    hub = web.dash.app.state.hub
    clients = [await web.signed_in("UA") for _ in range(3)]
    streams = [c.stream("GET", "/events") for c in clients]
    opened = [await s.__aenter__() for s in streams]
    try:
        # Each tab's line reader is kept: a dropped async iterator is finalized, which closes its stream.
        readers = [resp.aiter_lines() for resp in opened]
        for lines in readers:
            await asyncio.wait_for(_next_board(lines), timeout=10)
        before, start = hub.reads, time.monotonic()
        await asyncio.sleep(2.0)
        polls = (time.monotonic() - start) / hub.poll_seconds
        assert hub.reads - before <= polls + 1, (hub.reads - before, polls)
        assert hub.reads - before >= 1, "the poller did not read the board at all in 2 s"
    finally:
        for s in streams:
            await s.__aexit__(None, None, None)
        for c in clients:
            await c.aclose()
    await a.aclose()
    for _ in range(50):  # closed tabs stop their user's poller
        if not hub.feeds:
            break
        await asyncio.sleep(0.1)
    assert hub.feeds == {}


async def test_dayshift_dashboard_command_answers_with_a_personal_link(web: Web) -> None:
    """The `/dayshift dashboard` subcommand (its dispatch, as the Bolt listener calls it)."""
    deps = BotDeps(control=web.control, home=_NoHome(), store=web.store, web=web.dash)  # type: ignore[arg-type]
    reply = await dispatch(deps, "UA", "dashboard", trigger_id=None, client=None)  # type: ignore[arg-type]
    url = reply["text"].split("<", 1)[1].split("|", 1)[0]
    assert url.startswith(web.url + "/auth/link?t=") and "expires in 10 minutes" in reply["text"]
    assert reply["unfurl_links"] is False and reply["unfurl_media"] is False  # no unfurler opens it
    assert "/dayshift dashboard" in (await dispatch(deps, "UA", "help", trigger_id=None, client=None))["text"]  # type: ignore[arg-type]
    resp = await open_link(web.client(), url.removeprefix(web.url))
    assert resp.status_code == 303
    off = BotDeps(control=web.control, home=_NoHome(), store=web.store, web=None)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="turned off here"):
        await dispatch(off, "UA", "dashboard", trigger_id=None, client=None)  # type: ignore[arg-type]


class _NoHome:
    """The dashboard subcommand never touches the Home tab; anything else would fail loudly here."""


async def test_a_finished_day_is_drawn_from_its_archive(web: Web) -> None:
    now = datetime.now(UTC)
    await seed_day(web.store, "UA", now.date(), YESTERDAY, start=now - timedelta(hours=3, minutes=5))
    page = (await (await web.signed_in("UA")).get("/")).text
    assert 'data-phase="done"' in page and 'class="timeline"' in page
    statuses = re.findall(r'<g class="bar" data-task="[^"]+" data-status="([a-z_]+)"', page)
    assert statuses == ["completed", "completed", "failed"]
    assert 'class="warning" data-warned="true"' in page  # the window is over
    assert "offline model told to fail (400)" in page


async def test_a_failing_read_is_shown_not_swallowed(web: Web, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    broken = await Store.open(tmp_path / "closed.db")
    await broken.close()  # every read now fails
    hub = BoardHub(ShiftControl(broken, web.control.client, web.control.settings), poll_seconds=0.05)
    with caplog.at_level(logging.WARNING, logger="bot.web.live"):
        async with hub.subscribe("UA") as queue:
            item = await asyncio.wait_for(queue.get(), timeout=5)
    # The banner says what happened in words a user can act on; the exception's text stays in the log.
    assert isinstance(item, Problem) and item.message == "The live board could not be read; retrying…"
    [record] = [r for r in caplog.records if r.getMessage() == "dashboard board read failed"][:1]
    assert record.data["error"]  # type: ignore[attr-defined]
    assert record.data["error"] not in item.message  # type: ignore[attr-defined]


async def _until_end(lines: AsyncIterator[str], seconds: float) -> list[tuple[str, str]]:
    """Every (event, data) of a stream until it ends; fails if it is still open after ``seconds``."""
    events: list[tuple[str, str]] = []

    async def read() -> None:
        event = ""
        async for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, line[6:]))
    try:
        await asyncio.wait_for(read(), timeout=seconds)
    except TimeoutError:
        raise AssertionError(f"the stream was still open after {seconds} s: {events[-3:]}") from None
    return events


async def test_an_open_event_stream_ends_with_its_session(web: Web) -> None:
    # Sign-out in another tab: the open stream stops (and says why) instead of sending more of A's board.
    a = await web.signed_in("UA")
    token = csrf_of((await a.get("/")).text)
    async with a.stream("GET", "/events") as stream:
        lines = stream.aiter_lines()
        await asyncio.wait_for(_next_board(lines), timeout=10)
        assert (await a.post("/auth/logout", data={"csrf": token})).status_code == 200
        await web.control.add("UA", "Written after sign-out")
        events = await _until_end(lines, 15)
    assert ("signed-out", json.dumps({"message": "You are signed out. Open a new link from /dayshift dashboard."})) \
        in events, events
    assert not any("Written after sign-out" in data for _, data in events)

    # Expiry while the stream is open (nothing new to send): the periodic check ends it too.
    b = await web.signed_in("UB")
    async with b.stream("GET", "/events") as stream:
        lines = stream.aiter_lines()
        await asyncio.wait_for(_next_board(lines), timeout=10)
        real = web.dash.auth.clock
        web.dash.auth.clock = lambda: real() + SESSION_TTL_SECONDS + 60
        try:
            events = await _until_end(lines, 15)
        finally:
            web.dash.auth.clock = real
    assert [e for e, _ in events] == ["signed-out"], events


async def test_history_counts_the_month_shown_even_years_back(web: Web) -> None:
    today = datetime.now(UTC).date()
    old = (today.replace(day=1) - timedelta(days=3 * 365)).replace(day=10)
    await seed_day(web.store, "UA", old, YESTERDAY)
    a = await web.signed_in("UA")
    page = (await a.get("/history", params={"month": old.isoformat()[:7]})).text
    cell = re.search(rf'<a class="day[^"]*"[^>]*data-day="{old.isoformat()}"[^>]*>', page) or \
        re.search(rf'<a [^>]*data-day="{old.isoformat()}"[^>]*>', page)
    assert cell, page[-2000:]
    assert 'data-rate="0.667"' in cell.group(0), cell.group(0)
    day = (await a.get(f"/history/{old.isoformat()}")).text
    assert re.search(rf'data-day="{old.isoformat()}"[^>]*data-rate="0.667"', day) or \
        re.search(rf'data-rate="0.667"[^>]*data-day="{old.isoformat()}"', day)
