"""The bus listener: one WebSocket port with three routes, as iii has them.

* ``/``                     the worker protocol (:func:`engine.connection.serve_worker`)
* ``/otel``                 telemetry-only socket: frames are read and discarded, never a worker
* ``/ws/channels/{id}``     data channels (``?key=…&dir=read|write``), when a hub is installed

Anything else is answered 404 before the upgrade.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from . import protocol as p
from .auth import Authenticator
from .connection import authenticate, serve_worker
from .router import Router

__all__ = ["BusServer", "ChannelRoutes"]

log = logging.getLogger(__name__)


class ChannelRoutes(Protocol):
    """What the data-channel hub offers the listener."""

    def accepts(self, path: str, query: str) -> bool:
        """True if the upgrade names a live channel with the right key."""

    async def serve(self, ws: ServerConnection) -> None: ...


class BusServer:
    """The WebSocket listener of the bus. ``async with BusServer(...) as s: s.port``."""

    def __init__(
        self,
        router: Router,
        auth: Authenticator,
        *,
        host: str,
        port: int,
        max_frame_bytes: int,
        handshake_timeout_s: float,
        grace_s: float,
        channels: ChannelRoutes | None = None,
    ) -> None:
        self.router, self.auth, self.channels = router, auth, channels
        self.host, self.requested_port = host, port
        self.max_frame_bytes = max_frame_bytes
        self.handshake_timeout_s = handshake_timeout_s
        self.grace_s = grace_s
        self._server: Server | None = None
        self.port = port

    async def __aenter__(self) -> BusServer:
        self._server = await serve(
            self._handle,
            self.host,
            self.requested_port,
            process_request=self._route,
            subprotocols=[p.MSGPACK_SUBPROTOCOL],  # type: ignore[list-item]
            select_subprotocol=_select_subprotocol,
            compression=None,
            max_size=self.max_frame_bytes,
            open_timeout=self.handshake_timeout_s,
            ping_interval=20,
            ping_timeout=20,
            # A peer that stops answering must not hold a close (or shutdown) for long.
            close_timeout=2,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path in ("/", "", "/otel"):
            return None
        if url.path.startswith("/ws/channels/") and self.channels is not None:
            if self.channels.accepts(url.path, url.query):
                return None
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    async def _handle(self, ws: ServerConnection) -> None:
        path = urlsplit(ws.request.path).path if ws.request else "/"
        if path == "/otel":
            if await authenticate(ws, self.auth) is not None:
                await _drain(ws)
        elif path.startswith("/ws/channels/") and self.channels is not None:
            await self.channels.serve(ws)
        else:
            await serve_worker(ws, self.router, self.auth, self.grace_s)


def _select_subprotocol(connection: ServerConnection, subprotocols: Any) -> Any:
    # Our SDK offers agentos.msgpack; iii SDKs offer nothing and get JSON.
    return p.MSGPACK_SUBPROTOCOL if p.MSGPACK_SUBPROTOCOL in subprotocols else None


async def _drain(ws: ServerConnection) -> None:
    try:
        async for _frame in ws:
            pass  # OTLP spans/logs/metrics from SDKs: accepted, not stored (yet)
    except ConnectionClosed:
        return
