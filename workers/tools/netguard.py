"""The SSRF guard: which addresses a fetch may reach, and the resolver it asks.

Theory of operation
-------------------
A URL is reduced to a :class:`Target`: scheme (``http``/``https`` only), host, port, and **the IP
address the connection will use**. The host is resolved once, by an injectable
:class:`Resolver`; every address it returns must pass :func:`blocked_reason`, or the URL is
refused (one private answer among public ones refuses it: no round-robin luck). The fetcher
then connects to ``Target.ip`` itself — the name is never resolved again — with the original
host in the ``Host`` header and as the TLS server name, so certificates are still checked
against the name. A DNS answer that changes between the check and the connection (rebinding)
therefore changes nothing. Each redirect hop is a new URL and goes through all of this again.

Refused, unless a configured ``allow_private`` network contains the address:

* IPv4: 0.0.0.0/8, 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16 (link-local, incl. the
  169.254.169.254 metadata service), 172.16/12, 192.0.0/24, 192.0.2/24, 192.168/16,
  198.18/15, 198.51.100/24, 203.0.113/24, 224/4 (multicast), 240/4, 255.255.255.255;
* IPv6: ::, ::1, fc00::/7 (ULA), fe80::/10 (link-local), ff00::/8 (multicast),
  2001:db8::/32, 100::/64, and anything else that is not global;
* IPv6 forms that carry an IPv4 address — IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
  ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo — are judged by that IPv4
  address as well.

Names are never trusted: ``localhost``, ``2130706433`` or ``0x7f.1`` resolve (the system
resolver accepts those spellings) to 127.0.0.1 and are refused after resolution. Pure, except
:class:`SystemResolver`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio
import httpx

from .errors import FetchFailed, UrlForbidden

__all__ = [
    "BLOCKED_NETWORKS",
    "IPAddress",
    "Network",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "Target",
    "blocked_reason",
    "embedded_ipv4",
    "parse_networks",
    "resolve_target",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_NETWORKS: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), label) for cidr, label in (
        ("0.0.0.0/8", "'this' network"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "CGNAT"),
        ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local / cloud metadata"),
        ("172.16.0.0/12", "private"), ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"), ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"), ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"), ("255.255.255.255/32", "broadcast"),
        ("::/128", "unspecified"), ("::1/128", "loopback"), ("fc00::/7", "unique local"),
        ("fe80::/10", "link-local"), ("ff00::/8", "multicast"), ("2001:db8::/32", "documentation"),
        ("100::/64", "discard"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def blocked_reason(ip: IPAddress, allow: Sequence[Network] = ()) -> str | None:
    """Why ``ip`` may not be reached, or None if it may."""
    if any(ip.version == net.version and ip in net for net in allow):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            why = blocked_reason(inner, allow)
            if why is not None:
                return f"{ip} carries {inner}, which is {why.split(' is ', 1)[-1]}"
    for net, label in BLOCKED_NETWORKS:
        if ip.version == net.version and ip in net:
            return f"{ip} is {label} ({net})"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


class Resolver(Protocol):
    """Name → addresses. The guard's only source of DNS answers (inject your own)."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to.

        Raises:
            OSError: the name does not resolve.
        """
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), off the event loop."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        out: list[IPAddress] = []
        for *_, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if ip not in out:
                out.append(ip)
        return out


class StaticResolver:
    """A hosts table: names map to fixed addresses; anything else does not resolve.

    A first-class resolver (like ``/etc/hosts`` without the fallback), for split-horizon
    setups and for tests that need a name resolving to a chosen address.
    """

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = {name.lower(): [ipaddress.ip_address(a) for a in addrs]
                      for name, addrs in table.items()}

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return list(self.table[host.lower().rstrip(".")])
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the table") from None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes: the URL as asked, and the checked address to connect to."""

    url: httpx.URL
    host: str
    """Lower-case host name (or IP literal) of ``url``: the Host header and TLS server name."""
    port: int
    ip: IPAddress

    def pinned_url(self) -> httpx.URL:
        """``url`` with its host replaced by the checked address (the only thing dialled)."""
        return self.url.copy_with(host=str(self.ip))

    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


async def resolve_target(url: str | httpx.URL, resolver: Resolver,
                         allow: Sequence[Network] = ()) -> Target:
    """Check ``url`` and pick the address to connect to.

    Raises:
        UrlForbidden: not http(s), credentials in it, no host, or an address that is refused.
        FetchFailed: the name does not resolve.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlForbidden(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise UrlForbidden(f"only http and https URLs may be fetched, not {parsed.scheme or '(none)'}")
    if parsed.userinfo:
        raise UrlForbidden("URLs with credentials (user:password@) are refused")
    host = parsed.host.lower().rstrip(".")
    if not host:
        raise UrlForbidden("the URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = await resolver.resolve(host, port)
        except OSError as exc:
            raise FetchFailed(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise FetchFailed(f"{host} resolves to no address")
    for ip in addresses:
        why = blocked_reason(ip, allow)
        if why is not None:
            raise UrlForbidden(f"{host} resolves to a refused address: {why}")
    return Target(parsed, host, port, addresses[0])
