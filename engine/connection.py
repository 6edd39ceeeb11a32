"""The worker side of a bus socket: authenticate, decode frames, hand them to the router.

Everything protocol-shaped happens in :mod:`engine.protocol` and :mod:`engine.router`; framing
and buffers are :mod:`engine.websocket`'s. This module decodes and routes, and owns the
connection's task (the namespace grace period and the messages that must wait).

Theory of operation
-------------------
Each read batch arrives as one synchronous call (:meth:`WorkerConnection.receive`). Every frame
is decoded, which validates it, and calls, results and pings are routed inline by
:meth:`Router.handle_nowait`: no task, no await. A message that needs awaiting (a registration,
the worker's metadata call, a reattach) goes to the connection's backlog, and so does every
frame after it until the backlog is empty, so the router sees one connection's frames in
arrival order. The connection's task works through the backlog with :meth:`Router.handle`; a
backlog past ``_BACKLOG_HIGH`` stops reading the socket until it is worked off.

A bad frame is answered (or logged) in its place in that order, and the connection goes on;
only a protocol-level problem (oversized frame, broken WebSocket) closes it, and never the
engine. Once the router drops a connection, its later frames are read (so the close handshake
completes) and discarded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import anyio
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed

from . import protocol as p
from .auth import Authenticator, AuthFailure
from .router import Router
from .session import Session
from .types import Credential
from .websocket import Data, WebSocket

__all__ = ["WsPeer", "WorkerConnection", "authenticate"]

log = logging.getLogger(__name__)

_TELEMETRY_PREFIXES = (b"OTLP", b"MTRC", b"LOGS")
_BACKLOG_HIGH = 256
"""Messages waiting for the connection's task before the socket stops being read."""

Item = tuple[BaseModel | p.FrameError, str | bytes | None]


class WsPeer:
    """A session's socket, writing msgpack or JSON frames as the client negotiated."""

    __slots__ = ("ws", "msgpack")

    def __init__(self, ws: WebSocket, use_msgpack: bool) -> None:
        self.ws = ws
        self.msgpack = use_msgpack

    def send_nowait(self, message: p.Outbound, raw: str | bytes | None = None) -> None:
        if raw is not None and (type(raw) is bytes) is self.msgpack:
            frame: Data = raw  # a relayed frame already in this peer's codec
        else:
            frame = p.encode_msgpack(message) if self.msgpack else p.encode_json(message)
        try:
            self.ws.send_nowait(frame)
        except ConnectionClosed as exc:
            raise ConnectionError("worker connection closed") from exc

    async def send(self, message: p.Outbound) -> None:
        await self.ws.drain()
        self.send_nowait(message)

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


def decode(frame: Data, use_msgpack: bool) -> tuple[BaseModel | None, str | bytes | None]:
    """The message in one frame (None for blank or telemetry frames), and the frame itself
    when it is in the session's own codec (what a relay may forward as is).

    Raises:
        FrameError: the frame is not a valid message.
    """
    if type(frame) is bytes:
        if use_msgpack:
            if frame[:4] in _TELEMETRY_PREFIXES:
                return None, None  # OTLP telemetry in a binary frame: accepted, not routed
            return p.decode_msgpack(frame), frame
        if frame[:4] in _TELEMETRY_PREFIXES:
            return None, None
        return p.decode_json(frame), None  # JSON in a binary frame: re-encoded if relayed
    if not frame.strip():
        return None, None
    return p.decode_json(frame), (None if use_msgpack else frame)


def authenticate(ws: WebSocket, auth: Authenticator) -> Credential | None:
    """Check the upgrade's Bearer token; on failure send ``{"type":"error"}``, close, return None."""
    try:
        return auth.authenticate(ws.request.headers.get("Authorization") if ws.request else None)
    except AuthFailure as exc:
        log.info("refused connection from %s: %s", ws.remote_address, exc.message)
        error = p.ErrorMessage(error=p.ErrorBody(code=exc.code, message=exc.message))
        ws.send_nowait(p.encode_json(error))
        ws.close_nowait(1008, exc.message)
        return None


