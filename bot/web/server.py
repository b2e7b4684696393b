"""Runs the dashboard inside ``dayshift run``: uvicorn on the bot's own event loop, so it shares the
bot's ShiftControl, store and Temporal client; signals stay with the bot (it decides when to stop)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import uvicorn

from bot.control import ShiftControl
from bot.logging_setup import register_secret
from bot.settings import Settings
from bot.slack_client import web_client
from bot.web.app import WebDeps, create_web_app
from bot.web.auth import WebAuth
from bot.web.oidc import SlackOidc

log = logging.getLogger(__name__)


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The bot owns SIGINT/SIGTERM; uvicorn must not take them over."""
        yield


class Dashboard:
    def __init__(self, control: ShiftControl, *, host: str, port: int, public_url: str | None,
                 secret: bytes | None = None, oidc: SlackOidc | None = None) -> None:
        self.auth = WebAuth(control.store.web_sessions, secret or secrets.token_bytes(32))
        self.app = create_web_app(WebDeps(control=control, auth=self.auth, oidc=oidc,
                                          secure_cookie=bool(public_url and public_url.startswith("https://"))))
        self.host, self.port, self._public_url = host, port, public_url
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """DAYSHIFT_PUBLIC_URL, else where this machine reaches the server (loopback for a wildcard bind)."""
        if self._public_url:
            return self._public_url
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://{f'[{host}]' if ':' in host and not host.startswith('[') else host}:{self.port}"

    def link_for(self, user_id: str) -> str:
        """A personal sign-in link: HMAC-signed, single use, 10 minutes."""
        return f"{self.base_url}/auth/link?t={self.auth.issue(user_id)}"

    async def start(self) -> Dashboard:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise SystemExit(f"The web dashboard cannot listen on {self.host}:{self.port} ({exc.strerror}). "
                             "Set DAYSHIFT_WEB_PORT to a free port, or 0 to turn the dashboard off.") from exc
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, ws="none")
        self._server = _InLoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the web dashboard stopped during start-up")
            await asyncio.sleep(0.02)
        log.info("web dashboard listening", extra={"event": "web_started", "data": {"url": self.base_url}})
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=10)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_dashboard(settings: Settings, control: ShiftControl) -> Dashboard | None:
    """The dashboard of ``dayshift run``, or None when DAYSHIFT_WEB_PORT is 0."""
    if not settings.web_port:
        return None
    secret = settings.web_secret.get_secret_value().encode() if settings.web_secret else None
    if secret is not None:
        if len(secret) < 32:
            raise SystemExit("DAYSHIFT_WEB_SECRET must be at least 32 characters (or unset: a random one per run).")
        register_secret(secret.decode())
    return await Dashboard(control, host=settings.web_host, port=settings.web_port, public_url=settings.public_url,
                           secret=secret, oidc=await slack_sign_in(settings)).start()


async def slack_sign_in(settings: Settings) -> SlackOidc | None:
    """Sign in with Slack when the dashboard has a public URL and the app's client id/secret are set; the
    workspace is taken from the bot token, so accounts of other workspaces are refused. Slack being unreachable
    at start-up turns it off for this run (said in the log) rather than stopping ``dayshift run``."""
    if not (settings.public_url and settings.slack_client_id and settings.slack_client_secret):
        return None
    register_secret(settings.slack_client_secret.get_secret_value())
    if _loopback(settings.public_url):
        log.info("Sign in with Slack is off: DAYSHIFT_PUBLIC_URL is not public (a loopback address); "
                 "use the /dayshift dashboard link", extra={"event": "web_oidc_off"})
        return None
    team_id = None
    if settings.slack_bot_token is not None:
        try:
            auth = await asyncio.wait_for(
                web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url).auth_test(),
                timeout=15)
        except Exception as exc:  # unreachable, refused, timed out: the bot itself may still come up later
            log.warning("Sign in with Slack is off for this run: Slack's auth.test failed (%s); the "
                        "/dayshift dashboard link still works", type(exc).__name__,
                        extra={"event": "web_oidc_off"})
            return None
        team_id = str(auth.get("team_id") or "") or None
    return SlackOidc(client_id=settings.slack_client_id,
                     client_secret=settings.slack_client_secret.get_secret_value(),
                     redirect_uri=f"{settings.public_url}/auth/slack/callback", api_url=settings.slack_api_url,
                     team_id=team_id)


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
