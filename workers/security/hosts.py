"""Network host capabilities, pure: which hosts an agent's ``network_hosts`` admit.

Patterns (normalised like hosts: lowercase, IDNA, no trailing dot):

* ``api.example.com`` — exactly that host;
* ``*.example.com`` — any subdomain of ``example.com`` at any depth, **not** ``example.com``;
* ``*`` — any DNS name (never an IP literal);
* ``203.0.113.7`` / ``2001:db8::1`` — that address; ``10.0.0.0/8`` — any address in the network.

IP literals (in any spelling the C resolver accepts: ``127.1``, ``0x7f000001``, ``2130706433``,
``[::1]``) are admitted only by an address or network pattern, never by a name or wildcard, so a
``*`` grant does not open the metadata service or loopback. A resource may be a bare host,
``host:port`` or a URL; the port and path are ignored. Resolving names (DNS rebinding) is the
job of whoever opens the connection: it must re-check the address it connects to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["IpAddress", "host_decision", "ip_literal", "parse_host"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LEGACY_V4 = re.compile(r"[0-9a-fx.]+")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def parse_host(resource: str) -> str:
    """The normalised host of a host, ``host:port`` or URL.

    Raises:
        ValueError: no host, or not a valid host name.
    """
    text = resource.strip()
    if "://" in text:
        host = urlsplit(text).hostname or ""
    elif text.startswith("["):
        host = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        host = text.split(":", 1)[0]
    else:
        host = text
    host = host.strip().rstrip(".").lower()
    if not host:
        raise ValueError(f"no host in {resource!r}")
    if ":" in host:  # IPv6
        return str(ipaddress.IPv6Address(host.split("%", 1)[0]))
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"not a valid host name: {resource!r}") from exc
    if not all(_LABEL.fullmatch(label) for label in host.split(".")) or len(host) > 253:
        raise ValueError(f"not a valid host name: {resource!r}")
    return host


def ip_literal(host: str) -> IpAddress | None:
    """The address ``host`` spells (also legacy IPv4 forms like ``127.1``), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_V4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_decision(resource: str, patterns: Iterable[str]) -> tuple[bool, str]:
    """Whether ``patterns`` admit the host of ``resource``, and why.

    Returns:
        ``(allowed, reason)``.
    """
    try:
        host = parse_host(resource)
    except ValueError as exc:
        return False, str(exc)
    address = ip_literal(host)
    for pattern in patterns:
        if _matches(host, address, pattern.strip().lower()):
            return True, f"host {host} matches {pattern!r}"
    if address is not None:
        return False, f"IP literal {address} is not listed in network_hosts"
    return False, f"host {host} matches no network_hosts pattern"


def _matches(host: str, address: IpAddress | None, pattern: str) -> bool:
    if address is not None:
        try:
            if "/" in pattern:
                return address in ipaddress.ip_network(pattern, strict=False)
            listed = ip_literal(parse_host(pattern))
        except ValueError:
            return False
        return listed == address
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        try:
            suffix = parse_host(pattern[2:])
        except ValueError:
            return False
        return host.endswith("." + suffix)
    try:
        return parse_host(pattern) == host
    except ValueError:
        return False
