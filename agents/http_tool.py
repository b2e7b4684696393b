"""``http_request``: Dayshift's own HTTP tool for executors with the ``http`` capability (issue 13 item 3).

Only allowlisted hosts (DAYSHIFT_HTTP_ALLOWED_DOMAINS) are reached. The name is resolved here, every address
is checked (loopback, private and metadata addresses are refused), and the connection is pinned to a checked
address, so a name that answers differently on a second look-up (DNS rebinding) cannot reach anything else.
Redirects are followed by hand, each hop checked the same way. Per-host credentials come from the deployment's
settings and are added here: the model never sees them, and anything echoing them back is redacted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from agents.egress import LOCAL_NAMES, blocked_address, domain_allowed
from storage.redaction import redact

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Headers the model may not set: Dayshift owns the connection and the credentials.
_RESERVED_HEADERS = frozenset({"host", "authorization", "cookie", "proxy-authorization", "content-length",
                               "transfer-encoding", "connection"})
# (address to check, address to connect to). The production resolver returns the same address twice; a test
# resolver may send a checked public name to a loopback test server, which production never does.
Resolved = tuple[str, str]
Resolver = Callable[[str, int], Awaitable[list[Resolved]]]


async def system_resolver(host: str, port: int) -> list[Resolved]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
    return [(a, a) for a in dict.fromkeys(addresses)]


class HttpRefused(Exception):
    """The request may not be made; the message says why (shown to the model)."""


@dataclass
class HttpResult:
    status: int
    url: str
    content_type: str
    body: str
    truncated: bool
    redirects: list[str] = field(default_factory=list)

    def as_tool_text(self) -> str:
        return json.dumps({"status": self.status, "url": self.url, "content_type": self.content_type,
                           "truncated": self.truncated, "redirects": self.redirects, "body": self.body})


class _Pinned(AbstractResolver):
    """aiohttp's resolver for one connection: the host goes to the address that was checked, nothing else."""

    def __init__(self, host: str, address: str) -> None:
        self.host, self.address = host, address

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        if host != self.host:
            raise OSError(f"unexpected host {host}")
        fam = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        return [{"hostname": host, "host": self.address, "port": port, "family": fam, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


@dataclass
class HttpTool:
    allowed_domains: tuple[str, ...]
    # host (exact) -> headers Dayshift adds, e.g. {"api.github.com": {"Authorization": "Bearer ..."}}
    credentials: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    resolver: Resolver = system_resolver
    max_bytes: int = 200_000
    timeout_seconds: float = 20.0
    max_redirects: int = 3

    async def _target(self, url: str) -> tuple[str, int, str]:
        """(host, port, address to connect to) for an allowed URL, else HttpRefused."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise HttpRefused(f"not a valid URL: {url[:200]!r}") from exc
        if parts.scheme not in ("http", "https") or not host:
            raise HttpRefused(f"only http(s) URLs with a host (refused {url[:200]!r})")
        if parts.username or parts.password:
            raise HttpRefused("credentials in the URL are refused")
        try:
            ipaddress.ip_address(host)
            raise HttpRefused(f"{host}: give a host name, not an address")
        except ValueError:
            pass
        if host in LOCAL_NAMES or not domain_allowed(host, self.allowed_domains):
            listed = ", ".join(self.allowed_domains) or "none (DAYSHIFT_HTTP_ALLOWED_DOMAINS is empty)"
            raise HttpRefused(f"{host} is not on the allowed domains ({listed})")
        try:
            resolved = await self.resolver(host, port)
        except OSError as exc:
            raise HttpRefused(f"{host} does not resolve ({exc.strerror or exc})") from exc
        if not resolved:
            raise HttpRefused(f"{host} does not resolve")
        for checked, _ in resolved:
            if blocked_address(ipaddress.ip_address(checked)):
                raise HttpRefused(f"{host} resolves to {checked}, a loopback, private or metadata address: refused")
        return host, port, resolved[0][1]

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      json_body: Any = None, text_body: str | None = None) -> HttpResult:
        method = method.upper()
        if method not in METHODS:
            raise HttpRefused(f"method must be one of {', '.join(METHODS)}")
        own = {k: str(v) for k, v in (headers or {}).items() if k.lower() not in _RESERVED_HEADERS}
        redirects: list[str] = []
        for _ in range(self.max_redirects + 1):
            host, _port, address = await self._target(url)
            sent = {**own, **dict(self.credentials.get(host, {}))}  # a redirect elsewhere loses them
            connector = aiohttp.TCPConnector(resolver=_Pinned(host, address), use_dns_cache=False, force_close=True)
            timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
                async with session.request(method, url, headers=sent, allow_redirects=False,
                                           json=json_body if text_body is None else None, data=text_body) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = urljoin(url, resp.headers["Location"])
                        redirects.append(url)
                        if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                            method, json_body, text_body = "GET", None, None
                        continue
                    raw = await resp.content.read(self.max_bytes + 1)
                    body = raw[: self.max_bytes].decode(resp.get_encoding() if resp.charset else "utf-8",
                                                       errors="replace")
                    return HttpResult(status=resp.status, url=url, content_type=resp.content_type,
                                      body=redact(body), truncated=len(raw) > self.max_bytes, redirects=redirects)
        raise HttpRefused(f"more than {self.max_redirects} redirects")


def parse_credentials(raw: str, allowed_domains: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """DAYSHIFT_HTTP_CREDENTIALS: a JSON object host -> {header: value}; hosts must be allowlisted."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"DAYSHIFT_HTTP_CREDENTIALS is not JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(data, dict):
        raise ValueError('DAYSHIFT_HTTP_CREDENTIALS must be an object: {"host": {"Header": "value"}}')
    found: dict[str, dict[str, str]] = {}
    for host, hdrs in data.items():
        host = str(host).lower().rstrip(".")
        if not domain_allowed(host, allowed_domains):
            raise ValueError(f"DAYSHIFT_HTTP_CREDENTIALS names {host}, which is not in DAYSHIFT_HTTP_ALLOWED_DOMAINS")
        if not isinstance(hdrs, dict) or not all(isinstance(v, str) for v in hdrs.values()):
            raise ValueError(f"DAYSHIFT_HTTP_CREDENTIALS[{host!r}] must map header names to strings")
        found[host] = {str(k): v for k, v in hdrs.items()}
    return found
