"""One connected worker as the engine sees it, and the lifecycle of its connection.

A session starts RESOLVING: iii workers send registrations before (or after) the metadata call
``engine::workers::register`` that names their namespace, so registration frames are buffered in
arrival order until the namespace is known (or a grace period ends and it defaults). Then it is
ACTIVE until the socket goes, CLOSED after the router has cleaned up after it.

    RESOLVING ──namespace known──► ACTIVE ──socket gone──► CLOSED
        └──────────────socket gone──────────────────────────┘
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from .errors import InvalidState
from .protocol import Outbound
from .types import Credential

__all__ = ["Peer", "SessionState", "Session"]


class Peer(Protocol):
    """The I/O side of a session: the connection shell implements it."""

    def send_nowait(self, message: Outbound, raw: str | bytes | None = None) -> None:
        """Encode one message and queue it for writing; it never waits.

        The router calls this inline while it reads; a peer that stops reading is closed by its
        shell once its write buffer passes the limit, so this never buffers without bound.

        Args:
            raw: the frame ``message`` was decoded from, written as it is when it is in this
                peer's codec (saves re-encoding a relayed result).

        Raises:
            ConnectionError: the socket is gone or closing.
        """

    async def send(self, message: Outbound) -> None:
        """Wait while the peer's write buffer is full, then send one message.

        Raises:
            ConnectionError: the socket is gone or closing.
        """

    async def close(self, code: int, reason: str) -> None: ...


class SessionState(enum.Enum):
    RESOLVING = "resolving"
    ACTIVE = "active"
    CLOSED = "closed"


_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.RESOLVING: frozenset({SessionState.ACTIVE, SessionState.CLOSED}),
    SessionState.ACTIVE: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
}


@dataclass(eq=False)
class Session:
    peer: Peer
    credential: Credential
    remote: str = ""
    worker_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    reattach_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: SessionState = SessionState.RESOLVING
    namespace: str | None = None
    name: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    connected_at: float = field(default_factory=time.time)
    buffered: list[BaseModel] = field(default_factory=list)
    registrations: int = 0
    """Functions, triggers and trigger types this session holds now (the flood cap counts these)."""
    closing: bool = False
    """A close was requested: later frames are read (so the close handshake completes) but ignored."""
    inflight_to: set[str] = field(default_factory=set)
    """Invocation ids whose target is this worker (answered invocation_stopped if it leaves)."""
    invocations: int = 0

    def advance(self, new: SessionState) -> None:
        """Move to ``new``.

        Raises:
            InvalidState: the transition table does not allow it.
        """
        if new not in _TRANSITIONS[self.state]:
            raise InvalidState(f"session {self.worker_id}: {self.state.value} -> {new.value}")
        self.state = new

    @property
    def live(self) -> bool:
        return self.state is not SessionState.CLOSED

    def describe(self) -> dict[str, Any]:
        """The worker as ``engine::workers::list`` shows it."""
        return {
            "id": self.worker_id,
            "name": self.name,
            "namespace": self.namespace,
            "runtime": self.info.get("runtime"),
            "version": self.info.get("version"),
            "os": self.info.get("os"),
            "pid": self.info.get("pid"),
            "description": self.info.get("description"),
            "role": self.credential.role,
            "realm": self.credential.realm,
            "remote": self.remote,
            "connected_at": self.connected_at,
            "invocations": self.invocations,
            "status": self.state.value,
        }
