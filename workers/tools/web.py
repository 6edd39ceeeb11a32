"""``tool::web_fetch``, ``tool::http_request`` and ``tool::web_search``.

Every hop of every request is checked twice: by the SSRF guard (:mod:`.netguard`: no private,
loopback, link-local or metadata address, the address pinned) and by the agent's ``network``
capability on the hop's host (:class:`~.policy.Policy`: ``security::check_capability``, else
the agent's ``network_hosts``). ``web_search`` talks only to the configured provider's endpoint
(operator configuration, so no per-agent host check, but the SSRF guard still applies) and is
``not_configured`` without one.

Taint (:mod:`.sinks`): all three are ``http`` sinks — before the first hop is even resolved,
the outgoing text (``web_fetch``: the URL; ``http_request``: method, URL, headers and body;
``web_search``: the query) is checked, so a secret or personal data in it, or a run holding
secrets, sends nothing. Credentials a request needs belong to a worker that holds them, not in
text a model writes. All three declare ``output_taint: ["untrusted"]`` at registration: what
they return comes from outside.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field

from workers.sdk import Context

from .config import ToolsConfig
from .errors import FetchFailed, InvalidArguments, NotConfigured, TooLarge
from .fetch import Fetcher, Response
from .htmltext import html_to_text
from .identity import Request, caller_of, parse
from .policy import Policy
from .sinks import Gate, as_text

__all__ = ["HttpRequest", "Web", "WebFetchRequest", "WebSearchRequest"]

Url = Annotated[str, Field(min_length=1, max_length=8192, description="An http(s) URL")]
_TEXTUAL = ("text/", "application/json", "application/xml", "application/xhtml+xml",
            "application/javascript", "application/ld+json", "application/rss+xml",
            "application/atom+xml")


class WebFetchRequest(Request):
    url: Url
    max_bytes: Annotated[int, Field(ge=1)] | None = Field(None, description="Read at most this much")
    raw: bool = Field(False, description="Return HTML as-is instead of its text")


class HttpRequest(Request):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: Url
    headers: dict[Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=8192)]] = Field(
        default_factory=dict, max_length=50)
    body: str | None = Field(None, description="The request body")
    body_encoding: Literal["utf-8", "base64"] = "utf-8"
    max_bytes: Annotated[int, Field(ge=1)] | None = None
    follow_redirects: bool = True


class WebSearchRequest(Request):
    query: Annotated[str, Field(min_length=1, max_length=1000)]
    count: Annotated[int, Field(ge=1, le=20)] | None = None


def _body(response: Response, *, as_text: bool) -> tuple[str, str]:
    """``(content, encoding)``: text when the type is textual and decodes, else base64."""
    textual = response.content_type.startswith(_TEXTUAL) or not response.content_type
    if textual:
        try:
            text = response.content.decode(response.charset)
        except (LookupError, UnicodeDecodeError):
            text = None
        if text is not None:
            if as_text and response.content_type in ("text/html", "application/xhtml+xml"):
                text = html_to_text(text)
            return text, "utf-8"
    return base64.b64encode(response.content).decode(), "base64"


class Web:
    """The web tools over one config, one fetcher and the taint gate."""

    def __init__(self, config: ToolsConfig, fetcher: Fetcher, gate: Gate) -> None:
        self.config, self.fetcher, self.gate = config, fetcher, gate

    def _cap(self, asked: int | None) -> int:
        cap = self.config.net.max_bytes
        if asked is not None and asked > cap:
            raise InvalidArguments(f"max_bytes {asked} exceeds the cap of {cap}")
        return asked or self.config.net.default_max_bytes

    async def fetch(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``tool::web_fetch``: GET a URL; HTML comes back as text."""
        req = parse(WebFetchRequest, data)
        caller = caller_of(ctx, self.config)
        policy = Policy(self.config, ctx, caller)
        await self.gate.enforce(ctx, caller, "http", req.url, what="the URL", policy=policy)
        response = await self.fetcher.fetch("GET", req.url, max_bytes=self._cap(req.max_bytes),
                                            check_host=lambda host: policy.require("network", host))
        content, encoding = _body(response, as_text=not req.raw)
        return {"url": req.url, "final_url": response.final_url, "status": response.status,
                "content_type": response.content_type, "content": content, "encoding": encoding,
                "truncated": response.truncated, "redirects": response.redirects}

    async def request(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``tool::http_request``: any method, headers and body, same guard."""
        req = parse(HttpRequest, data)
        caller = caller_of(ctx, self.config)
        policy = Policy(self.config, ctx, caller)
        body: bytes | None = None
        if req.body is not None:
            try:
                body = (base64.b64decode(req.body, validate=True) if req.body_encoding == "base64"
                        else req.body.encode("utf-8"))
            except binascii.Error as exc:
                raise InvalidArguments(f"body is not valid base64: {exc}") from exc
            if len(body) > self.config.net.max_request_body_bytes:
                raise TooLarge(f"the body exceeds {self.config.net.max_request_body_bytes} bytes")
        outgoing = "".join([f"{req.method} {req.url}\n",
                            *(f"{name}: {value}\n" for name, value in req.headers.items()),
                            "\n", as_text(body) if body is not None else ""])
        await self.gate.enforce(ctx, caller, "http", outgoing, what="the request", policy=policy)
        response = await self.fetcher.fetch(
            req.method, req.url, headers=req.headers, body=body, max_bytes=self._cap(req.max_bytes),
            check_host=lambda host: policy.require("network", host),
            follow_redirects=req.follow_redirects)
        content, encoding = _body(response, as_text=False)
        return {"url": req.url, "final_url": response.final_url, "status": response.status,
                "headers": response.headers, "body": content, "encoding": encoding,
                "truncated": response.truncated, "redirects": response.redirects}

    async def search(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``tool::web_search``: the configured provider's results, or ``not_configured``."""
        req = parse(WebSearchRequest, data)
        caller = caller_of(ctx, self.config)
        settings = self.config.search
        if settings.provider is None or settings.api_key is None:
            raise NotConfigured("no web search provider is configured (search.provider and "
                                "search.api_key in the tools config)")
        await self.gate.enforce(ctx, caller, "http", req.query, what="the query")
        count = min(req.count or settings.max_results, settings.max_results)
        url = str(httpx.URL(settings.endpoint, params={"q": req.query, "count": count}))
        response = await self.fetcher.fetch(
            "GET", url, headers={"Accept": "application/json",
                                 "X-Subscription-Token": settings.api_key.get_secret_value()},
            max_bytes=self.config.net.default_max_bytes)
        if response.status != 200:
            raise FetchFailed(f"the search provider answered HTTP {response.status}")
        try:
            payload = json.loads(response.content)
            results = payload.get("web", {}).get("results", [])
        except (ValueError, AttributeError) as exc:
            raise FetchFailed("the search provider answered something that is not its JSON") from exc
        return {"query": req.query, "results": [
            {"title": r.get("title", ""), "url": r.get("url", ""), "description": r.get("description", "")}
            for r in results[:count] if isinstance(r, dict)]}
