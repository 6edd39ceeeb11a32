"""A WebSocket client for asyncio: websockets' sans-I/O client protocol under a thin shell.

Theory of operation
-------------------
:class:`WebSocket` is an :class:`asyncio.Protocol` over websockets' sans-I/O
:class:`~websockets.client.ClientProtocol`: the thin shell websockets' own asyncio layer is, minus
what a bus client does not need (a per-frame assembler, futures and locks, redirects, proxies).

* **Reading** happens in :meth:`WebSocket.data_received` and hands each complete message to the
  ``on_message`` callback, synchronously: all frames of one read are handled in one go, with no
  task switch. The owner must not block there, so there is no read buffer beyond one partial
  frame (bounded by ``max_size``). Plain data frames (complete, unmasked text/binary: nearly all
  traffic) are cut from the byte stream by :mod:`workers.sdk._wsframes`; everything else (the
  handshake, pings, fragments, the closing handshake, protocol violations) goes through the
  sans-I/O protocol, which also writes the pongs and close frames it owes.
* **Writing** is synchronous too: :meth:`WebSocket.send_nowait` frames (masked, as RFC 6455
  requires of clients) and appends to an outbox flushed to the transport at the end of the
  event-loop iteration, so the answers to a burst go out in few ``write`` calls (a batch goes at
  once when it reaches :data:`_FLUSH_FRAMES` frames or :data:`_FLUSH_BYTES`). The transport's
  buffer is bounded by asyncio flow control: past its high-water mark
  :attr:`WebSocket.writing_paused` is set and :meth:`WebSocket.drain` waits for it to clear.
  Senders drain *before* sending, so a slow peer slows them down.
* **Keepalive and closing** are timers, not tasks: a ping every ``ping_interval`` seconds (no pong
  by the next tick drops the socket), and after a close frame the peer has
  :data:`_CLOSE_TIMEOUT` seconds to close TCP before we abort it.

Every failure surfaces as :class:`Disconnected` (raised by senders, reported by
:attr:`WebSocket.lost_reason`), or as websockets' ``InvalidHandshake`` from :func:`connect_socket`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, cast

import anyio
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidURI
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import USER_AGENT, Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from ._wsframes import (
    OP_BINARY,
    OP_TEXT,
    PLAIN,
    REST,
    WHOLE,
    MaskSource,
    classify,
    client_frame,
    locate,
)
from .errors import SdkError

__all__ = ["WebSocket", "SocketStatistics", "Disconnected", "connect_socket"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 2.0
"""Seconds the peer has to close TCP after the closing handshake."""

_FLUSH_BYTES = 64 * 1024
"""Outbox size that is written at once rather than at the end of the loop iteration."""

_FLUSH_FRAMES = 8
"""Outbox length that is written at once. Coalescing saves syscalls, but a whole loop iteration's
worth of frames makes the in-flight window of a caller, the engine and a callee travel as one
batch that each process works on in turn (a convoy: each ~33% busy on 2 cores). Batches of 8
keep them working in parallel: bench/invoke.py at 64 in flight went from ~21k to ~29k calls/s at
the same CPU per call (2, 4 and 16 frames: 25k, 28k, 28k; one write per frame: 19k)."""

_OPEN = State.OPEN


class Disconnected(SdkError):
    """The socket is gone (or never opened). Internal: the connection reconnects on it."""


class SocketStatistics(NamedTuple):
    write_buffer_size: int
    """Bytes accepted by :meth:`WebSocket.send_nowait` and not yet written to the socket."""
    writing_paused: bool
    """The transport is over its high-water mark; :meth:`WebSocket.drain` waits."""


class WebSocket(asyncio.Protocol):
    """One client WebSocket. Get one from :func:`connect_socket`.

    Args:
        on_message: called with ``(payload, is_text)`` for every complete message.
        on_lost: called once when the socket closes after a successful opening handshake.
        max_size: the largest message accepted; a larger one fails the connection (1009).
        ping_interval: seconds between keepalive pings.

    Attributes:
        loop: the event loop the socket lives on (cached: ``get_running_loop()`` costs a
            ``getpid`` syscall per call on Python 3.11).
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[bytes, bool], None],
        on_lost: Callable[[], None],
        subprotocols: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        max_size: int,
        ping_interval: float = 20.0,
    ) -> None:
        self.loop = loop
        self.protocol = ClientProtocol(
            uri,
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
            max_size=max_size,
        )
        self.max_size = max_size
        self.ping_interval = ping_interval
        self._headers = dict(headers or {})
        self._on_message = on_message
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        # Futures are used as one-shot events, resolved with None, never with an exception.
        self._opened: asyncio.Future[None] = loop.create_future()
        self._closed: asyncio.Future[None] = loop.create_future()
        self._lost_reason: str | None = None
        self._outbox: list[bytes] = []
        self._outbox_size = 0
        self._paused = False
        self._drain_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._fragments: list[bytes] = []
        self._fragments_text = False
        self._fast = False  # plain frames are cut here, not by websockets (see _receive_fast)
        self._held: list[bytes] = []  # the start of an incomplete frame
        self._held_size = 0
        self._needed = 0  # bytes the held frame needs to be complete (0: unknown)
        self._masks = MaskSource()
        self._close_timer: asyncio.TimerHandle | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self._ping: bytes | None = None

    # -- the owner's side --------------------------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the peer selected (None before the handshake or if none)."""
        return self.protocol.subprotocol

    @property
    def writing_paused(self) -> bool:
        return self._paused

    @property
    def lost_reason(self) -> str | None:
        """Why the socket closed; None while it is open."""
        return self._lost_reason

    def statistics(self) -> SocketStatistics:
        buffered = self._outbox_size
        if self._transport is not None:
            buffered += self._transport.get_write_buffer_size()
        return SocketStatistics(buffered, self._paused)

    def send_nowait(self, payload: bytes | str) -> None:
        """Queue one message (binary for bytes, text for str) for this loop iteration's write.

        Raises:
            Disconnected: the socket is closed or closing.
        """
        if self.protocol.state is not _OPEN:
            raise Disconnected(self._lost_reason or "connection closing")
        if type(payload) is bytes:
            frame = client_frame(OP_BINARY, payload, self._masks())
        else:
            frame = client_frame(OP_TEXT, payload.encode(), self._masks())  # type: ignore[union-attr]
        outbox = self._outbox
        if not outbox:
            self.loop.call_soon(self._flush)
        outbox.append(frame)
        self._outbox_size += len(frame)
        if self._outbox_size >= _FLUSH_BYTES or len(outbox) >= _FLUSH_FRAMES:
            self._flush()

    async def drain(self) -> None:
        """Return once the transport is below its high-water mark (or the socket is gone)."""
        while self._paused and self._lost_reason is None:
            waiter: asyncio.Future[None] = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    async def wait_closed(self) -> None:
        """Return once the socket is closed (by either side)."""
        await asyncio.shield(self._closed)

    def close_nowait(self) -> None:
        """Start the closing handshake (code 1000); the peer then closes TCP.

        :meth:`wait_closed` returns once it has; a timer aborts the socket if it does not.
        """
        if self.protocol.state is _OPEN:
            self._flush()
            self.protocol.send_close(CloseCode.NORMAL_CLOSURE)
            self._write_protocol_output()

    async def aclose(self) -> None:
        """Close cleanly, waiting at most a couple of seconds, even when cancelled."""
        if self._transport is None or self._closed.done():
            return
        if self.protocol.state is _OPEN:
            self.close_nowait()
        elif self.protocol.state is not State.CLOSING:
            self._transport.abort()
        with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
            await asyncio.shield(self._closed)
        if not self._closed.done():
            self._transport.abort()

    def abort(self) -> None:
        """Drop the socket at once, without a closing handshake."""
        if self._transport is not None:
            self._transport.abort()

    def _flush(self) -> None:
        outbox, transport = self._outbox, self._transport
        if outbox and transport is not None and not transport.is_closing():
            self._outbox = []
            self._outbox_size = 0
            transport.writelines(outbox)

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        request = self.protocol.connect()
        request.headers.update(self._headers)
        request.headers.setdefault("User-Agent", USER_AGENT)
        self.protocol.send_request(request)
        self._write_protocol_output()

    def data_received(self, data: bytes) -> None:
        if self._fast:
            self._receive_fast(data)
        else:
            self._receive_slow(data)

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        for event in self.protocol.events_received():  # a response read up to EOF
            if isinstance(event, Response):
                self._response_received(event)
        self._write_protocol_output()
        # Returning None closes the transport: the closing handshake needs no more writes.

    def connection_lost(self, exc: Exception | None) -> None:
        protocol = self.protocol
        protocol.receive_eof()  # idempotent; the protocol is CLOSED from here on
        opened = self._opened.done() and protocol.handshake_exc is None
        if opened:
            reason = f"connection closed: {protocol.close_exc}"
        else:
            reason = "connection closed during the opening handshake"
        self._lost_reason = reason if exc is None else f"{reason} ({exc})"
        for timer in (self._close_timer, self._keepalive):
            if timer is not None:
                timer.cancel()
        self._outbox.clear()
        self._outbox_size = 0
        self.resume_writing()  # wakes the drainers, who find the socket gone
        for future in (self._opened, self._closed):
            if not future.done():
                future.set_result(None)
        if opened:
            self._on_lost()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        while self._drain_waiters:
            waiter = self._drain_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # -- reading -----------------------------------------------------------------------------

    def _receive_slow(self, data: bytes) -> None:
        # Everything through websockets: the handshake, control frames, fragments, errors.
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._write_protocol_output()
        for event in events:
            if type(event) is Frame:
                self._frame_received(event)
            elif isinstance(event, Response):
                self._response_received(event)
        if not self._opened.done() and protocol.handshake_exc is not None:
            self._opened.set_result(None)
        # Back to the fast path once websockets holds no partial frame (its reader's buffer is
        # the only way to tell) and no fragmented message is being assembled.
        self._fast = protocol.state is _OPEN and not protocol.reader.buffer and not self._fragments

    def _receive_fast(self, data: bytes) -> None:
        if self._held:
            self._held.append(data)
            self._held_size += len(data)
            if self._held_size < self._needed:
                return  # a large frame still arriving: join once, when it is complete
            data = b"".join(self._held)
            self._held, self._held_size = [], 0
        pos, size = 0, len(data)
        while pos < size:
            located = locate(data, pos)
            if located is None:
                self._hold(data[pos:], 0)
                return
            b0, b1, start, end = located
            kind = classify(b0, b1, end - start, self.max_size)
            if kind is not REST and end > size:
                self._hold(data[pos:], end - pos)
                return
            if kind is PLAIN and not self._fragments:
                self._on_message(data[start:end], b0 & 0x0F == OP_TEXT)
                pos = end
                continue
            # websockets takes it from here: a whole frame (then maybe back), or the rest.
            cut = end if kind is WHOLE else size
            self._receive_slow(data[pos:cut])
            pos = cut
            if not self._fast and pos < size:
                self._receive_slow(data[pos:])
                return

    def _hold(self, part: bytes, needed: int) -> None:
        self._held, self._held_size, self._needed = [part], len(part), needed

    def _response_received(self, response: Response) -> None:
        if self.protocol.handshake_exc is None:
            self._keepalive = self.loop.call_later(self.ping_interval, self._keepalive_tick)
        if not self._opened.done():
            self._opened.set_result(None)

    def _frame_received(self, frame: Frame) -> None:
        opcode = frame.opcode
        data = cast(bytes, frame.data)  # frames parsed off the wire carry bytes
        if opcode is Opcode.BINARY or opcode is Opcode.TEXT:
            if not frame.fin:  # the first fragment; websockets bounds the total size
                self._fragments = [data]
                self._fragments_text = opcode is Opcode.TEXT
                return
            self._on_message(data, opcode is Opcode.TEXT)
        elif opcode is Opcode.CONT:
            self._fragments.append(data)
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self._on_message(data, self._fragments_text)
        elif opcode is Opcode.PONG and data == self._ping:
            self._ping = None
        # PING is answered and CLOSE is handled by the protocol itself.

    # -- protocol output, timers -------------------------------------------------------------

    def _write_protocol_output(self) -> None:
        writes = self.protocol.data_to_send()
        transport = self._transport
        if writes and transport is not None and not transport.is_closing():
            self._flush()  # keep order: queued data frames go before a pong or a close
            for data in writes:
                if data:
                    transport.write(data)
                elif transport.can_write_eof():
                    try:
                        transport.write_eof()
                    except (OSError, RuntimeError):  # uvloop raises RuntimeError when closing
                        log.debug("half-close failed; the transport is closing anyway")
                else:
                    transport.close()
        if self._close_timer is None and self.protocol.close_expected():
            self._close_timer = self.loop.call_later(_CLOSE_TIMEOUT, self.abort)

    def _keepalive_tick(self) -> None:
        if self._ping is not None:
            log.warning("no pong within %.0fs; dropping the socket", self.ping_interval)
            self.abort()
            return
        if self.protocol.state is _OPEN:
            self._ping = os.urandom(4)
            self.protocol.send_ping(self._ping)
            self._write_protocol_output()
            self._keepalive = self.loop.call_later(self.ping_interval, self._keepalive_tick)


