"""The dashboard's routes. Every route but sign-in needs a session and reads only that session's user;
every change goes through ShiftControl (the same path, validation and error texts as ``/dayshift``)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.control import ShiftControl, UserError
from bot.settings import ALLOWED_START_TIMES
from bot.web import svg, views
from bot.web.auth import COOKIE, SESSION_TTL_SECONDS, LinkError, Session, WebAuth, same
from bot.web.live import BoardHub, Item, Problem
from bot.web.oidc import OidcError, SlackOidc

log = logging.getLogger(__name__)
OIDC_COOKIE = "dayshift_oidc"
NO_OIDC = ("Sign in with Slack is not set up here (it needs a public DAYSHIFT_PUBLIC_URL plus SLACK_CLIENT_ID and "
           "SLACK_CLIENT_SECRET). Use /dayshift dashboard in Slack for a personal link.")
SIGNED_OUT = "You are signed out. Open a new link from /dayshift dashboard."
MAX_BODY = 32 * 1024
_SHORT = re.compile(r"^[0-9a-f]{6}$")
DONE = {"added-today": "Added {id} to today's running shift.", "added-next": "Added {id} for your next shift.",
        "edited": "Task {id} updated.", "cancelled": "Task {id} cancelled.",
        "started": "Today's shift is starting.", "saved": "Settings saved.", "signed-in": ""}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class NoSession(Exception):
    """No valid session cookie: the answer is the page that says how to get a link, never data."""


class HttpProblem(Exception):
    """A request we refuse with a clear message and no change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class WebDeps:
    control: ShiftControl
    auth: WebAuth
    secure_cookie: bool = False
    oidc: SlackOidc | None = None  # Sign in with Slack, when set up
    hub: BoardHub | None = None
    session_check_seconds: float = 3.0  # how often an open event stream re-checks its session


def _in_range(day: date) -> bool:
    """History pages cover the last ten years (and not the far future): calendars stay computable."""
    today = date.today()
    return today - timedelta(days=3660) <= day <= today + timedelta(days=366)


