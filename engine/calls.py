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
from .types import REALM_BAGGAGE_KEY, Call

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


def with_realm(baggage: str | None, realm: str | None) -> str | None:
    """Baggage with its realm entry replaced by ``realm`` (removed when None)."""
    if baggage and REALM_BAGGAGE_KEY in baggage:
        kept = [i for i in baggage.split(",") if i.partition("=")[0].strip() != REALM_BAGGAGE_KEY]
        baggage = ",".join(kept) or None
    if realm is None:
        return baggage
    entry = f"{REALM_BAGGAGE_KEY}={realm}"
    return f"{baggage},{entry}" if baggage else entry


def error_body(exc: WireError) -> p.ErrorBody:
    return p.ErrorBody.model_construct(code=exc.code, message=exc.message, stacktrace=exc.stacktrace)
