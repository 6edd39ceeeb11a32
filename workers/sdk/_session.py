"""One open WebSocket to the engine: the only place that touches ``websockets``.

It encodes and decodes with :mod:`engine.protocol` in the codec the handshake settled on (msgpack
binary frames when the engine selected ``agentos.msgpack``, JSON text frames otherwise, so an
iii engine that ignores the subprotocol still works) and translates every socket error into
:class:`Disconnected`, which the connection treats as "reconnect".
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from engine.protocol import (
    MSGPACK_SUBPROTOCOL,
    ErrorMessage,
    FrameError,
    Message,
    WorkerRegistered,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
)

from .errors import AuthenticationError, SdkError
from .types import Codec

__all__ = ["Session", "Disconnected", "open_session", "MAX_MESSAGE_BYTES"]

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest frame accepted, as the iii SDKs allow."""

_CLOSE_TIMEOUT = 2.0


class Disconnected(SdkError):
    """The socket is gone (or never opened). Internal: the connection reconnects on it."""


class Session:
    """An open WebSocket speaking the wire protocol in one codec.

    Args:
        ws: the connected socket.
        use_msgpack: encode as msgpack binary frames (else JSON text frames).
    """

    __slots__ = ("ws", "use_msgpack")

    def __init__(self, ws: ClientConnection, use_msgpack: bool) -> None:
        self.ws = ws
        self.use_msgpack = use_msgpack

    async def send(self, message: BaseModel) -> None:
        """Write one message. Safe to call from several tasks at once.

        Raises:
            Disconnected: the socket is closed.
        """
        frame: str | bytes = encode_msgpack(message) if self.use_msgpack else encode_json(message)
        try:
            await self.ws.send(frame)
        except ConnectionClosed as exc:
            raise Disconnected(f"connection closed: {exc}") from exc

    async def receive(self) -> Message | None:
        """Read one message; None for a frame to skip (an empty text frame).

        Raises:
            Disconnected: the socket closed.
            FrameError: the frame is not a valid message (skip it and read on).
        """
        try:
            frame = await self.ws.recv()
        except ConnectionClosed as exc:
            raise Disconnected(f"connection closed: {exc}") from exc
        if isinstance(frame, str):
            return decode_json(frame) if frame.strip() else None
        return decode_msgpack(frame) if self.use_msgpack else decode_json(frame)

    async def hello(self) -> WorkerRegistered:
        """Read the engine's first frame: ``workerregistered``, or an auth ``error``.

        Raises:
            AuthenticationError: the engine refused our credentials.
            Disconnected: the socket closed, or the first frame was unreadable or something else.
        """
        try:
            msg = await self.receive()
        except FrameError as exc:
            raise Disconnected(f"unreadable first frame: {exc}") from exc
        if isinstance(msg, WorkerRegistered):
            return msg
        if isinstance(msg, ErrorMessage):
            raise AuthenticationError(msg.error.code, msg.error.message)
        raise Disconnected(f"expected workerregistered first, got {type(msg).__name__}")

    async def aclose(self) -> None:
        """Close the socket cleanly, waiting at most a couple of seconds, even when cancelled."""
        with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
            await self.ws.close()


async def open_session(
    url: str, *, codec: Codec, token: str | None, open_timeout: float
) -> Session:
    """Open a WebSocket to the engine.

    Args:
        url: ``ws://host:port[/path]``.
        codec: ``msgpack`` offers the ``agentos.msgpack`` subprotocol; ``json`` offers none.
        token: sent as ``Authorization: Bearer <token>`` when set.
        open_timeout: seconds for the TCP connect plus the HTTP upgrade.

    Raises:
        AuthenticationError: the upgrade was refused with HTTP 401 or 403.
        Disconnected: any other failure to connect (refused, timed out, bad handshake).
    """
    headers: dict[str, str] = {"Authorization": f"Bearer {token}"} if token else {}
    options: dict[str, Any] = {}
    if codec == "msgpack":
        options["subprotocols"] = [Subprotocol(MSGPACK_SUBPROTOCOL)]
    try:
        ws = await ws_connect(
            url,
            additional_headers=headers,
            compression=None,
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=open_timeout,
            **options,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise AuthenticationError(
                "unauthorized", f"engine refused the upgrade: HTTP {status}"
            ) from exc
        raise Disconnected(f"engine refused the upgrade: HTTP {status}") from exc
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise Disconnected(f"cannot connect to {url}: {exc}") from exc
    return Session(ws, use_msgpack=ws.subprotocol == MSGPACK_SUBPROTOCOL)