def _same_origin(request: Request) -> bool:
    """A browser's own form post: Sec-Fetch-Site says so, else Origin names this host (clients that send
    neither, like scripts, are not browsers carrying someone's ambient session)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


def _clock(t: datetime | None, tz: str) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z") if t else "—"


def _env() -> Environment:
    env = Environment(loader=PackageLoader("bot.web", "templates"), autoescape=select_autoescape(["html"]))
    env.globals.update(svg=svg, status_label=views.status_label, ALLOWED_START_TIMES=ALLOWED_START_TIMES)
    env.filters["clock"] = _clock
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{v:.0%}"
    return env


def create_web_app(deps: WebDeps) -> FastAPI:
    app = FastAPI(title="Dayshift", docs_url=None, redoc_url=None, openapi_url=None)
    env = _env()
    hub = deps.hub or BoardHub(deps.control)
    app.state.hub = hub
    env.globals["oidc_enabled"] = deps.oidc is not None
    control = deps.control
    app.mount("/static", StaticFiles(packages=[("bot.web", "static")]), name="static")

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST":
            length = request.headers.get("content-length") or ""
            if not length.isdigit() or int(length) > MAX_BODY:
                status, message = (413, f"That form is too large (the limit is {MAX_BODY // 1024} KB). Nothing was "
                                        "changed.") if length.isdigit() else \
                    (411, "A form must say how long it is (Content-Length). Nothing was changed.")
                resp: Response = page("message.html", status, title="Not done", message=message, session=None)
                resp.headers.update(SECURITY_HEADERS)
                return resp
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(NoSession)
    async def no_session(request: Request, exc: NoSession) -> Response:
        if request.url.path == "/events":
            return Response("Not signed in.", status_code=401, media_type="text/plain")
        return page("signin.html", 401, error=None, session=None)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("dashboard request failed", exc_info=exc, extra={"data": {"path": request.url.path[:100]}})
        return page("message.html", 500, title="Something went wrong",
                    message="Something went wrong on our side (it is in the log). Please try again in a moment.",
                    session=None)

    @app.exception_handler(HttpProblem)
    async def problem(request: Request, exc: HttpProblem) -> Response:
        session = await _session_or_none(request)
        return page("message.html", exc.status, title="Not done", message=exc.message, session=session)

    async def _session_or_none(request: Request) -> Session | None:
        return await deps.auth.session(request.cookies.get(COOKIE))

    async def signed_in(request: Request) -> Session:
        session = await _session_or_none(request)
        if session is None:
            raise NoSession()
        return session

    async def form(request: Request, session: Session) -> dict[str, str]:
        """The urlencoded form, with its CSRF token checked before anything else happens."""
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HttpProblem(413, "That form is too large. Nothing was changed.")
        try:
            fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            raise HttpProblem(400, "That form was not valid UTF-8. Nothing was changed.") from None
        sent = fields.get("csrf") or request.headers.get("x-csrf-token")
        if not sent:
            raise HttpProblem(403, "This form was sent without its security token (CSRF), so nothing was changed. "
                                   "Reload the page and try again.")
        if not session.csrf_ok(sent):
            raise HttpProblem(403, "This form's security token (CSRF) does not match your session, so nothing was "
                                   "changed. Reload the page and try again.")
        return fields

    def done(where: str, key: str, short_id: str = "") -> RedirectResponse:
        query = {"done": key} | ({"id": short_id} if short_id else {})
        return RedirectResponse(f"{where}?{urlencode(query)}", status_code=303)

    def notice(request: Request) -> str | None:
        key = request.query_params.get("done", "")
        short = request.query_params.get("id", "")
        if key not in DONE or (short and not _SHORT.match(short)):
            return None
        return DONE[key].format(id=short) or None

    async def board_page(request: Request, session: Session, *, status: int = 200, error: str | None = None,
                         draft: str = "") -> HTMLResponse:
        board = await views.board(control, session.user_id)
        return page("board.html", status, board=board, session=session, notice=None if error else notice(request),
                    error=error, draft=draft, next_start=await control.next_start(board.user), active="board")

    # ---- sign-in ---------------------------------------------------------------------------------------

    @app.get("/auth/link")
    async def link(t: str = "") -> Response:
        """Opening the link only asks: link scanners and chat unfurlers open links too, and must not burn it."""
        try:
            user_id = await deps.auth.check(t)
        except LinkError as exc:
            return page("signin.html", 400, error=str(exc), session=None)
        return page("continue.html", user_id=user_id, token=t.strip(), session=None)

    @app.post("/auth/link")
    async def link_redeem(request: Request) -> Response:
        """The Continue button: redeems the link. Refused when another site's page sends it (login CSRF: that
        would sign the visitor in as the link's owner)."""
        if not _same_origin(request):
            raise HttpProblem(403, "This sign-in was sent by another site's page, so nobody was signed in. Open "
                                   "your link from /dayshift dashboard in Slack and press Continue.")
        body = await request.body()
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            fields = {}
        try:
            session = await deps.auth.redeem((fields.get("t") or [""])[0])
        except LinkError as exc:
            return page("signin.html", 400, error=str(exc), session=None)
        return signed_in_response(session)

    def signed_in_response(session: Session) -> RedirectResponse:
        log.info("dashboard sign-in", extra={"event": "web_signed_in", "user_id": session.user_id})
        resp = RedirectResponse("/?done=signed-in", status_code=303)
        resp.set_cookie(COOKIE, session.token, max_age=SESSION_TTL_SECONDS, httponly=True, samesite="lax",
                        secure=deps.secure_cookie, path="/")
        return resp

    @app.get("/auth/slack")
    async def slack_start() -> Response:
        if deps.oidc is None:
            raise HttpProblem(404, NO_OIDC)
        start = deps.oidc.start()
        resp = RedirectResponse(start.url, status_code=302)
        resp.set_cookie(OIDC_COOKIE, deps.auth.seal(f"{start.state}|{start.nonce}"), max_age=600, httponly=True,
                        samesite="lax", secure=deps.secure_cookie, path="/auth/slack")
        return resp

    @app.get("/auth/slack/callback")
    async def slack_callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
        if deps.oidc is None:
            raise HttpProblem(404, NO_OIDC)
        opened = deps.auth.unseal(request.cookies.get(OIDC_COOKIE))
        expected_state, _, nonce = (opened or "").partition("|")
        problem: str | None = None
        user_id = ""
        if error:
            problem = f"Sign in with Slack did not finish ({error[:40]}). Nothing was signed in."
        elif not opened or not state or not same(expected_state, state[:200]):
            problem = ("This sign-in attempt does not match this browser (it expired, or was started elsewhere). "
                       "Nothing was signed in; start again.")
        else:
            try:
                user_id = await deps.oidc.finish(code, nonce)
            except OidcError as exc:
                problem = str(exc)
        if problem is not None:
            failed = page("signin.html", 400, error=problem, session=None)
            failed.delete_cookie(OIDC_COOKIE, path="/auth/slack")
            return failed
        resp = signed_in_response(await deps.auth.open_session(user_id))
        resp.delete_cookie(OIDC_COOKIE, path="/auth/slack")
        return resp

    @app.post("/auth/logout")
    async def logout(request: Request) -> Response:
        session = await signed_in(request)
        await form(request, session)
        await deps.auth.close_session(session.token)
        resp = page("signin.html", 200, error=None, session=None, signed_out=True)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    # ---- today's board -----------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> HTMLResponse:
        return await board_page(request, await signed_in(request))

    @app.get("/board", response_class=HTMLResponse)
    async def board_fragment(request: Request) -> HTMLResponse:
        session = await signed_in(request)
        board = await views.board(control, session.user_id)
        return page("board_live.html", board=board, session=session)

    @app.get("/events")
    async def events(request: Request, since: str = "") -> StreamingResponse:
        session = await signed_in(request)
        template = env.get_template("board_live.html")

        async def stream() -> AsyncIterator[str]:
            shown = since[:64]  # the fingerprint of the board the page was rendered with
            yield "retry: 1000\n\n"
            async with hub.subscribe(session.user_id) as queue:
                while True:
                    try:
                        item: Item | None = await asyncio.wait_for(queue.get(), timeout=deps.session_check_seconds)
                    except TimeoutError:
                        item = None
                    # Signed out (another tab) or expired: nothing more of this user's goes down this stream.
                    if await deps.auth.session(session.token) is None:
                        yield f"event: signed-out\ndata: {json.dumps({'message': SIGNED_OUT})}\n\n"
                        return
                    if item is None:
                        continue
                    if isinstance(item, Problem):
                        yield f"event: problem\ndata: {json.dumps({'message': item.message})}\n\n"
                        continue
                    fingerprint = item.fingerprint()
                    if fingerprint == shown:
                        shown = ""
                        continue  # the page already shows this board
                    shown = ""
                    html = template.render(board=item, session=session)
                    data = json.dumps({"fingerprint": fingerprint, "html": html, "sent": time.time()})
                    yield f"event: board\ndata: {data}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/tasks")
    async def add(request: Request) -> Response:
        session = await signed_in(request)
        fields = await form(request, session)
        text = fields.get("text", "")
        try:
            outcome = await control.add(session.user_id, text)
        except UserError as exc:
            return await board_page(request, session, status=400, error=str(exc), draft=text[:2000])
        return done("/", f"added-{outcome.when}", outcome.short_id)

    async def owned(session: Session, task_id: str) -> views.Row:
        row = await views.find_task(control, session.user_id, task_id)
        if row is None:
            raise HttpProblem(404, "No such task among yours.")
        return row

    @app.get("/tasks/{task_id}", response_class=HTMLResponse)
    async def task_detail(request: Request, task_id: str) -> HTMLResponse:
        session = await signed_in(request)
        row = await owned(session, task_id)
        events = await control.store.tasks.events(session.user_id, row.task_id)
        user = await control.user(session.user_id)
        return page("task.html", row=row, events=events, session=session, tz=user.timezone, active="board",
                    notice=notice(request))

    @app.post("/tasks/{task_id}/edit")
    async def edit(request: Request, task_id: str) -> Response:
        session = await signed_in(request)
        fields = await form(request, session)
        row = await owned(session, task_id)
        try:
            short = await control.edit(session.user_id, row.task_id, fields.get("text", ""))
        except UserError as exc:
            return await board_page(request, session, status=400, error=str(exc))
        return done("/", "edited", short)

    @app.post("/tasks/{task_id}/cancel")
    async def cancel(request: Request, task_id: str) -> Response:
        session = await signed_in(request)
        await form(request, session)
        row = await owned(session, task_id)
        try:
            short = await control.cancel(session.user_id, row.task_id)
        except UserError as exc:
            return await board_page(request, session, status=400, error=str(exc))
        return done("/", "cancelled", short)

    @app.post("/run")
    async def run_now(request: Request) -> Response:
        session = await signed_in(request)
        await form(request, session)
        try:
            await control.run_now(session.user_id)
        except UserError as exc:
            return await board_page(request, session, status=400, error=str(exc))
        return done("/", "started")

    # ---- history -----------------------------------------------------------------------------------

    @app.get("/history", response_class=HTMLResponse)
    async def history(request: Request, month: str = "") -> HTMLResponse:
        session = await signed_in(request)
        first = views.parse_day(month[:7] + "-01") if month else None
        if month and (first is None or len(month) != 7 or not _in_range(first)):
            raise HttpProblem(400, f"{month[:20]!r} is not a month of the last ten years; use YYYY-MM.")
        h = await views.history(control, session.user_id, month=first)
        return page("history.html", h=h, session=session, active="history")

    @app.get("/history/{day}", response_class=HTMLResponse)
    async def history_day(request: Request, day: str) -> HTMLResponse:
        session = await signed_in(request)
        selected = views.parse_day(day)
        if selected is None or not _in_range(selected):
            raise HttpProblem(404, f"{day[:20]!r} is not a day of the last ten years; use YYYY-MM-DD.")
        h = await views.history(control, session.user_id, selected=selected)
        return page("history.html", h=h, session=session, active="history")

    # ---- settings ----------------------------------------------------------------------------------

    async def settings_page(session: Session, *, status: int = 200, error: str | None = None,
                            values: dict[str, Any] | None = None, saved: bool = False) -> HTMLResponse:
        user = await control.user(session.user_id)
        values = values or {"timezone": user.timezone, "start_time": user.preferred_start_time,
                            "channel": user.slack_channel or "", "paused": user.paused}
        return page("settings.html", status, session=session, user=user, values=values, error=error,
                    notice="Settings saved." if saved else None, next_start=await control.next_start(user),
                    allow_any=control.settings.allow_any_start_time, active="settings")

    @app.get("/settings", response_class=HTMLResponse)
    async def settings_get(request: Request) -> HTMLResponse:
        return await settings_page(await signed_in(request), saved=request.query_params.get("done") == "saved")

    @app.post("/settings")
    async def settings_post(request: Request) -> Response:
        session = await signed_in(request)
        fields = await form(request, session)
        tz, start = fields.get("timezone", "").strip(), fields.get("start_time", "").strip()
        channel, paused = fields.get("channel", "").strip(), fields.get("paused") == "on"
        error = None
        if len(tz) > 64:
            error = f"The timezone is {len(tz):,} characters; the limit is 64."
        elif len(channel) > 30:
            error = "The notification channel must be a channel id like C0123ABCD (or empty for a DM)."
        if error is None:
            try:
                await control.save_settings(session.user_id, timezone=tz, start_time=start, channel=channel or None,
                                            paused=paused)
            except UserError as exc:
                error = str(exc)
        if error is not None:
            values = {"timezone": tz[:64], "start_time": start[:5], "channel": channel[:30], "paused": paused}
            return await settings_page(session, status=400, error=error, values=values)
        return RedirectResponse("/settings?done=saved", status_code=303)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "time": datetime.now().astimezone().isoformat()}

    return app

