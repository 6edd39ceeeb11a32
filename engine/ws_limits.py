"""The bounds of a listener's WebSockets (:class:`Limits`) and what one socket reports against
them (:class:`SocketStatistics`).

Every buffer of a socket is bounded, both ways:

* **Writes.** Past the transport's high-water mark the socket is *paused*: ``await send()``
  waits, and a read batch that wrote to a paused socket stops reading its source until the
  target drains (back-pressure through the bus, as a proxy does). Queued bytes past
  ``write_limit`` mean the peer stopped reading: it is closed with 1008, never buffered further.
* **Reads.** Messages not taken by ``on_messages`` wait in an inbox for ``recv()``; past
  ``max_queue`` the transport stops reading until it drains (:mod:`engine.ws_inbox`).
  Applications that cannot handle a message inline hold the socket the same way
  (:meth:`engine.websocket.WebSocket.hold`).

Keepalive: a ping every ``ping_interval``; no pong within ``ping_timeout`` closes with 1011.
"""

from __future__ import annotations

from typing import NamedTuple

from .ws_state import State

__all__ = ["Limits", "SocketStatistics"]


class Limits(NamedTuple):
    """Sizes and timeouts of every socket of a listener (seconds, bytes)."""

    max_size: int = 16 * 2**20
    """Largest message accepted; a larger one closes the connection with 1009."""
    write_limit: int = 64 * 2**20
    """Bytes queued for a peer before it counts as not reading and is closed."""
    high_water: int = 64 * 2**10
    """Queued bytes past which a socket is paused (senders wait, sources stop being read)."""
    max_queue: int = 64
    """Messages waiting in the inbox before the socket stops reading."""
    handshake_timeout: float = 10.0
    close_timeout: float = 2.0
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0


class SocketStatistics(NamedTuple):
    """A snapshot of one socket: :meth:`engine.websocket.WebSocket.statistics`."""

    state: State
    write_buffer: int
    """Bytes queued in the transport, not yet taken by the kernel."""
    write_paused: bool
    inbox: int
    """Messages waiting for ``recv()``."""
    reading_paused: bool
    """True while a full inbox, a full backlog or a paused target holds the socket."""
