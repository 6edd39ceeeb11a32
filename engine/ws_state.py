"""The lifecycle of a server-side WebSocket: its states, the legal steps, and how it ends.

Theory of operation
-------------------
A socket moves one way through four states (RFC 6455 §4 and §7)::

    CONNECTING ──101 sent──► OPEN ──close frame sent or received──► CLOSING ──TCP gone──► CLOSED
        └───────────────────refused, timed out or TCP gone──────────────────────────────────┘

A server closes the TCP connection itself once the close handshake is done, or at once when the
peer broke the protocol; a peer that does not finish within ``close_timeout`` is cut off. The
shell (:class:`engine.websocket.WebSocket`) takes every step through :func:`advance`, so an
illegal one is a bug that raises :class:`~engine.errors.InvalidState` where it happens.

Once a close frame went either way, sends and receives raise what :func:`close_error` builds
from the two frames: websockets' ``ConnectionClosedOK`` for a normal closure, else
``ConnectionClosedError``, as websockets' own connections do. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from typing import Final

from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close

from .errors import InvalidState

__all__ = ["State", "TRANSITIONS", "advance", "close_error"]


class State(enum.Enum):
    """Where a socket is in its lifecycle."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


TRANSITIONS: Final[dict[State, frozenset[State]]] = {
    State.CONNECTING: frozenset({State.OPEN, State.CLOSED}),
    State.OPEN: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}
"""The states each state may step to."""

_OK_CODES = frozenset({1000, 1001, 1005})
"""Close codes of a normal closure (1005: the frame carried no code)."""


def advance(current: State, new: State) -> State:
    """Check one step of the lifecycle; return the new state.

    Raises:
        InvalidState: ``current`` may not step to ``new`` (a bug in the caller).
    """
    if new not in TRANSITIONS[current]:
        raise InvalidState(f"websocket: {current.value} -> {new.value}")
    return new


def close_error(rcvd: Close | None, sent: Close | None,
                rcvd_then_sent: bool | None) -> ConnectionClosed:
    """The exception a send or receive raises once the connection is closing or closed.

    Args:
        rcvd: the close frame the peer sent, if any.
        sent: the close frame this side sent, if any.
        rcvd_then_sent: whether the peer closed first (None while a frame is missing).

    Returns:
        ``ConnectionClosedOK`` when both frames went and both carry a normal code, else
        ``ConnectionClosedError``.
    """
    if rcvd is None or sent is None:
        return ConnectionClosedError(rcvd, sent, None)
    ok = rcvd.code in _OK_CODES and sent.code in _OK_CODES
    return (ConnectionClosedOK if ok else ConnectionClosedError)(rcvd, sent, rcvd_then_sent)
