"""The HTTP module's ASGI application: one request in, one invocation, one response out.

Theory of operation
-------------------
uvicorn parses HTTP and calls :meth:`HttpApp.__call__` once per request. The steps, each of
which may end the request early with an engine-made error envelope (:func:`~.http_wire.envelope`):

1. every response gets ``x-request-id`` (the client's if sane, else a fresh one),
   ``x-content-type-options: nosniff`` and, for an allowed ``Origin``, the CORS headers;
   a CORS preflight is answered here (204, or 403 ``CORS_REJECTED``);
2. more than ``concurrency_request_limit`` requests in flight → 503 ``OVERLOADED``;
3. the ``Authorization: Bearer`` header is checked with ``node.auth`` → 401 ``UNAUTHORIZED``;
   the request's credential (role, realm) becomes the invocation's :class:`~engine.types.Call`;
4. the route table is consulted → 404 ``NOT_FOUND``, or 405 ``METHOD_NOT_ALLOWED`` with ``Allow``;
5. the body is read incrementally within ``default_timeout`` → 413 ``PAYLOAD_TOO_LARGE`` as soon as
   it passes ``max_body_bytes`` (or its ``content-length`` says it will), 408
   ``REQUEST_TIMEOUT`` for a body that trickles in too slowly, 400 ``INVALID_JSON``;
6. :class:`~.http_exchange.Exchange` runs middleware, the condition and the handler, and answers.

Every request runs inside a cancel scope kept in :attr:`HttpApp.active` (which is also the
in-flight count), so the module can end in-flight requests, streams included, when it stops.
Unexpected errors are logged with an ``error_id`` and answered 500 ``INTERNAL_ERROR``.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
from anyio import CancelScope

from ..auth import AuthFailure, is_loopback
from ..config import HttpModuleConfig
from ..types import Call, Credential
from .http_exchange import Exchange
from .http_routes import RouteTable, split_path
from .http_wire import Cors, Header, envelope, request_id_of

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["HttpApp", "Responder", "Refusal"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_BOOT = uuid.uuid4().hex[:16]
_SERIAL = itertools.count(1)
"""Generated request ids: this process's random prefix and a serial (no syscall per request)."""

_CLOSE = [(b"connection", b"close")]
"""On a 408: a client that trickles its body loses the connection. (A 413 keeps it: closing
with the rest of the body unread resets the connection, and the client may never see the 413;
uvicorn reads and discards the rest instead.)"""

