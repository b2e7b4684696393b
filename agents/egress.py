"""Where an agent tool may connect: allowlisted domains only, and never loopback/private/metadata.

Checked on the host name (against the deployment's allowlist) and again on every address the name
resolves to, so a public name that points at 127.0.0.1 or 169.254.169.254 is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "fd00:ec2::254/128"))
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
                         "metadata", "metadata.google.internal"})


def blocked_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (any(address in net for net in BLOCKED_NETWORKS) or address.is_private or address.is_loopback
            or address.is_link_local or address.is_reserved or address.is_multicast or address.is_unspecified)


def normalise_domain(entry: str) -> str:
    """One allowlist entry as a bare lower-case host name; raises ValueError for anything else."""
    domain = entry.strip().lower().rstrip(".")
    if domain.startswith("*."):
        domain = domain[2:]
    if not domain or "/" in domain or ":" in domain or " " in domain or "@" in domain:
        raise ValueError(f"{entry!r} is not a domain name (write e.g. example.com, without scheme or port)")
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        pass
    else:
        raise ValueError(f"{entry!r} is an IP address: the allowlist takes domain names only")
    if domain in LOCAL_NAMES or domain.endswith((".localhost", ".local", ".internal")):
        raise ValueError(f"{entry!r} names a local or internal host, which agents may never reach")
    return domain


def domain_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allowed)


async def url_problem(url: str, allowed: Iterable[str]) -> str | None:
    """None if an agent may fetch ``url``, else why not."""
    allowed = tuple(allowed)
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"not a valid URL: {url[:200]!r}"
    if parts.scheme not in ("http", "https") or not host:
        return f"only http(s) URLs with a host can be fetched (refused {url[:200]!r})"
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and blocked_address(literal):
        return f"{host} is a loopback, private or metadata address: agents may never reach it"
    if host.lower() in LOCAL_NAMES:
        return f"{host} is a local host name: agents may never reach it"
    if not domain_allowed(host, allowed):
        listed = ", ".join(allowed) or "none (DAYSHIFT_HTTP_ALLOWED_DOMAINS is empty)"
        return f"{host} is not on the allowed domains ({listed})"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{host} does not resolve ({exc.strerror or exc})"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if blocked_address(address):
            return f"{host} resolves to {address}, a loopback, private or metadata address: refused"
    return None
