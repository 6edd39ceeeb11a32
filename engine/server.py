"""The bus listener: one WebSocket port with three routes, as iii has them.

* ``/``                     the worker protocol (:class:`engine.connection.WorkerConnection`)
* ``/otel``                 telemetry-only socket: authenticated, never a worker; its frames go to
                            the telemetry sink (the observability module) with the realm of the
                            socket's credential, or are discarded when there is none
* ``/ws/channels/{id}``     data channels (``?key=…&dir=read|write``), when a hub is installed

Anything else is answered 404 before the upgrade. Every route runs over the same socket shell,
:class:`engine.websocket.WebSocket`, on a plain ``loop.create_server``; the listener's task group
owns each connection's task, and sockets of one listener share one :class:`Flusher`, so a read
batch writes each peer it touched once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskGroup
from websockets.http11 import Request, Response

from . import protocol as p
from .auth import Authenticator
from .connection import WorkerConnection, authenticate
from .router import Router
from .websocket import Data, Flusher, Limits, WebSocket

__all__ = ["BusServer", "ChannelRoutes", "MessageSocket", "TelemetrySink"]

log = logging.getLogger(__name__)

MessageSocket = WebSocket
"""What a channel end is served over (``request``, ``async for``, ``send``, ``close``)."""


class ChannelRoutes(Protocol):
    """What the data-channel hub offers the listener."""

    def accepts(self, path: str, query: str) -> bool:
        """True if the upgrade names a live channel with the right key."""

    async def serve(self, ws: MessageSocket) -> None: ...


class TelemetrySink(Protocol):
    """Where the messages of ``/otel`` sockets go (the observability module)."""

    def receive_nowait(self, frames: list[Data], realm: str | None = None) -> None:
        """Take one read batch of an ``/otel`` socket, inline in the read; must never raise."""


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
        telemetry: TelemetrySink | None = None,
    ) -> None:
        self.router, self.auth, self.channels = router, auth, channels
        self.telemetry = telemetry
        self.host, self.requested_port = host, port
        self.max_frame_bytes = max_frame_bytes
        self.handshake_timeout_s = handshake_timeout_s
        self.grace_s = grace_s
        self.limits = Limits(
            max_size=max_frame_bytes,
            # A peer may legitimately have a few maximal frames in flight; past that it is not reading.
            write_limit=max(64 * 2**20, 4 * max_frame_bytes),
            handshake_timeout=handshake_timeout_s,
            # A peer that stops answering must not hold a close (or shutdown) for long.
            close_timeout=2.0,
            ping_interval=20.0,
            ping_timeout=20.0,
        )
        self.port = port
        self.sockets: set[WebSocket] = set()
        self._flusher: Flusher | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> BusServer:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            loop = asyncio.get_running_loop()
            self._flusher = Flusher(loop)
            self._server = await loop.create_server(self._new_socket, self.host, self.requested_port)
        except BaseException as exc:
            await self._tg.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        assert self._server is not None and self._tg is not None
        self._server.close()
        for ws in list(self.sockets):
            ws.close_nowait(1001, "server shutting down")
        # Each socket is gone within its close timeout (it aborts itself); wait for that.
        with anyio.move_on_after(self.limits.close_timeout + 1):
            for ws in list(self.sockets):
                await ws.wait_closed()
        for ws in list(self.sockets):
            ws.abort()
        self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(*exc)

    # -- the Listener of every socket --------------------------------------------------------

    def _new_socket(self) -> WebSocket:
        assert self._flusher is not None
        ws = WebSocket(self, self._flusher, self.limits, [p.MSGPACK_SUBPROTOCOL])
        self.sockets.add(ws)
        return ws

    def handshake(self, ws: WebSocket, request: Request) -> Response:
        url = urlsplit(request.path)
        if url.path in ("/", "", "/otel"):
            return ws.accept(request)
        if url.path.startswith("/ws/channels/") and self.channels is not None:
            if self.channels.accepts(url.path, url.query):
                return ws.accept(request)
        return ws.reject(404, "not found\n")

    def opened(self, ws: WebSocket) -> None:
        assert self._tg is not None and ws.request is not None
        path = urlsplit(ws.request.path).path
        if path == "/otel":
            credential = authenticate(ws, self.auth)
            if credential is not None:
                sink = self.telemetry
                ws.on_messages = _discard if sink is None else functools.partial(sink.receive_nowait, realm=credential.realm)
        elif path.startswith("/ws/channels/") and self.channels is not None:
            self._tg.start_soon(self._serve_channel, ws, self.channels)
        else:
            credential = authenticate(ws, self.auth)
            if credential is not None:
                self._tg.start_soon(self._serve_worker, WorkerConnection(ws, self.router, credential, self.grace_s))

    def closed(self, ws: WebSocket) -> None:
        self.sockets.discard(ws)

    async def _serve_worker(self, conn: WorkerConnection) -> None:
        try:
            await conn.run()
        except Exception:
            log.exception("worker connection %s failed", conn.session.worker_id)
            conn.ws.abort()

    async def _serve_channel(self, ws: WebSocket, channels: ChannelRoutes) -> None:
        try:
            await channels.serve(ws)
        except Exception:
            log.exception("channel connection failed")
            ws.abort()
        ws.close_nowait(1000)


def _discard(frames: list[Data]) -> None:
    pass