class Refusal(Exception):
    """End the request with an engine-made error envelope."""

    def __init__(self, status: int, code: str, message: str, *, headers: Iterable[Header] = (), **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, list(headers), extra


class ClientGone(Exception):
    """The client disconnected before the request was read: nothing to answer."""


class Responder:
    """Writes one response through ASGI ``send``, adding the headers every response carries."""

    __slots__ = ("_send", "common", "head_only", "started", "ended", "status")

    def __init__(self, send: Send, common: list[Header], head_only: bool) -> None:
        self._send = send
        self.common = common
        self.head_only = head_only
        self.started = self.ended = False
        self.status = 0

    def _merge(self, headers: Iterable[Header]) -> list[Header]:
        ours = {name for name, _ in self.common}
        return self.common + [h for h in headers if h[0] not in ours]

    async def reply(self, status: int, headers: Iterable[Header], body: bytes) -> None:
        """Send a complete response (``content-length`` framing)."""
        merged = self._merge(headers)
        merged.append((b"content-length", str(len(body)).encode()))
        self.started = self.ended = True
        self.status = status
        await self._send({"type": "http.response.start", "status": status, "headers": merged})
        await self._send({"type": "http.response.body", "body": b"" if self.head_only else body})

    async def error(self, status: int, code: str, message: str, *, error_id: str | None = None,
                    headers: Iterable[Header] = (), **extra: Any) -> None:
        """Send the error envelope ``{"error": {code, message, error_id?}}``."""
        body = envelope(code, message, error_id=error_id, **extra)
        await self.reply(status, [(b"content-type", b"application/json"), *headers], body)

    async def start(self, status: int, headers: Iterable[Header]) -> None:
        """Begin a streamed response (chunked framing)."""
        self.started, self.status = True, status
        await self._send({"type": "http.response.start", "status": status, "headers": self._merge(headers)})

    async def chunk(self, data: bytes) -> None:
        if not self.head_only:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self) -> None:
        self.ended = True
        await self._send({"type": "http.response.body", "body": b""})


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers: names lower-case, repeated headers joined with ``, `` (cookies ``; ``)."""
    out: dict[str, str] = {}
    for key, value in raw:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        if name in out:
            out[name] += ("; " if name == "cookie" else ", ") + text
        else:
            out[name] = text
    return out


def _segments(scope: Scope) -> tuple[str, ...]:
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1")
    if "%" not in path:
        return split_path(path)
    return tuple(unquote(s) for s in path.split("/") if s)


class HttpApp:
    """The ASGI app of the ``iii-http`` module. Built and owned by :class:`~.http.HttpModule`."""

    def __init__(self, node: Node, config: HttpModuleConfig, routes: RouteTable) -> None:
        self.routes = routes
        self.auth = node.auth
        self.limit = config.concurrency_request_limit
        self.max_body = config.max_body_bytes
        self.body_timeout = config.default_timeout / 1000
        self.cors = Cors.of(config.cors.allowed_origins, config.cors.allowed_methods)
        self.exchange = Exchange(node, config)
        self.active: set[CancelScope] = set()
        self.served = 0
        self.overloaded = 0

    def close(self) -> None:
        """End every request in flight (the module is stopping)."""
        for scope in list(self.active):
            scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off and websockets are disabled; nothing else reaches us
        headers = _headers(scope["headers"])
        request_id = request_id_of(headers.get("x-request-id")) or f"{_BOOT}{next(_SERIAL):08x}"
        method: str = scope["method"]
        origin = headers.get("origin")
        common = [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]
        if method == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
            await self._preflight(Responder(send, common, False), origin, headers)
            return
        out = Responder(send, common + self.cors.headers_for(origin), method == "HEAD")
        self.served += 1
        if len(self.active) >= self.limit:
            self.overloaded += 1
            await out.error(503, "OVERLOADED", f"more than {self.limit} requests in flight; retry later",
                            headers=[(b"retry-after", b"1")])
            return
        with CancelScope() as cancel:
            self.active.add(cancel)
            try:
                await self._handle(scope, receive, out, headers, method)
            except Refusal as refusal:
                if not out.started:
                    await out.error(refusal.status, refusal.code, refusal.message, headers=refusal.headers, **refusal.extra)
            except ClientGone:
                pass
            except Exception:
                error_id = uuid.uuid4().hex[:12]
                log.exception("http %s %s failed (error_id=%s, request_id=%s)", method, scope["path"], error_id, request_id)
                if not out.started:
                    await out.error(500, "INTERNAL_ERROR", "internal error", error_id=error_id)
            finally:
                self.active.discard(cancel)
        if cancel.cancel_called:  # the module is stopping
            if not out.started:
                await out.error(503, "SHUTTING_DOWN", "the engine is stopping")
            elif not out.ended:
                await out.end()

    async def _preflight(self, out: Responder, origin: str, headers: dict[str, str]) -> None:
        allowed = self.cors.preflight(origin, headers["access-control-request-method"],
                                      headers.get("access-control-request-headers"))
        if allowed is None:
            await out.error(403, "CORS_REJECTED", "origin or method not allowed by the CORS policy")
        else:
            await out.reply(204, allowed, b"")

    async def _handle(self, scope: Scope, receive: Receive, out: Responder, headers: dict[str, str], method: str) -> None:
        try:
            credential = self.auth.authenticate(headers.get("authorization"))
        except AuthFailure as exc:
            raise Refusal(401, exc.code, exc.message, headers=[(b"www-authenticate", b"Bearer")]) from None
        if credential.name == "open" and not is_loopback((scope.get("client") or ("",))[0]):
            # Open mode trusts this machine only: a request from elsewhere (an HTTP module bound
            # to 0.0.0.0, as the seed's config does) is an anonymous client, never system.
            credential = Credential("client", None, "anonymous")
        segments = _segments(scope)
        found = self.routes.match(method, segments)
        if found is None:
            allowed = self.routes.allowed(segments)
            if allowed:
                raise Refusal(405, "METHOD_NOT_ALLOWED", f"{method} is not served on {scope['path']}",
                              headers=[(b"allow", ", ".join(allowed).encode())])
            raise Refusal(404, "NOT_FOUND", f"no route for {method} {scope['path']}")
        body = await self._read_body(receive, headers)
        route = found.route
        call = Call(route.function_id, None, None, credential.role, credential.realm, route.namespace,
                    route.metadata, headers.get("traceparent"))
        await self.exchange.run(found, call, scope.get("query_string", b""), headers, method, body, receive, out)

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        """The whole request body, refused as soon as it is too large or too slow.

        Raises:
            Refusal: 413 (over ``max_body_bytes``) or 408 (not complete within the timeout).
            ClientGone: the client disconnected.
        """
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise Refusal(413, "PAYLOAD_TOO_LARGE", f"the body is larger than {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.body_timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    raise Refusal(413, "PAYLOAD_TOO_LARGE", f"the body is larger than {self.max_body} bytes")
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            raise Refusal(408, "REQUEST_TIMEOUT", f"the body did not arrive within {self.body_timeout:g}s", headers=_CLOSE)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

