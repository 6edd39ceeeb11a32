"""One open WebSocket to the engine, speaking the wire protocol: the SDK's I/O boundary.

Theory of operation
-------------------
A :class:`Session` owns one :class:`~workers.sdk._socket.WebSocket` (the asyncio shell over
websockets' sans-I/O client) and the codec the handshake settled on: msgpack binary frames when
the engine selected ``agentos.msgpack``, JSON text frames otherwise (an iii engine that ignores
the subprotocol still works). Every message is decoded with :mod:`engine.protocol` as its frame
is read; the first is kept for :meth:`Session.hello`, every later one goes to the
:class:`Receiver` (the link) synchronously, from the socket's ``data_received``. The receiver
never blocks: it resolves pending calls and queues invocations in a bounded pool.

Sending is synchronous (:meth:`Session.send_nowait`; the socket writes once per loop iteration)
after waiting for room when the transport is over its high-water mark (:meth:`Session.send`, or
:meth:`Session.drain` then a ``*_nowait``). Every socket error becomes :class:`Disconnected`,
which the connection treats as "reconnect".

The SDK is asyncio-only (``anyio.run(..., backend="asyncio")``, uvloop welcome): its hot path uses
asyncio primitives directly, because anyio's cost 5-20 times more per call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from pydantic import BaseModel
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.uri import WebSocketURI

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

from ._frames import WireFrame, encode
from ._socket import Disconnected, SocketStatistics, WebSocket, connect_socket
from .errors import AuthenticationError
from .types import Codec

__all__ = ["Session", "Receiver", "Disconnected", "open_session", "MAX_MESSAGE_BYTES"]

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest message accepted, as the iii SDKs allow."""


class Receiver(Protocol):
    """Who a session hands its messages to (the link). Both are called from the event loop."""

    def message_received(self, session: Session, message: Message) -> None:
        """One message after the hello. Must not block; errors are logged, not raised."""

    def session_lost(self, session: Session) -> None:
        """The socket closed (called once, after the opening handshake succeeded)."""


