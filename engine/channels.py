"""Data channels: one-way byte/text pipes between two parties, for streamed results.

``engine::channels::create {buffer_size?}`` answers two references::

    {"writer": {"channel_id", "access_key", "direction": "write"},
     "reader": {"channel_id", "access_key", "direction": "read"}}

Either end connects to ``/ws/channels/{channel_id}?key=<access_key>&dir=read|write`` on the bus
port (iii-protocol.md §1.9), or — inside the engine, e.g. the HTTP module streaming a response —
uses the :class:`Channel` object directly. Frames keep their kind (text or binary) and order. The
buffer is bounded: a writer faster than its reader is paused (WebSocket back-pressure), never
buffered without limit. When the writer closes, the reader receives what is left, then a close.

Each direction has its own key, so handing out the reader reference never lets anyone write.
A channel nobody attached to within ``idle_ttl_s`` is dropped.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from websockets.exceptions import ConnectionClosed

from .errors import InvalidArguments
from .types import Call

if TYPE_CHECKING:
    from .node import Node
    from .websocket import WebSocket

__all__ = ["Channel", "ChannelHub", "ChannelStatistics"]

log = logging.getLogger(__name__)

Frame = str | bytes
_PREFIX = "/ws/channels/"


class ChannelStatistics(NamedTuple):
    open_channels: int
    created: int


class Channel:
    """One pipe. ``send``/``close`` on the writing side, iterate on the reading side."""

    def __init__(self, buffer_size: int) -> None:
        self.id = str(uuid.uuid4())
        self.keys = {"write": secrets.token_urlsafe(24), "read": secrets.token_urlsafe(24)}
        self.created = time.monotonic()
        self.attached: set[str] = set()
        self._send: ObjectSendStream[Frame]
        self._receive: ObjectReceiveStream[Frame]
        self._send, self._receive = anyio.create_memory_object_stream[Frame](buffer_size)

    def ref(self, direction: str) -> dict[str, str]:
        """The reference a party uses to open one end."""
        return {"channel_id": self.id, "access_key": self.keys[direction], "direction": direction}

    async def send(self, frame: Frame) -> None:
        """Write one frame; waits while the buffer is full."""
        await self._send.send(frame)

    async def close(self) -> None:
        """End the stream: the reader gets the remaining frames, then the end."""
        await self._send.aclose()

    def __aiter__(self) -> ObjectReceiveStream[Frame]:
        return self._receive

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


class ChannelHub:
    """Creates channels and serves their WebSocket ends. Installed on every node."""

    def __init__(self, node: Node, *, default_buffer: int = 64, max_buffer: int = 4096, idle_ttl_s: float = 300.0) -> None:
        self.node = node
        self.channels: dict[str, Channel] = {}
        self.default_buffer, self.max_buffer, self.idle_ttl_s = default_buffer, max_buffer, idle_ttl_s
        self._created = 0
        self._next_sweep = 0.0

    async def __aenter__(self) -> ChannelHub:
        self.node.router.register_local("engine::channels::create", self._create_fn,
                                        description="Create a data channel; returns writer and reader references")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for channel in list(self.channels.values()):
            await channel.aclose()
        self.channels.clear()

    def statistics(self) -> ChannelStatistics:
        return ChannelStatistics(len(self.channels), self._created)

    def create(self, buffer_size: int | None = None) -> Channel:
        """A new channel (also what ``engine::channels::create`` does)."""
        self._expire()
        size = self.default_buffer if buffer_size is None else buffer_size
        if not 1 <= size <= self.max_buffer:
            raise InvalidArguments(f"buffer_size must be between 1 and {self.max_buffer}")
        channel = Channel(size)
        self.channels[channel.id] = channel
        self._created += 1
        return channel

    async def _create_fn(self, data: Any, call: Call) -> dict[str, Any]:
        size = data.get("buffer_size") if isinstance(data, dict) else None
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            raise InvalidArguments("buffer_size must be an integer")
        channel = self.create(size)
        return {"writer": channel.ref("write"), "reader": channel.ref("read")}

    def _expire(self) -> None:
        # Sweep at most once a second: create() runs per HTTP request, and a scan of every open
        # channel each time would cost O(open channels) per request.
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        cutoff = now - self.idle_ttl_s
        for cid in [c.id for c in self.channels.values() if not c.attached and c.created < cutoff]:
            self.channels.pop(cid)

    def _lookup(self, path: str, query: str) -> tuple[Channel, str] | None:
        if not path.startswith(_PREFIX):
            return None
        channel = self.channels.get(path[len(_PREFIX):].strip("/"))
        params = parse_qs(query)
        direction = (params.get("dir") or [""])[0]
        key = (params.get("key") or [""])[0]
        if channel is None or direction not in channel.keys or direction in channel.attached:
            return None
        if not secrets.compare_digest(key, channel.keys[direction]):
            return None
        return channel, direction

    def accepts(self, path: str, query: str) -> bool:
        """True if an upgrade names a live channel end with its key (else the listener says 404)."""
        return self._lookup(path, query) is not None

    async def serve(self, ws: WebSocket) -> None:
        """Serve one WebSocket end of a channel until it or the channel ends."""
        path, _, query = (ws.request.path if ws.request else "").partition("?")
        found = self._lookup(path, query)
        if found is None:
            await ws.close(1008, "unknown channel")
            return
        channel, direction = found
        channel.attached.add(direction)
        try:
            if direction == "write":
                await self._pump_in(ws, channel)
            else:
                await self._pump_out(ws, channel)
        finally:
            if channel.attached >= {"read", "write"} or direction == "read":
                self.channels.pop(channel.id, None)

    async def _pump_in(self, ws: WebSocket, channel: Channel) -> None:
        try:
            async for frame in ws:
                await channel.send(frame)
        except ConnectionClosed:
            pass
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            # The reader left. A close handshake would wait behind frames the writer keeps
            # sending (we stopped reading them), so drop the connection instead.
            log.debug("channel %s: reader gone, dropping the writer", channel.id)
            ws.transport.abort()
        finally:
            await channel.close()

    async def _pump_out(self, ws: WebSocket, channel: Channel) -> None:
        try:
            async for frame in channel:
                await ws.send(frame)
            await ws.close(1000, "end of channel")
        except ConnectionClosed:
            pass
        finally:
            await channel.aclose()
