"""The I/O shell of one worker connection: authenticate, decode frames, hand them to the router.

Everything protocol-shaped happens in :mod:`engine.protocol` and :mod:`engine.router`; this module
only reads frames, writes frames and owns the connection's timers (the namespace grace period).
A bad frame is answered (or logged) and the connection goes on; only a protocol-level problem
(oversized frame, broken WebSocket) closes it, and never the engine.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from pydantic import BaseModel
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from . import protocol as p
from .auth import Authenticator, AuthFailure
from .router import Router
from .session import Session
from .types import Credential

__all__ = ["WsPeer", "serve_worker", "authenticate"]

log = logging.getLogger(__name__)

_TELEMETRY_PREFIXES = (b"OTLP", b"MTRC", b"LOGS")


class WsPeer:
    """A session's socket, writing msgpack or JSON frames as the client negotiated."""

    __slots__ = ("ws", "msgpack")

    def __init__(self, ws: ServerConnection, use_msgpack: bool) -> None:
        self.ws = ws
        self.msgpack = use_msgpack

    async def send(self, message: BaseModel) -> None:
        frame: str | bytes = p.encode_msgpack(message) if self.msgpack else p.encode_json(message)
        try:
            await self.ws.send(frame)
        except ConnectionClosed as exc:
            raise ConnectionError("worker connection closed") from exc

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


def _decode(frame: str | bytes, use_msgpack: bool) -> BaseModel | None:
    if isinstance(frame, str):
        return p.decode_json(frame) if frame.strip() else None
    if frame[:4] in _TELEMETRY_PREFIXES:
        return None  # OTLP telemetry in a binary frame: accepted, not routed
    return p.decode_msgpack(frame) if use_msgpack else p.decode_json(frame)


async def serve_worker(ws: ServerConnection, router: Router, auth: Authenticator, grace_s: float) -> None:
    """Serve one worker connection until it closes.

    Args:
        ws: the upgraded WebSocket on path ``/``.
        grace_s: how long registrations wait for the worker's namespace before it defaults.
    """
    credential = await authenticate(ws, auth)
    if credential is None:
        return
    use_msgpack = ws.subprotocol == p.MSGPACK_SUBPROTOCOL
    peer = WsPeer(ws, use_msgpack)
    session = Session(peer, credential, remote=_addr(ws.remote_address))
    router.attach(session)
    try:
        await peer.send(p.WorkerRegistered(worker_id=session.worker_id, reattach_token=session.reattach_token))
        async with anyio.create_task_group() as tg:
            tg.start_soon(_grace, router, session, grace_s)
            await _read_loop(ws, router, session, use_msgpack)
            tg.cancel_scope.cancel()
    except ConnectionError:
        pass
    finally:
        with anyio.CancelScope(shield=True):
            await router.detach(session)


async def authenticate(ws: ServerConnection, auth: Authenticator) -> Credential | None:
    """Check the upgrade's Bearer token; on failure send ``{"type":"error"}``, close, return None."""
    try:
        return auth.authenticate(ws.request.headers.get("Authorization") if ws.request else None)
    except AuthFailure as exc:
        log.info("refused connection from %s: %s", ws.remote_address, exc.message)
        try:
            await ws.send(p.encode_json(p.ErrorMessage(error=p.ErrorBody(code=exc.code, message=exc.message))))
            await ws.close(1008, exc.message)
        except ConnectionClosed:
            pass
        return None


async def _read_loop(ws: ServerConnection, router: Router, session: Session, use_msgpack: bool) -> None:
    bad_frames = 0
    try:
        async for frame in ws:
            try:
                msg = _decode(frame, use_msgpack)
            except p.FrameError as exc:
                bad_frames += 1
                if bad_frames <= 3 or bad_frames % 1000 == 0:
                    log.warning("bad frame from worker %s (%d so far): %s", session.worker_id, bad_frames, exc)
                await _answer_bad_frame(session, exc)
                continue
            if msg is not None and not session.closing:
                await router.handle(session, msg)
    except ConnectionClosed:
        return


async def _answer_bad_frame(session: Session, exc: p.FrameError) -> None:
    body = p.ErrorBody(code=exc.code, message=str(exc))
    msg: BaseModel
    if exc.invocation_id is not None:
        msg = p.InvocationResult(invocation_id=exc.invocation_id, function_id="", error=body)
    else:
        msg = p.ErrorMessage(error=body)
    await session.peer.send(msg)


async def _grace(router: Router, session: Session, grace_s: float) -> None:
    await anyio.sleep(grace_s)
    await router.resolve_namespace(session)


def _addr(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