class Session:
    """An open WebSocket speaking the wire protocol in one codec. Get one from :func:`open_session`.

    Attributes:
        ws: the socket.
        loop: its event loop (cached: ``get_running_loop()`` costs a syscall on Python 3.11).
        use_msgpack: the engine selected ``agentos.msgpack`` (else JSON text frames).
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        codec: Codec,
        token: str | None,
        receiver: Receiver,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.loop = loop
        self.use_msgpack = False
        self.ws = WebSocket(
            uri,
            loop=loop,
            on_message=self._message_received,
            on_lost=self._lost,
            subprotocols=[MSGPACK_SUBPROTOCOL] if codec == "msgpack" else (),
            headers={"Authorization": f"Bearer {token}"} if token else None,
            max_size=MAX_MESSAGE_BYTES,
        )
        self._receiver = receiver
        self._greeted = False
        self._hello: asyncio.Future[Message | FrameError | None] = loop.create_future()

    @property
    def writing_paused(self) -> bool:
        return self.ws.writing_paused

    def statistics(self) -> SocketStatistics:
        return self.ws.statistics()

    def send_nowait(self, message: BaseModel) -> None:
        """Queue one message for writing.

        Raises:
            Disconnected: the socket is closed or closing.
            TypeError, ValueError: the codec cannot encode the message.
        """
        self.ws.send_nowait(encode_msgpack(message) if self.use_msgpack else encode_json(message))

    def send_wire_nowait(self, frame: WireFrame) -> None:
        """Queue one hot-path frame built by :mod:`workers.sdk._frames`.

        Raises:
            Disconnected: the socket is closed or closing.
            TypeError, ValueError: the codec cannot encode the frame (e.g. a ``set`` result).
        """
        self.ws.send_nowait(encode(frame, self.use_msgpack))

    async def send(self, message: BaseModel) -> None:
        """Wait for room in the write buffer, then queue ``message``. Safe from several tasks.

        Raises:
            Disconnected: the socket is closed.
        """
        if self.ws.writing_paused:
            await self.ws.drain()
        self.send_nowait(message)

    async def drain(self) -> None:
        """Return once there is room in the write buffer (or the socket is gone)."""
        await self.ws.drain()

    async def hello(self) -> WorkerRegistered:
        """Read the engine's first frame: ``workerregistered``, or an auth ``error``.

        Raises:
            AuthenticationError: the engine refused our credentials.
            Disconnected: the socket closed, or the first frame was unreadable or something else.
        """
        first = await self._hello
        if first is None:
            raise Disconnected(self.ws.lost_reason or "connection closed")
        if isinstance(first, FrameError):
            raise Disconnected(f"unreadable first frame: {first}") from first
        if isinstance(first, WorkerRegistered):
            return first
        if isinstance(first, ErrorMessage):
            raise AuthenticationError(first.error.code, first.error.message)
        raise Disconnected(f"expected workerregistered first, got {type(first).__name__}")

    async def wait_closed(self) -> None:
        """Return once the socket is closed (by either side)."""
        await self.ws.wait_closed()

    def close_nowait(self) -> None:
        """Start the closing handshake; :meth:`wait_closed` returns once it is done."""
        self.ws.close_nowait()

    async def aclose(self) -> None:
        """Close cleanly, waiting at most a couple of seconds, even when cancelled."""
        await self.ws.aclose()

    def abort(self) -> None:
        """Drop the socket at once."""
        self.ws.abort()

    # -- the socket's callbacks --------------------------------------------------------------

    def _message_received(self, data: bytes, text: bool) -> None:
        if not self._greeted:  # the handshake is done: the codec is settled
            self.use_msgpack = self.ws.subprotocol == MSGPACK_SUBPROTOCOL
        try:
            if text or not self.use_msgpack:
                if not data.strip():
                    return  # an empty text frame: nothing to decode
                message: Message = decode_json(data)
            else:
                message = decode_msgpack(data)
        except FrameError as exc:
            if not self._greeted:
                self._greet(exc)
            else:
                log.warning("ignoring a bad frame from the engine: %s", exc)
            return
        if not self._greeted:
            self._greet(message)
            return
        try:
            self._receiver.message_received(self, message)
        except Exception:
            log.exception("failed to handle %s from the engine", message.type)

    def _greet(self, first: Message | FrameError) -> None:
        self._greeted = True
        if not self._hello.done():
            self._hello.set_result(first)

    def _lost(self) -> None:
        if not self._hello.done():
            self._hello.set_result(None)
        self._receiver.session_lost(self)


async def open_session(
    url: str, *, codec: Codec, token: str | None, open_timeout: float, receiver: Receiver
) -> Session:
    """Open a WebSocket to the engine (directly: no HTTP proxy, no redirects).

    Args:
        url: ``ws://host:port[/path]`` or ``wss://…``.
        codec: ``msgpack`` offers the ``agentos.msgpack`` subprotocol; ``json`` offers none.
        token: sent as ``Authorization: Bearer <token>`` when set.
        open_timeout: seconds for the TCP connect plus the HTTP upgrade.
        receiver: gets every message after the hello, and the loss of the socket.

    Raises:
        AuthenticationError: the upgrade was refused with HTTP 401 or 403.
        Disconnected: any other failure to connect (refused, timed out, bad handshake).
    """
    loop = asyncio.get_running_loop()
    opened: list[Session] = []

    def session_for(uri: WebSocketURI) -> WebSocket:
        opened.append(Session(uri, codec=codec, token=token, receiver=receiver, loop=loop))
        return opened[0].ws

    try:
        await connect_socket(url, open_timeout, session_for)
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise AuthenticationError(
                "unauthorized", f"engine refused the upgrade: HTTP {status}"
            ) from exc
        raise Disconnected(f"engine refused the upgrade: HTTP {status}") from exc
    except InvalidHandshake as exc:
        raise Disconnected(f"cannot connect to {url}: {exc}") from exc
    return opened[0]
