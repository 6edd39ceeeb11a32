"""Value types of one invocation in flight, and the realm baggage helpers.

The engine asserts a call's realm and passes it along the call chain in the W3C ``baggage``
entry ``agentos-realm`` (see :mod:`engine.router` for who may set it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import protocol as p
from .errors import WireError
from .types import REALM_BAGGAGE_KEY, ROLE_BAGGAGE_KEY, Call

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Pending", "EnqueueRequest", "EnqueueHook", "realm_from_baggage", "with_realm", "error_body"]


@dataclass(slots=True)
class Pending:
    function_id: str
    target: str
    caller: Session | None
    future: asyncio.Future[Any] | None


@dataclass(frozen=True, slots=True)
class EnqueueRequest:
    queue: str
    function_id: str
    data: Any
    call: Call
    receipt_id: str


EnqueueHook = Callable[[EnqueueRequest], Awaitable[None]]


def realm_from_baggage(baggage: str | None) -> str | None:
    """The ``agentos-realm`` entry of a W3C baggage string, or None."""
    if not baggage or REALM_BAGGAGE_KEY not in baggage:
        return None
    for item in baggage.split(","):
        key, _, value = item.partition("=")
        if key.strip() == REALM_BAGGAGE_KEY:
            return value.split(";", 1)[0].strip() or None
    return None


def with_realm(baggage: str | None, realm: str | None, role: str = "system") -> str | None:
    """Baggage carrying the engine-asserted realm and role of a call.

    Any ``agentos-realm``/``agentos-role`` entries the caller sent are removed first, so a
    worker reads only what the engine asserted. The role entry is written only when it is not
    ``system`` (its absence means system): the common open-mode call stays baggage-free.
    """
    if baggage and "agentos-" in baggage:
        kept = [i for i in baggage.split(",") if i.partition("=")[0].strip() not in _ASSERTED]
        baggage = ",".join(kept) or None
    entries = []
    if realm is not None:
        entries.append(f"{REALM_BAGGAGE_KEY}={realm}")
    if role != "system":
        entries.append(f"{ROLE_BAGGAGE_KEY}={role}")
    if not entries:
        return baggage
    return ",".join(([baggage] if baggage else []) + entries)


_ASSERTED = frozenset({REALM_BAGGAGE_KEY, ROLE_BAGGAGE_KEY})


def error_body(exc: WireError) -> p.ErrorBody:
    return p.ErrorBody.model_construct(code=exc.code, message=exc.message, stacktrace=exc.stacktrace)
