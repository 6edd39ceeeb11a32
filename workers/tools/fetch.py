"""HTTP for the tools: every hop checked by the SSRF guard, dialled by IP, bounded.

:meth:`Fetcher.fetch` runs one request and its redirects by hand. For each hop:

1. :func:`~.netguard.resolve_target` checks the URL and resolves the host once;
2. ``check_host`` (the caller's capability check: ``network`` on that host) may refuse;
3. a fresh ``httpx.AsyncClient`` (no pooling across hops, no proxies from the environment)
   sends the request to the **checked IP**, with the original ``Host`` header and, for https,
   the original name as TLS server name (``sni_hostname``), so the certificate is verified
   against the name while the address cannot change under us;
4. the body is read up to ``max_bytes`` (the rest is not read), and a 301/302/303/307/308 with a
   ``Location`` becomes the next hop — 303, and 301/302 after a POST, continue as GET without a
   body (as browsers do); credentials (``Authorization``, ``Cookie``) are dropped when the
   origin changes.

The whole exchange, redirects included, is bounded by ``net.timeout_s``.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import anyio
import httpx

from .config import NetSettings
from .errors import FetchFailed, ToolTimeout, TooManyRedirects
from .netguard import Resolver, Target, parse_networks, resolve_target

__all__ = ["REDIRECTS", "Fetcher", "HostCheck", "Response"]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOT_FORWARDED = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
    "trailer", "proxy-authorization", "proxy-connection", "accept-encoding",
})
_CREDENTIALS = frozenset({"authorization", "cookie"})

HostCheck = Callable[[str], Awaitable[None]]
"""Called with each hop's host before it is contacted; raises to refuse."""


async def allow_any_host(host: str) -> None:
    """A :data:`HostCheck` that refuses nothing (for operator-configured endpoints)."""


@dataclass(slots=True)
class Response:
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    content: bytes
    truncated: bool
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"


class Fetcher:
    """Runs guarded requests.

    Args:
        settings: timeouts, caps, redirect limit, ``allow_private`` networks.
        resolver: where DNS answers come from (the guard's only source).
        verify: TLS verification (an ``ssl.SSLContext`` for a private CA; never disable it in
            production).
    """

    def __init__(self, settings: NetSettings, resolver: Resolver, *,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.settings = settings
        self.resolver = resolver
        self.allow = parse_networks(settings.allow_private)
        self.verify = verify

    async def fetch(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                    body: bytes | None = None, max_bytes: int,
                    check_host: HostCheck = allow_any_host, follow_redirects: bool = True) -> Response:
        """One request and its redirects; see the module docstring.

        Raises:
            UrlForbidden: a hop's URL or address is refused by the guard.
            Forbidden: ``check_host`` refused a hop's host.
            FetchFailed: DNS, connection, TLS or protocol failure.
            TooManyRedirects: more than ``max_redirects`` hops.
            ToolTimeout: the whole exchange took longer than ``timeout_s``.
        """
        try:
            with anyio.fail_after(self.settings.timeout_s):
                return await self._run(method.upper(), url, dict(headers or {}), body, max_bytes,
                                       check_host, follow_redirects)
        except TimeoutError as exc:
            raise ToolTimeout(f"{url} did not answer within {self.settings.timeout_s}s") from exc

    async def _run(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   max_bytes: int, check_host: HostCheck, follow: bool) -> Response:
        current: str | httpx.URL = url
        redirects: list[str] = []
        headers = {k: v for k, v in headers.items() if k.lower() not in _NOT_FORWARDED}
        while True:
            target = await resolve_target(current, self.resolver, self.allow)
            await check_host(target.host)
            status, got, content, truncated = await self._send(target, method, headers, body,
                                                               max_bytes)
            location = got.get("location")
            if not (follow and status in REDIRECTS and location):
                return Response(url, str(target.url), status, got, content, truncated, redirects)
            if len(redirects) >= self.settings.max_redirects:
                raise TooManyRedirects(f"more than {self.settings.max_redirects} redirects from {url}")
            try:
                following = target.url.join(location)
            except httpx.InvalidURL as exc:
                raise FetchFailed(f"bad redirect Location {location!r}: {exc}") from exc
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
            if _origin(following) != _origin(target.url):
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
            redirects.append(str(following))
            current = following

    async def _send(self, target: Target, method: str, headers: dict[str, str],
                    body: bytes | None, max_bytes: int) -> tuple[int, dict[str, str], bytes, bool]:
        sent = {**headers, "Host": target.host_header(), "Accept-Encoding": "identity"}
        sent.setdefault("User-Agent", self.settings.user_agent)
        extensions = {}
        if target.url.scheme == "https" and target.host != str(target.ip):
            extensions["sni_hostname"] = target.host
        timeout = httpx.Timeout(self.settings.timeout_s)
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False, verify=self.verify,
                                     timeout=timeout) as client:
            request = client.build_request(method, target.pinned_url(), headers=sent,
                                           content=body, extensions=extensions)
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise FetchFailed(f"{target.host} ({target.ip}): {type(exc).__name__}: {exc}") from exc
            try:
                chunks: list[bytes] = []
                total, truncated = 0, False
                async for chunk in response.aiter_bytes():
                    room = max_bytes - total
                    chunks.append(chunk[:room])
                    total += min(len(chunk), room)
                    if len(chunk) > room:
                        truncated = True
                        break
            except httpx.HTTPError as exc:
                raise FetchFailed(f"{target.host}: reading the body failed: {exc}") from exc
            finally:
                await response.aclose()
            got = {k.lower(): v for k, v in response.headers.items()}
            return response.status_code, got, b"".join(chunks), truncated


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port
