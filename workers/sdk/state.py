"""The connection lifecycle: an enum state machine with a transition table.

Theory of operation
-------------------
A connection starts CONNECTING and is CONNECTED once the engine has applied every registration
(the readiness health check answered). A dropped socket moves it to RECONNECTING, and back to
CONNECTED after the replay. Leaving the ``async with`` block closes it (CLOSED). A fatal refusal
(bad token, ``WORKER_NAMESPACE_CONFLICT``) makes it FAILED; nothing leaves FAILED or CLOSED::

    CONNECTING ──ready──► CONNECTED ──socket lost──► RECONNECTING
        │                  ▲   │                          │
        │                  │   └──────────ready───────────┘ (back to CONNECTED)
        └──┬───────────────┴──────────┬───────────────────┘
           ▼ fatal refusal            ▼ context exit
         FAILED                     CLOSED

Waiting is event-driven: every transition sets (and drops) one :class:`anyio.Event`, so
:meth:`StateMachine.wait_for` never polls.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import anyio

from .errors import InvalidState

__all__ = ["ConnectionState", "TRANSITIONS", "StateMachine"]


class ConnectionState(enum.Enum):
    """Where a :class:`~workers.sdk.Connection` is in its lifecycle."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"
    FAILED = "failed"


_S = ConnectionState

TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.FAILED, _S.CLOSED}),
    _S.CONNECTED: frozenset({_S.RECONNECTING, _S.FAILED, _S.CLOSED}),
    _S.RECONNECTING: frozenset({_S.CONNECTED, _S.FAILED, _S.CLOSED}),
    _S.CLOSED: frozenset(),
    _S.FAILED: frozenset(),
}
"""``TRANSITIONS[current]`` is the set of states ``current`` may move to."""

TERMINAL = frozenset({_S.CLOSED, _S.FAILED})


class StateMachine:
    """The current :class:`ConnectionState`, its legal moves, and a way to wait for one.

    Args:
        failure: called when a waiter finds the machine FAILED; returns the error to raise.
    """

    def __init__(self, failure: Callable[[], BaseException]) -> None:
        self._state = ConnectionState.CONNECTING
        # Created by the first waiter, so the machine itself needs no event loop.
        self._changed: anyio.Event | None = None
        self._failure = failure

    @property
    def state(self) -> ConnectionState:
        return self._state

    def move(self, target: ConnectionState) -> None:
        """Go to ``target`` and wake every waiter.

        Raises:
            InvalidState: ``TRANSITIONS`` does not allow the step.
        """
        if target not in TRANSITIONS[self._state]:
            raise InvalidState(f"connection cannot go from {self._state.name} to {target.name}")
        self._state = target
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def check_open(self) -> None:
        """Raise unless the connection may still carry calls.

        Raises:
            The stored failure when FAILED; ``InvalidState`` when CLOSED.
        """
        if self._state is ConnectionState.FAILED:
            raise self._failure()
        if self._state is ConnectionState.CLOSED:
            raise InvalidState("the connection is closed")

    async def wait_for(self, target: ConnectionState) -> None:
        """Return once the state is ``target``.

        Raises:
            The stored failure when the machine fails first; ``InvalidState`` when it closes
            first (so ``target`` can no longer be reached).
        """
        while self._state is not target:
            if self._state in TERMINAL:
                self.check_open()
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()
