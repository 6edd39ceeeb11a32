"""State and calls in one realm, made on behalf of an invocation: :class:`RealmState`.

Theory of operation
-------------------
The engine asserts the realm of every invocation from the caller's credential and stamps it on
the call's baggage; our worker connects with an *unbound* worker token, so the engine lets it
pass that realm on (or name another one) in the baggage of the calls it makes. Every state
read and write of the control plane goes through a :class:`RealmState`, which makes the call
with the baggage of exactly one realm, so records land in that realm's state structurally:

* a realm-bound caller (a client token of realm ``a``) always acts in ``a``; naming another
  realm in a payload or a path is refused with ``forbidden`` (:func:`target_realm`);
* a realm-unbound caller (the system token, the CLI) is an operator: it acts in the default
  realm unless it names one (``realm_id``; ``"default"`` names the default realm).

Records that belong to no tenant (realm records, realm API keys, bridge runtimes) live in the
default realm, reached with :meth:`RealmState.home`.

Writes that must not lose a race go through :meth:`RealmState.mutate`: read, apply a pure
``edit``, ``state::cas`` against what was read, and on a mismatch apply ``edit`` again to what
won. ``edit`` raising is how a refusal (``already_checked_out``, ``version_conflict``) is made
against the value that actually won the race.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.calls import with_realm
from workers.sdk import Call, Context, InvocationError
from workers.sdk.context import Dispatcher

from .errors import Conflict, Forbidden, InvalidArguments

__all__ = [
    "DEFAULT_REALM",
    "REALM_PATTERN",
    "RealmState",
    "act_in",
    "describe",
    "parse",
    "require_operator",
    "target_realm",
]

log = logging.getLogger(__name__)

DEFAULT_REALM = "default"
"""How a payload or a path names the default realm (the realm of unbound credentials)."""
REALM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_REALM = re.compile(REALM_PATTERN)
CAS_ATTEMPTS = 50

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    """Validate a payload into ``model``.

    Raises:
        InvalidArguments: one ``field: problem`` per error.
    """
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
                 for e in exc.errors()]
        raise InvalidArguments("; ".join(parts)) from exc


def describe(realm: str | None) -> str:
    """A realm as people read it (``default`` for the default realm)."""
    return DEFAULT_REALM if realm is None else realm


def target_realm(ctx: Context, named: str | None) -> str | None:
    """The realm an invocation acts in, given the realm its payload or path names (if any).

    Raises:
        Forbidden: a realm-bound caller named another realm.
        InvalidArguments: the name is not a realm id.
    """
    if named is None or named == "":
        return ctx.realm
    if ctx.realm is not None:
        if named != ctx.realm:
            raise Forbidden(f"realm {named!r} is not the caller's realm")
        return ctx.realm
    if named == DEFAULT_REALM:
        return None
    if not _REALM.fullmatch(named):
        raise InvalidArguments(f"realm id {named!r} must match {REALM_PATTERN}")
    return named


async def require_operator(ctx: Context, what: str) -> None:
    """Refuse unless the caller is an operator: realm-unbound and of the ``system`` role.

    Raises:
        Forbidden: a realm-bound caller, or a bus caller whose role is not ``system``.
    """
    if ctx.realm is not None:
        raise Forbidden(f"{what} needs the system role; realm {ctx.realm!r} callers may not")
    role = ctx.role
    if role != "system":
        raise Forbidden(f"{what} needs the system role; the caller is {role!r}")


async def act_in(ctx: Context, named: str | None) -> RealmState:
    """The state of the realm an invocation acts in (see :func:`target_realm`).

    A realm-unbound caller naming a realm must be a ``system`` or ``worker`` credential: an
    unbound *client* stays in the default realm, as the engine keeps it there.

    Raises:
        Forbidden: a realm-bound caller named another realm, or an unbound client named one.
        InvalidArguments: the name is not a realm id.
    """
    realm = target_realm(ctx, named)
    if ctx.realm is None and realm is not None:
        role = ctx.role
        if role not in ("system", "worker"):
            raise Forbidden(f"a {role!r} credential without a realm cannot act in realm {realm!r}")
    return RealmState.of(ctx, realm)


class RealmState:
    """The state functions, ``publish`` and any call, in one realm.

    Args:
        dispatcher: where calls go (a handler's context, or the connection itself).
        realm: the realm (None: the default realm).
        baggage, traceparent: of the invocation being served, passed on (realm replaced).
    """

    __slots__ = ("dispatcher", "realm", "_baggage", "_traceparent")

    def __init__(self, dispatcher: Dispatcher, realm: str | None, *, baggage: str | None = None,
                 traceparent: str | None = None) -> None:
        self.dispatcher = dispatcher
        self.realm = realm
        self._baggage = with_realm(baggage, realm)
        self._traceparent = traceparent

    @classmethod
    def of(cls, ctx: Context, realm: str | None) -> RealmState:
        """``realm``'s state, on behalf of the invocation ``ctx``."""
        return cls(ctx.dispatcher, realm, baggage=ctx.baggage, traceparent=ctx.traceparent)

    def home(self) -> RealmState:
        """The default realm's state (realm records, API keys, runtimes), same invocation."""
        return self.within(None)

    def within(self, realm: str | None) -> RealmState:
        """Another realm's state, same invocation (only for an operator's or our own needs)."""
        out = RealmState(self.dispatcher, realm, traceparent=self._traceparent)
        out._baggage = with_realm(self._baggage, realm)
        return out

    async def call(self, function_id: str, data: Any = None, *, timeout: float | None = None) -> Any:
        """Call ``function_id`` in this realm and wait for the result.

        Raises:
            InvocationError: the call failed.
        """
        return await self.dispatcher.dispatch(Call(
            function_id, data, "sync", None, timeout, None, None,
            traceparent=self._traceparent, baggage=self._baggage))

    async def publish(self, topic: str, data: Any) -> None:
        """Publish on ``topic`` in this realm; best effort (a failure is logged)."""
        try:
            await self.call("publish", {"topic": topic, "data": data})
        except InvocationError as exc:
            log.warning("could not publish on %s in realm %s: %s", topic, describe(self.realm), exc)

    async def get(self, scope: str, key: str) -> Any:
        return await self.call("state::get", {"scope": scope, "key": key})

    async def set(self, scope: str, key: str, value: Any) -> Any:
        return await self.call("state::set", {"scope": scope, "key": key, "value": value})

    async def delete(self, scope: str, key: str) -> Any:
        return await self.call("state::delete", {"scope": scope, "key": key})

    async def list(self, scope: str) -> list[Any]:
        values = await self.call("state::list", {"scope": scope})
        return list(values or [])

    async def groups(self) -> builtins.list[str]:
        answer = await self.call("state::list_groups", {})
        return list((answer or {}).get("groups") or [])

    async def increment(self, scope: str, key: str, paths: dict[str, float]) -> Any:
        """Add ``by`` to each dotted path of the stored object, atomically; the new value."""
        ops = [{"type": "increment", "path": path, "by": by} for path, by in paths.items()]
        answer = await self.call("state::update", {"scope": scope, "key": key, "ops": ops})
        return (answer or {}).get("new_value")

    async def next_seq(self, name: str) -> int:
        """The next number of the sequence ``name`` in this realm (1, 2, …), atomically.

        Keys built from it (zero-padded) keep ``state::list`` in creation order even when the
        clock does not move.
        """
        value = await self.increment("seq", name, {"n": 1})
        return int(value["n"])

    async def cas(self, scope: str, key: str, expected: Any, value: Any) -> tuple[bool, Any]:
        """Compare-and-set; ``(True, value)`` or ``(False, what is stored)``."""
        answer = await self.call("state::cas", {"scope": scope, "key": key, "expected": expected,
                                                "value": value})
        if isinstance(answer, dict) and answer.get("ok"):
            return True, value
        return False, answer.get("current") if isinstance(answer, dict) else None

    async def create(self, scope: str, key: str, value: Any) -> bool:
        """Store ``value`` unless the key exists; True if it was stored."""
        ok, _ = await self.cas(scope, key, None, value)
        return ok

    async def mutate(self, scope: str, key: str, edit: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Apply ``edit`` to the stored value atomically, again on each lost race.

        ``edit`` gets the current value (None when absent), returns the new one, and may raise
        to refuse; it must be pure (it may run several times).

        Returns:
            ``(before, after)``.

        Raises:
            Conflict: the value kept changing (``CAS_ATTEMPTS`` lost races in a row).
            Whatever ``edit`` raises.
        """
        current = await self.get(scope, key)
        for _ in range(CAS_ATTEMPTS):
            new = edit(current)
            ok, stored = await self.cas(scope, key, current, new)
            if ok:
                return current, new
            current = stored
        raise Conflict(f"{scope}/{key} kept changing; try again")