class WorkerConnection:
    """One authenticated worker socket: its session, its backlog and its task (:meth:`run`).

    Create it when the socket opens (it attaches the session and queues ``workerregistered``),
    then run :meth:`run` in the listener's task group until the socket closes.
    """

    def __init__(self, ws: WebSocket, router: Router, credential: Credential, grace_s: float) -> None:
        self.ws, self.router, self.grace_s = ws, router, grace_s
        self.msgpack = ws.subprotocol == p.MSGPACK_SUBPROTOCOL
        self.peer = WsPeer(ws, self.msgpack)
        self.session = Session(self.peer, credential, remote=_addr(ws.remote_address))
        self.backlog: deque[Item] = deque()
        self.bad_frames = 0
        self._wake = asyncio.Event()
        router.attach(self.session)
        self.peer.send_nowait(p.WorkerRegistered(worker_id=self.session.worker_id,
                                                 reattach_token=self.session.reattach_token))
        ws.on_messages = self.receive
        ws.on_close = self._wake.set

    def receive(self, frames: list[Data]) -> None:
        """Route one read batch (the socket calls this)."""
        session, backlog, router, use_msgpack = self.session, self.backlog, self.router, self.msgpack
        msg: BaseModel | None
        raw: str | bytes | None
        for frame in frames:
            if session.closing:
                return
            try:
                if use_msgpack and type(frame) is bytes and frame[:4] not in _TELEMETRY_PREFIXES:
                    msg, raw = p.decode_msgpack(frame), frame  # the hot path, inlined
                else:
                    msg, raw = decode(frame, use_msgpack)
            except p.FrameError as exc:
                if backlog:
                    backlog.append((exc, None))
                else:
                    self._bad_frame(exc)
                continue
            if msg is None:
                continue
            if not backlog:
                try:
                    if router.handle_nowait(session, msg, raw):
                        continue
                except ConnectionError:
                    return  # our own socket is gone: the close is on its way
            backlog.append((msg, raw))
            if len(backlog) == 1:
                self._wake.set()
            elif len(backlog) == _BACKLOG_HIGH:
                self.ws.hold(self)

    async def run(self) -> None:
        """Work through the backlog until the socket closes, then detach the session."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._grace)
                await self._work()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.router.detach(self.session)

    async def _work(self) -> None:
        session, backlog = self.session, self.backlog
        while not self.ws.closed:
            if session.closing:
                backlog.clear()  # dropped: later frames are read only to finish the close
                self.ws.release(self)
            if not backlog:
                self._wake.clear()
                await self._wake.wait()
                continue
            item, raw = backlog[0]
            try:
                if isinstance(item, p.FrameError):
                    self._bad_frame(item)
                else:
                    await self.router.handle(session, item, raw)
            except ConnectionError:
                return
            if backlog:
                backlog.popleft()
            if len(backlog) < _BACKLOG_HIGH // 4:
                self.ws.release(self)

    def _bad_frame(self, exc: p.FrameError) -> None:
        self.bad_frames += 1
        if self.bad_frames <= 3 or self.bad_frames % 1000 == 0:
            log.warning("bad frame from worker %s (%d so far): %s", self.session.worker_id, self.bad_frames, exc)
        body = p.ErrorBody(code=exc.code, message=str(exc))
        msg: BaseModel
        if exc.invocation_id is not None:
            msg = p.InvocationResult(invocation_id=exc.invocation_id, function_id="", error=body)
        else:
            msg = p.ErrorMessage(error=body)
        try:
            self.peer.send_nowait(msg)
        except ConnectionError:
            pass  # our own socket is gone: the close is on its way

    async def _grace(self) -> None:
        await anyio.sleep(self.grace_s)
        try:
            await self.router.resolve_namespace(self.session)
        except ConnectionError:
            pass


def _addr(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
