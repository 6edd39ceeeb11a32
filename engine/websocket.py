"""The I/O shell of one server-side WebSocket: an ``asyncio.Protocol`` over our own framing.

Theory of operation
-------------------
The bus spends most of its time moving small frames, so this shell is built for batches: each
``data_received`` parses every frame the read returned (:class:`engine.frames.FrameReader`) and
hands the messages to the application in one synchronous call (``on_messages``). Whatever the
application sends meanwhile is queued per socket and written once per socket after every readable
socket of this event-loop turn has been read (:class:`engine.ws_flusher.Flusher`). A socket with
more than ``high_water`` bytes queued is written at once.

The opening handshake is sans-I/O (:class:`engine.ws_handshake.Handshake`); this shell feeds it
the bytes, writes its response, runs the timeout and lets the :class:`Listener` decide per request.

The socket's lifecycle is :mod:`engine.ws_state`'s; its bounds, and how each buffer is kept
within them, are described in :mod:`engine.ws_limits`; messages waiting for ``recv()`` queue in
an :class:`engine.ws_inbox.Inbox`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, cast

from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.frames import Close
from websockets.http11 import Request, Response

from . import frames as f
from .frames import Data
from .ws_flusher import Flusher
from .ws_handshake import Handshake
from .ws_inbox import Inbox
from .ws_limits import Limits, SocketStatistics
from .ws_state import State, advance, close_error

__all__ = ["Data", "State", "Limits", "Listener", "Flusher", "WebSocket", "SocketStatistics"]

log = logging.getLogger(__name__)

_H16 = struct.Struct("!BBH").pack


class Listener(Protocol):
    """What a socket asks its listener during the opening handshake."""

    def handshake(self, ws: WebSocket, request: Request) -> Response:
        """Answer the upgrade: ``ws.accept(request)`` or ``ws.reject(status, text)``."""

    def opened(self, ws: WebSocket) -> None:
        """The 101 is on its way: plug the application in (``on_messages``, tasks, …)."""

    def closed(self, ws: WebSocket) -> None:
        """The TCP connection is gone (after ``opened``, or instead of it)."""


class WebSocket(asyncio.Protocol):
    """One server-side WebSocket connection; created by the listener's protocol factory.

    Once open, messages go to ``on_messages`` (called with every message of a read batch, in
    order) when the application set it, else to the inbox ``recv()`` reads.
    """

    def __init__(self, listener: Listener, flusher: Flusher, limits: Limits,
                 subprotocols: list[str]) -> None:
        self.listener, self.flusher, self.limits = listener, flusher, limits
        self.state = State.CONNECTING
        self.request: Request | None = None
        self.subprotocol: str | None = None
        self.remote_address: Any = None
        self.on_messages: Callable[[list[Data]], None] | None = None
        self.on_close: Callable[[], None] | None = None
        self.close_sent: Close | None = None
        self.close_rcvd: Close | None = None
        self._rcvd_then_sent: bool | None = None
        self._transport: asyncio.Transport | None = None
        self._handshake = Handshake(subprotocols)
        self._reader = f.FrameReader(limits.max_size)
        self._out: list[bytes] = []
        self._queued = 0  # bytes in _out
        self._holds: set[object] = set()
        self._inbox = Inbox(flusher.loop, limits.max_queue, self.hold, self.release)
        self._discarding = False  # after a close frame or a failure: read, never parse
        self._held: set[WebSocket] = set()  # sources paused until this socket drains
        self.write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._loop = flusher.loop
        self._closed = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping: bytes | None = None

    # -- state -----------------------------------------------------------------------------

    def _advance(self, new: State) -> None:
        self.state = advance(self.state, new)

    @property
    def transport(self) -> asyncio.Transport:
        """The TCP transport (for ``abort()``, ``get_extra_info()``)."""
        assert self._transport is not None, "not connected yet"
        return self._transport

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    def close_exc(self) -> ConnectionClosed:
        """The exception a send or receive raises once the connection is (being) closed."""
        return close_error(self.close_rcvd, self.close_sent, self._rcvd_then_sent)

    def statistics(self) -> SocketStatistics:
        """How full this socket's buffers are now, and whether it is paused either way."""
        buffered = self._transport.get_write_buffer_size() if self._transport is not None else 0
        return SocketStatistics(self.state, buffered + self._queued, self.write_paused, len(self._inbox), bool(self._holds))

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(self.limits.high_water)
        self.remote_address = transport.get_extra_info("peername")
        self._timer = self._loop.call_later(self.limits.handshake_timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state is State.OPEN or state is State.CLOSING:
            if self._discarding:
                return  # after a close frame (RFC 6455 §1.4) or a failure
            flusher = self.flusher
            flusher.reading = self
            try:
                messages = self._reader.feed(data)
                if messages:
                    if self._reader.controls:
                        self._with_controls(messages)
                    elif self.on_messages is not None:
                        self.on_messages(cast(list[Data], messages))
                    else:
                        self._inbox.put_nowait(cast(list[Data], messages))
            except f.CloseError as exc:
                log.info("closing %s: %s", self.remote_address, exc)
                self._fail(exc.code, exc.reason)
            except Exception:  # a bug in the application: this connection only
                log.exception("failed to handle a frame from %s", self.remote_address)
                self._fail(1011, "internal error")
            finally:
                flusher.reading = None
        elif state is State.CONNECTING:
            self._handshake_data(data)

    def eof_received(self) -> bool | None:
        return None  # a half-closed peer is gone: let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state is State.CLOSED:
            return
        self._advance(State.CLOSED)
        for handle in (self._timer, self._ping_timer):
            if handle is not None:
                handle.cancel()
        self._out.clear()
        self._release_held()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._inbox.wake()
        if not self._closed.done():
            self._closed.set_result(None)
        self.listener.closed(self)
        if self.on_close is not None:
            self.on_close()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._release_held()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- opening handshake -----------------------------------------------------------------

    def _handshake_data(self, data: bytes) -> None:
        assert self._transport is not None
        handshake = self._handshake
        try:
            request = handshake.receive_data(data)
        except Exception as exc:  # a malformed or oversized request: websockets' error classes
            log.info("bad upgrade request from %s: %s", self.remote_address, exc)
            self._transport.close()
            return
        if request is None:
            return  # the request is not complete yet
        leftover = handshake.leftover()
        self.request = request
        try:
            response = self.listener.handshake(self, request)
        except Exception:
            log.exception("upgrade handler failed")
            response = handshake.reject(500, "internal error\n")
        self._transport.write(response.serialize())
        if response.status_code != 101:
            self._transport.close()
            return
        if self._timer is not None:
            self._timer.cancel()
        self._advance(State.OPEN)
        try:
            self.listener.opened(self)
        except Exception:
            log.exception("failed to open the connection from %s", self.remote_address)
            self._fail(1011, "internal error")
            return
        self.flush()
        self._schedule_ping()
        if leftover:
            self.data_received(leftover)

    def accept(self, request: Request) -> Response:
        """The 101 response (or the error response websockets picks for a bad upgrade).

        Call it from :meth:`Listener.handshake`; it sets :attr:`subprotocol`.
        """
        response = self._handshake.accept(request)
        self.subprotocol = self._handshake.subprotocol
        return response

    def reject(self, status: int, text: str) -> Response:
        """A plain-text HTTP error response; the connection closes after it.

        Call it from :meth:`Listener.handshake` to refuse the upgrade.
        """
        return self._handshake.reject(status, text)

    # -- reading ---------------------------------------------------------------------------

    def _with_controls(self, messages: list[f.Message]) -> None:
        batch: list[Data] = []
        for message in messages:
            if type(message) is not f.Control:
                batch.append(cast(Data, message))
                continue
            if batch:
                self._deliver(batch)
                batch = []
            opcode, payload = message
            if opcode == f.PING:
                if self.state is State.OPEN or self.state is State.CLOSING:
                    self._queue(f.encode_frame(f.PONG, payload))
            elif opcode == f.PONG:
                self._ping = None
            else:
                self._close_received(payload)
                return
        if batch:
            self._deliver(batch)

    def _deliver(self, batch: list[Data]) -> None:
        if self.on_messages is not None:
            self.on_messages(batch)
        else:
            self._inbox.put_nowait(batch)

    def _close_received(self, payload: bytes) -> None:
        self._discarding = True
        code, reason = f.parse_close(payload)
        self.close_rcvd = Close(code, reason)
        if self.state is State.OPEN:
            # Echo the close frame (§5.5.1), then the server closes the TCP connection.
            self._queue(f.encode_frame(f.CLOSE, payload))
            self.close_sent = self.close_rcvd
            self._rcvd_then_sent = True
            self._advance(State.CLOSING)
        elif self._rcvd_then_sent is None:
            self._rcvd_then_sent = False
        self._shutdown()

    async def recv(self) -> Data:
        """The next message from the inbox.

        Raises:
            ConnectionClosed: the connection closed and the inbox is empty.
        """
        inbox = self._inbox
        while not inbox:
            if self.state is State.CLOSED or self.close_rcvd is not None:
                raise self.close_exc()
            await inbox.wait()
        return inbox.get_nowait()

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Messages until the peer closes: normally (1000/1001) ends the loop, else raises."""
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    def hold(self, reason: object) -> None:
        """Stop reading from the transport until every reason given is released."""
        if not self._holds and self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
        self._holds.add(reason)

    def release(self, reason: object) -> None:
        """Take back one :meth:`hold`; reading resumes once none is left."""
        if reason in self._holds:
            self._holds.discard(reason)
            if not self._holds and self._transport is not None and not self._transport.is_closing():
                self._transport.resume_reading()

    def _release_held(self) -> None:
        held, self._held = self._held, set()
        for source in held:
            source.release(self)

    # -- writing ---------------------------------------------------------------------------

    def send_nowait(self, data: Data) -> None:
        """Queue one message (a str as a text frame, bytes as binary); it is written when this
        turn of the event loop ends, or at once past ``high_water`` queued bytes.

        Raises:
            ConnectionClosed: the connection is closing or closed.
        """
        if self.state is not State.OPEN:
            raise self.close_exc()
        # The hot path, inlined: frames.encode_frame and _queue.
        if type(data) is bytes:
            opcode = 0x82
        else:
            data = cast(str, data).encode()
            opcode = 0x81
        n = len(data)
        if n < 126:
            frame = bytes((opcode, n)) + data
        elif n < 65536:
            frame = _H16(opcode, 126, n) + data
        else:
            frame = f.encode_frame(opcode & 0x0F, data)
        out = self._out
        if not out:
            self.flusher.mark(self)
            self._queued = 0
        out.append(frame)
        self._queued += len(frame)
        if self._queued > self.limits.high_water:
            self.flush()
        if self.write_paused:
            source = self.flusher.reading
            if source is not None and source is not self and source not in self._held:
                self._held.add(source)
                source.hold(self)

    async def send(self, data: Data) -> None:
        """Wait until the socket is not paused, then write one message.

        Raises:
            ConnectionClosed: the connection is closing or closed.
        """
        await self.drain()
        self.send_nowait(data)
        self.flush()

    async def drain(self) -> None:
        """Wait while the write buffer is above its high-water mark."""
        while self.write_paused and self.state is not State.CLOSED:
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            try:
                await waiter
            finally:
                self._drain_waiters.remove(waiter)

    def _queue(self, frame: bytes) -> None:
        if not self._out:
            self.flusher.mark(self)
            self._queued = 0
        self._out.append(frame)
        self._queued += len(frame)
        if self._queued > self.limits.high_water:
            self.flush()  # a big burst: write now, so the transport's flow control sees it

    def flush(self) -> None:
        """Write what is queued now (the flusher calls this; so does ``send``)."""
        out = self._out
        if not out or self._transport is None:
            return
        self._out = []
        if self._transport.is_closing():
            return
        self._transport.writelines(out)
        if self.write_paused and self._transport.get_write_buffer_size() > self.limits.write_limit:
            log.warning("peer %s stopped reading: %d bytes queued; closing it", self.remote_address,
                        self._transport.get_write_buffer_size())
            self._fail(1008, "write buffer limit exceeded: the peer is not reading")

    # -- closing ---------------------------------------------------------------------------

    def close_nowait(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake: send a close frame; the peer has ``close_timeout`` to answer."""
        if self.state is State.OPEN:
            self._queue(f.encode_close(code, reason))
            self.close_sent = Close(code, reason)
            self._advance(State.CLOSING)
            self.flush()
            self._arm(self.limits.close_timeout)
            if self._holds:  # the peer's close frame must get through whatever held reading
                self._holds.clear()
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.resume_reading()
        elif self.state is State.CONNECTING:
            self.abort()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close and wait until the TCP connection is gone (at most ``close_timeout``)."""
        self.close_nowait(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def _fail(self, code: int, reason: str) -> None:
        """The peer broke the protocol or the limits: send a close frame and drop the TCP."""
        if self.state is State.OPEN:
            self._queue(f.encode_close(code, reason))
            self.close_sent = Close(code, reason)
            self._advance(State.CLOSING)
        self._discarding = True
        self._shutdown()

    def _shutdown(self) -> None:
        """Write what is queued, close the TCP connection, abort it if it does not drain."""
        self.flush()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        self._arm(self.limits.close_timeout)

    def _arm(self, delay: float) -> None:
        if self.state is State.CLOSED:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay, self.abort)

    def abort(self) -> None:
        """Drop the TCP connection now (``connection_lost`` follows)."""
        if self._transport is not None and self.state is not State.CLOSED:
            self._transport.abort()

    # -- keepalive -------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        interval = self.limits.ping_interval
        if interval is not None and self.state is State.OPEN:
            self._ping_timer = self._loop.call_later(interval, self._keepalive)

    def _keepalive(self) -> None:
        if self.state is not State.OPEN:
            return
        self._ping = os.urandom(4)
        self._queue(f.encode_frame(f.PING, self._ping))
        self._ping_timer = self._loop.call_later(self.limits.ping_timeout, self._check_pong)

    def _check_pong(self) -> None:
        if self._ping is not None and self.state is State.OPEN:
            log.info("no pong from %s within %.0fs; closing", self.remote_address, self.limits.ping_timeout)
            self._fail(1011, "keepalive ping timeout")
            return
        self._schedule_ping()