async def connect_socket(
    url: str, open_timeout: float, factory: Callable[[WebSocketURI], WebSocket]
) -> WebSocket:
    """Connect to ``url`` (directly: no HTTP proxy, no redirects) and do the opening handshake.

    Args:
        open_timeout: seconds for the TCP connect plus the HTTP upgrade.
        factory: builds the :class:`WebSocket` for the parsed URL (its owner wires the
            callbacks in, before the first byte can arrive).

    Raises:
        InvalidHandshake: the upgrade was refused (``InvalidStatus`` carries the response).
        Disconnected: the URL is bad, or the connection failed, timed out or closed.
    """
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise Disconnected(f"cannot connect to {url}: {exc}") from exc
    loop = asyncio.get_running_loop()
    ws = factory(uri)
    try:
        with anyio.fail_after(open_timeout):
            await loop.create_connection(
                lambda: ws,
                uri.host,
                uri.port,
                ssl=ssl.create_default_context() if uri.secure else None,
            )
            await ws._opened
        if ws.protocol.handshake_exc is not None:
            raise ws.protocol.handshake_exc
        if ws.lost_reason is not None:
            raise Disconnected(ws.lost_reason)
    except (OSError, TimeoutError) as exc:
        ws.abort()
        raise Disconnected(f"cannot connect to {url}: {exc}") from exc
    except BaseException:
        ws.abort()
        raise
    return ws
