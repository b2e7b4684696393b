"""Where an agent tool may connect: allowlisted domains only, and never loopback/private/metadata.

Checked on the host name (against the deployment's allowlist) and again on every address the name
resolves to, so a public name that points at 127.0.0.1 or 169.254.169.254 is refused too.

Only canonical URLs pass: Python's ``urlsplit`` and the CLI's WHATWG URL parser disagree on URLs with
backslashes, userinfo, percent-encoded or numeric hosts (``http://127.0.0.1:1\\@example.com/`` is
example.com to one and 127.0.0.1 to the other), so anything on which two parsers could differ is refused
rather than interpreted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# scheme://authority[/path?query#fragment] in printable ASCII without backslash or space.
_URL = re.compile(r"(?i)(https?)://([^/?#]*)([/?#][!-\[\]-~]*)?")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"(?i)0x[0-9a-f]*|[0-9]+")  # what the WHATWG parser would read as an IPv4 part
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "fd00:ec2::254/128"))
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
                         "metadata", "metadata.google.internal"})


def blocked_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):  # an IPv4 address wrapped in IPv6 is judged as itself
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None:
            address = address.sixtofour
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
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


def canonical_url(url: str) -> tuple[str, str, int | None]:
    """(canonical URL, host, port) of an http(s) URL every parser reads the same; ValueError otherwise.

    The host is a plain DNS name (letters, digits, hyphens; no trailing dot, no numeric last label) or
    a strict dotted-quad / bracketed IPv6 literal. No userinfo, backslash, whitespace, control or
    non-ASCII character, no percent-encoding in the authority.
    """
    shown = repr(url[:200])
    if not isinstance(url, str) or len(url) > 8192:
        raise ValueError(f"not a valid URL: {shown}")
    match = _URL.fullmatch(url) if re.fullmatch(r"[!-\[\]-~]+", url) else None
    if match is None:
        raise ValueError(f"only plain http(s) URLs can be fetched: no backslash, whitespace, control or "
                         f"non-ASCII characters (refused {shown})")
    scheme, authority, rest = match.group(1).lower(), match.group(2), match.group(3) or "/"
    if "@" in authority or "%" in authority:
        raise ValueError(f"URLs with user names, passwords or percent-encoded hosts are refused ({shown})")
    host, port = authority, None
    if authority.startswith("["):
        end = authority.find("]")
        host, tail = authority[: end + 1], authority[end + 1:]
        if end < 0 or (tail and not tail.startswith(":")):
            raise ValueError(f"not a valid URL host: {shown}")
        port_text = tail[1:] if tail else None
    elif ":" in authority:
        host, port_text = authority.split(":", 1)
    else:
        port_text = None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or not 0 < int(port_text) < 65536:
            raise ValueError(f"not a valid port in {shown}")
        port = int(port_text)
    host = host.lower()
    if host.startswith("["):
        try:
            literal = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"not a valid IPv6 address in {shown}") from None
        host = f"[{literal.compressed}]"
    else:
        labels = host.split(".")
        if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"the host must be a plain DNS name or IP address, without trailing dot (refused {shown})")
        if _NUMERIC_LABEL.fullmatch(labels[-1]):  # an IPv4 literal: only the strict dotted-decimal form
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(f"numeric hosts must be written as four decimal numbers (refused {shown})") from None
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{rest}", host.strip("[]"), port


async def url_problem(url: str, allowed: Iterable[str]) -> str | None:
    """None if an agent may fetch ``url``, else why not."""
    allowed = tuple(allowed)
    try:
        _canonical, host, port = canonical_url(url)
    except ValueError as exc:
        return str(exc)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and blocked_address(literal):
        return f"{host} is a loopback, private or metadata address: agents may never reach it"
    if host in LOCAL_NAMES or host.endswith((".localhost", ".local", ".internal")):
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


def private_answer(domain: str) -> str | None:
    """Why an allowlisted name must not be listed (it resolves to a private address), or None.

    Bash of an http task reaches whatever the sandbox's proxy resolves a listed name to, and the proxy
    does not check addresses, so a listed name that points inside is refused up front. A name that does
    not resolve now is let through (it cannot be reached now either); see README for the window left.
    """
    try:
        infos = socket.getaddrinfo(domain, 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if blocked_address(address):
            return f"allowed domain {domain} resolves to {address}, a loopback, private or metadata address"
    return None
