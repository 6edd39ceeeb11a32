"""Shared value types of the engine: who is calling, and the context of one invocation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = ["Role", "ROLE_RANK", "Credential", "Call", "LocalHandler", "TriggerProvider", "REALM_BAGGAGE_KEY", "ROLE_BAGGAGE_KEY"]

Role = Literal["system", "worker", "client"]
ROLE_RANK: dict[str, int] = {"client": 0, "worker": 1, "system": 2}

REALM_BAGGAGE_KEY = "agentos-realm"
"""W3C baggage entry that carries the invocation's realm along the call chain."""

ROLE_BAGGAGE_KEY = "agentos-role"
"""W3C baggage entry with the role of the credential that made the call (absent: system)."""


@dataclass(frozen=True, slots=True)
class Credential:
    """What a token proved: a role and, optionally, the one realm it is bound to."""

    role: Role
    realm: str | None = None
    name: str | None = None

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


@dataclass(frozen=True, slots=True)
class Call:
    """The context of one invocation, as the engine asserts it (not as the payload claims)."""

    function_id: str
    invocation_id: str | None = None
    caller_worker_id: str | None = None
    role: Role = "system"
    realm: str | None = None
    namespace: str = "default"
    metadata: dict[str, Any] | None = None
    traceparent: str | None = None
    baggage: str | None = None

    @property
    def credential(self) -> Credential:
        return Credential(self.role, self.realm)


LocalHandler = Callable[[Any, Call], Awaitable[Any]]
"""A built-in function: ``async (data, call) -> result``; raise a WireError to fail with a code."""


class TriggerProvider(Protocol):
    """A built-in trigger type (http, cron, state, subscribe, …)."""

    async def register_trigger(self, trigger: Any) -> None:
        """Start delivering; raise (WireError or ValueError) to refuse the binding."""

    async def unregister_trigger(self, trigger: Any) -> None:
        """Stop delivering."""
