"""The dashboard in a real browser: Debian's chromium driven by Playwright.

The journey runs the real bot (``run_bot`` as ``dayshift run`` runs it: Bolt socket mode against the fake
Slack, an in-process worker on the Temporal dev server, real agents on the offline model) with the dashboard
on. The measurement test uses the real app and ShiftControl on the dev server without a worker.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.bot.conftest import Bot
from tests.web.conftest import Web, open_link
from tests.web.seed import YESTERDAY, seed_day

pytestmark = [pytest.mark.browser, pytest.mark.devserver]


async def _open_link(browser: Browser, url: str, problems: list[str]) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    # Console errors include Content-Security-Policy violations and script errors: there must be none.
    page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url', '')}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    # Works offline: every request the page makes goes to the dashboard itself (no CDN, no other host).
    origin = "/".join(url.split("/")[:3]) + "/"
    page.on("request", lambda r: None if r.url.startswith((origin, "data:")) else problems.append(f"request {r.url}"))
    await page.goto(url)
    # The link only asks (a link scanner burns nothing); the person's click signs in.
    await page.get_by_role("button", name=re.compile("^Continue as ")).click()
    await expect(page.locator("#live")).to_contain_text("Today,")
    return page


@pytest.mark.cli
@pytest.mark.timeout(300)
async def test_journey_link_live_board_add_cancel_history(web_bot: Bot, browser: Browser, screens: Path) -> None:
    bot = web_bot
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    await seed_day(bot.store, "UA", yesterday, YESTERDAY)

    # The link from `/dayshift dashboard` (an ephemeral reply) signs the browser in.
    reply = await bot.command("UA", "dashboard")
    match = re.search(r"<(http://127\.0\.0\.1:\d+/auth/link\?t=[^|>]+)\|Open your Dayshift dashboard>", reply)
    assert match, reply
    problems: list[str] = []
    page = await _open_link(browser, match.group(1), problems)
    assert "signed in as" in await page.inner_text("header")

    # Add a task, then cancel it (no shift is running: it waits for the next one).
    await page.fill("#add-text", "Water the office plants")
    await page.click("form.add button")
    await expect(page.locator(".flash.notice")).to_contain_text("for your next shift")
    row = page.locator("#live tr.task", has_text="Water the office plants")
    await expect(row).to_have_count(1)
    await row.get_by_role("button", name=re.compile("^Cancel")).click()
    await expect(page.locator(".flash.notice")).to_contain_text("cancelled")
    await expect(page.locator("#live tr.task", has_text="Water the office plants")).to_have_count(0)
    assert [t.status.value for t in await bot.store.tasks.for_user("UA")] == ["cancelled"]

    # A slow task so there is progress to watch, then today's shift starts from Slack.
    await page.fill("#add-text", "Compile the slow weekly report [[offline:slow seconds=1]]")
    await page.click("form.add button")
    await expect(page.locator(".flash.notice")).to_contain_text("for your next shift")
    await page.evaluate("window.__sameDocument = true")
    assert "Today's shift is starting" in await bot.command("UA", "run")

    # The board moves by itself: running, a task in progress, then completed — no reload.
    await expect(page.locator('#live .board[data-phase="running"]')).to_have_count(1, timeout=90_000)
    await expect(page.locator('#live tr.task[data-status="in_progress"]').first).to_be_visible(timeout=90_000)
    await expect(page.locator("#live svg.timeline g.bar")).not_to_have_count(0)
    await expect(page.locator('#live tr.task[data-status="completed"]').first).to_be_visible(timeout=90_000)
    await expect(page.locator('#live svg.timeline g.checkpoint[data-done="true"]').first).to_be_attached(
        timeout=60_000)
    await page.screenshot(path=str(screens / "timeline-live.png"), full_page=True)

    # Another user, signed in by their own link, cannot see or change A's live tasks (held by the workflow).
    live_ids = await page.locator("#live tr.task").evaluate_all("els => els.map(e => e.dataset.task)")
    b_reply = await bot.command("UB", "dashboard")
    b_link = re.search(r"<(http://[^|>]+)\|", b_reply)
    assert b_link
    async with httpx.AsyncClient(timeout=20) as b:
        await open_link(b, b_link.group(1))
        board = await b.get("/".join(b_link.group(1).split("/")[:3]) + "/")
        assert "signed in as <code>UB</code>" in board.text
        b_csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', board.text).group(1)  # type: ignore[union-attr]
        origin = "/".join(b_link.group(1).split("/")[:3])
        for task_id in live_ids:
            assert task_id not in board.text
            assert (await b.get(f"{origin}/tasks/{task_id}")).status_code == 404
            resp = await b.post(f"{origin}/tasks/{task_id}/cancel", data={"csrf": b_csrf})
            assert resp.status_code == 404
            resp = await b.post(f"{origin}/tasks/{task_id}/edit", data={"csrf": b_csrf, "text": "hijack"})
            assert resp.status_code == 404
    for task_id in live_ids:
        mirrored = await bot.store.tasks.get("UA", task_id)
        assert mirrored.description != "hijack" and mirrored.status.value != "cancelled"
    await expect(page.locator('#live svg.timeline g.warning[data-warned="true"]')).to_have_count(1, timeout=60_000)
    await page.screenshot(path=str(screens / "timeline-warning.png"), full_page=True)
    assert await page.evaluate("window.__sameDocument") is True  # never reloaded
    updates = await page.evaluate("window.dayshift.updates")
    assert len(updates) >= 3, updates
    bars = await page.locator("#live svg.timeline g.bar").evaluate_all(
        "els => els.map(e => [e.dataset.status, +e.dataset.progress])")
    assert ("completed", 100) in [tuple(b) for b in bars], bars

    # History: yesterday in the calendar, its breakdown, and the charts.
    await page.click("nav >> text=History")
    cell = page.locator(f'svg.calendar a.day[data-day="{yesterday.isoformat()}"]')
    assert await cell.get_attribute("data-rate") == "0.667"
    await cell.click()
    await expect(page).to_have_url(re.compile(f"/history/{yesterday.isoformat()}$"))
    day = page.locator("#day")
    await expect(day).to_contain_text("Summarise yesterday's changes")
    await expect(day).to_contain_text("offline model told to fail (400)")
    assert await page.locator("svg.ranges rect.seg").count() >= 2
    assert await page.locator("svg.types rect.bar").count() == 2  # docs and planning completed yesterday
    assert await page.locator("svg.cost rect.bar").count() == 30
    box = await page.locator("svg.cost").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 50
    await page.screenshot(path=str(screens / "history.png"), full_page=True)
    assert problems == []
    await page.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@pytest.mark.timeout(240)
async def test_measure_page_load_and_sse_latency(web: Web, browser: Browser, screens: Path) -> None:
    """Page load (navigation start -> load event) and change -> browser DOM over SSE, p50/p95."""
    await seed_day(web.store, "UA", (datetime.now(UTC) - timedelta(days=1)).date(), YESTERDAY)
    problems: list[str] = []
    page = await _open_link(browser, web.dash.link_for("UA"), problems)
    loads: dict[str, list[float]] = {}
    for path in ("/", "/history", "/settings"):
        for _ in range(8):
            await page.goto(web.url + path)
            loads.setdefault(path, []).append(await page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.loadEventEnd - n.startTime; }"))
    await page.goto(web.url + "/")
    await page.evaluate("window.__sameDocument = true")
    latencies = []
    rng = random.Random(14)
    for i in range(15):
        # A change lands anywhere in the poller's cycle (right after a DOM update would measure the worst case).
        await asyncio.sleep(rng.uniform(0, 0.5))
        t0 = time.time() * 1000
        outcome = await web.control.add("UA", f"latency probe {i}")  # the change, committed
        [task] = [t for t in await web.store.tasks.pending_unassigned("UA") if t.short_id == outcome.short_id]
        await expect(page.locator(f'#live tr[data-task="{task.task_id}"]')).to_have_count(1, timeout=10_000)
        updates = await page.evaluate("window.dayshift.updates")
        latencies.append(min(u["at"] for u in updates if task.task_id in u["ids"]) - t0)
        await asyncio.sleep(rng.uniform(0, 0.5))
        t0 = time.time() * 1000
        await web.control.cancel("UA", task.task_id)
        await expect(page.locator(f'#live tr[data-task="{task.task_id}"]')).to_have_count(0, timeout=10_000)
        updates = await page.evaluate("window.dayshift.updates")
        latencies.append(min(u["at"] for u in updates if u["at"] >= t0 and task.task_id not in u["ids"]) - t0)
    assert await page.evaluate("window.__sameDocument") is True
    figures = {"page_load_ms": {p: {"p50": round(_pct(v, 0.5)), "p95": round(_pct(v, 0.95)), "n": len(v)}
                                for p, v in loads.items()},
               "sse_change_to_dom_ms": {"p50": round(_pct(latencies, 0.5)), "p95": round(_pct(latencies, 0.95)),
                                        "max": round(max(latencies)), "mean": round(statistics.mean(latencies)),
                                        "n": len(latencies)}}
    print("dashboard figures:", json.dumps(figures))
    (screens / "figures.json").write_text(json.dumps(figures, indent=2))
    assert figures["sse_change_to_dom_ms"]["p95"] < 2000  # the bound: within 2 s of a change
    assert all(f["p95"] < 5000 for f in figures["page_load_ms"].values())
    assert problems == []
    await page.close()


@pytest.mark.timeout(120)
async def test_signing_out_elsewhere_stops_the_live_board(web: Web, browser: Browser) -> None:
    """Sign-out elsewhere: the open board's event stream ends, the page says so and stops reconnecting."""
    problems: list[str] = []
    page = await _open_link(browser, web.dash.link_for("UA"), problems)
    # Sign-out from elsewhere with this browser's own cookie (as another tab's Sign out button sends it).
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    resp = await page.request.post(web.url + "/auth/logout", form={"csrf": token or ""})
    assert resp.status == 200 and "Signed out" in await resp.text()
    await expect(page.locator("#live-status")).to_contain_text("You are signed out", timeout=15_000)
    await web.control.add("UA", "Added after the sign-out")
    await asyncio.sleep(2.5)  # a live stream would have pushed it by now
    await expect(page.locator("#live")).not_to_contain_text("Added after the sign-out")
    # If the stream dropped before its signed-out event, the browser's reconnect and the page's session check
    # answer 401 (the browser logs those): expected here, anything else is a problem.
    assert [p for p in problems if "status of 401 (Unauthorized)" not in p] == []
    await page.close()
