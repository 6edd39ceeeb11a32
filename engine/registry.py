"""What the engine knows: functions, trigger types, triggers and worker-name leases.

Theory of operation
-------------------
The registry is pure bookkeeping with the ownership rules of iii (iii-protocol.md §1.5): no
I/O, no awaiting. The router asks it questions and applies the answers on the wire.

* A function lives at ``(namespace, function_id)`` and has one live owner: a worker id, or
  :data:`ENGINE` for built-ins (always live). A second live worker claiming it is refused with
  ``FUNCTION_NAMESPACE_CONFLICT``; an owner that is gone (``is_live`` says no) is taken over;
  the same owner registering again replaces its own entry.
* ``engine::*`` ids are only allowed in the ``default`` namespace; blank namespaces are refused.
* A function has a ``min_role``, the lowest caller role the router lets through (client <
  worker < system): built-ins pass it to ``register_local``; a worker asks for one with
  ``metadata.min_role`` (read by :func:`min_role_of`).
* A worker name is leased per ``(namespace, name)``: a second live worker with the same name is
  refused with ``WORKER_NAMESPACE_CONFLICT``.
* A trigger is bound to a trigger type found in its ``trigger_namespace`` (else the owner's
  namespace, else ``default``). A trigger whose type does not exist yet is PARKED and bound when
  the type appears; when a type's provider leaves, its triggers are PARKED again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidNamespace, RegistrationConflict
from .types import Role

__all__ = [
    "ENGINE",
    "DEFAULT_NAMESPACE",
    "FunctionEntry",
    "TriggerEntry",
    "TriggerState",
    "TriggerTypeEntry",
    "Registry",
    "check_namespace",
    "min_role_of",
    "MIN_ROLE_KEY",
]

ENGINE = "engine"
"""Owner id of built-in functions and trigger types; always live."""

DEFAULT_NAMESPACE = "default"


def check_namespace(namespace: str | None) -> str:
    """Normalise a namespace: None → ``default``; blank → :class:`InvalidNamespace`."""
    if namespace is None:
        return DEFAULT_NAMESPACE
    if not namespace.strip():
        raise InvalidNamespace(f"namespace {namespace!r} is blank")
    return namespace


MIN_ROLE_KEY = "min_role"
"""The ``registerfunction`` metadata entry that names the lowest role allowed to call it."""


def min_role_of(metadata: dict[str, Any] | None) -> Role | None:
    """The ``min_role`` a function registration asks for in its metadata.

    Call it when a worker registers a function, before building its :class:`FunctionEntry`.

    Returns:
        ``client`` when the metadata has no ``min_role`` (or null); the role it names; None when the
        value is not one of ``client``, ``worker``, ``system`` (refuse the registration).
    """
    value = metadata.get(MIN_ROLE_KEY) if metadata else None
    if value is None:
        return "client"
    return _ROLES.get(value) if isinstance(value, str) else None


_ROLES: dict[str, Role] = {"client": "client", "worker": "worker", "system": "system"}


@dataclass(slots=True)
class FunctionEntry:
    function_id: str
    namespace: str
    owner: str
    description: str | None = None
    request_format: Any = None
    response_format: Any = None
    metadata: dict[str, Any] | None = None
    handler: Any = None
    """For built-ins: ``async (data, call) -> result``. None for remote functions."""
    realm: str | None = None
    """Set when a realm-bound worker registered it: only that realm (and system) may call it."""
    min_role: str = "client"
    """Lowest role allowed to call it (client < worker < system), on every path: direct and
    void calls, enqueued jobs (checked when they run), HTTP routes and the engine's own calls."""


class TriggerState(enum.Enum):
    PARKED = "parked"  # no provider yet, or the provider refused it
    PENDING = "pending"  # sent to a remote provider, waiting for its ack
    ACTIVE = "active"


@dataclass(slots=True)
class TriggerEntry:
    id: str
    trigger_type: str
    function_id: str
    config: Any
    owner: str | None
    """Worker that registered it; None for durable engine-made bindings (engine::register_trigger)."""
    namespace: str = DEFAULT_NAMESPACE
    """Where ``function_id`` resolves."""
    trigger_namespace: str | None = None
    metadata: dict[str, Any] | None = None
    state: TriggerState = TriggerState.PARKED
    provider: str | None = None
    """Owner of the trigger type it is bound to, while PENDING or ACTIVE."""
    type_namespace: str | None = None
    realm: str | None = None
    """The realm of the credential that made the binding."""


@dataclass(slots=True)
class TriggerTypeEntry:
    id: str
    namespace: str
    owner: str
    description: str = ""
    trigger_request_format: Any = None
    call_request_format: Any = None
    provider: Any = None
    """For built-ins: the local provider object. None for remote providers."""


@dataclass
class Dropped:
    """What leaving took away from an owner."""

    functions: list[FunctionEntry] = field(default_factory=list)
    triggers: list[TriggerEntry] = field(default_factory=list)
    types: list[TriggerTypeEntry] = field(default_factory=list)
    orphaned: list[TriggerEntry] = field(default_factory=list)
    """Other owners' triggers that were bound to a dropped type: now PARKED."""


class Registry:
    """Functions, trigger types, triggers and worker-name leases, with iii's ownership rules."""

    def __init__(self, is_live: Callable[[str], bool]) -> None:
        self._is_live = is_live
        self.functions: dict[tuple[str, str], FunctionEntry] = {}
        self.types: dict[tuple[str, str], TriggerTypeEntry] = {}
        self.triggers: dict[str, TriggerEntry] = {}
        self._names: dict[tuple[str, str], str] = {}

    def _live(self, owner: str) -> bool:
        return owner == ENGINE or self._is_live(owner)

    # -- functions -------------------------------------------------------------------------

    def add_function(self, entry: FunctionEntry) -> FunctionEntry | None:
        """Register a function, applying the ownership rules.

        Returns:
            The entry it replaced, if any.

        Raises:
            InvalidNamespace: blank namespace, or ``engine::`` outside ``default``.
            RegistrationConflict: another live owner holds the id.
        """
        entry.namespace = check_namespace(entry.namespace)
        if entry.function_id.startswith("engine::") and entry.namespace != DEFAULT_NAMESPACE:
            raise InvalidNamespace(f"engine:: functions live only in '{DEFAULT_NAMESPACE}'")
        key = (entry.namespace, entry.function_id)
        current = self.functions.get(key)
        if current is not None and current.owner != entry.owner and self._live(current.owner):
            raise RegistrationConflict(
                "FUNCTION_NAMESPACE_CONFLICT",
                f"function {entry.function_id!r} in namespace {entry.namespace!r} is owned by "
                f"worker {current.owner}",
                owner_worker_id=current.owner,
            )
        self.functions[key] = entry
        return current

    def remove_function(self, namespace: str, function_id: str, owner: str) -> bool:
        """Unregister a function if ``owner`` owns it; True when something was removed."""
        key = (namespace, function_id)
        current = self.functions.get(key)
        if current is None or current.owner != owner:
            return False
        del self.functions[key]
        return True

    def resolve(self, namespace: str | None, function_id: str) -> FunctionEntry | None:
        """The live function at ``(namespace or default, function_id)``, or None."""
        entry = self.functions.get((namespace or DEFAULT_NAMESPACE, function_id))
        if entry is None or not self._live(entry.owner):
            return None
        return entry

    # -- worker names ----------------------------------------------------------------------

    def lease_name(self, namespace: str, name: str, worker_id: str) -> None:
        """Take the ``(namespace, name)`` lease for a worker.

        Raises:
            RegistrationConflict: ``WORKER_NAMESPACE_CONFLICT`` if a live worker holds it.
        """
        key = (namespace, name)
        holder = self._names.get(key)
        if holder is not None and holder != worker_id and self._live(holder):
            raise RegistrationConflict(
                "WORKER_NAMESPACE_CONFLICT",
                f"a worker named {name!r} is already connected in namespace {namespace!r}",
                owner_worker_id=holder,
            )
        self._names[key] = worker_id

    # -- trigger types and triggers --------------------------------------------------------

    def add_type(self, entry: TriggerTypeEntry) -> list[TriggerEntry]:
        """Register a trigger type.

        Returns:
            The PARKED triggers that can now be bound to it.

        Raises:
            RegistrationConflict: another live owner provides that type already.
        """
        entry.namespace = check_namespace(entry.namespace)
        key = (entry.namespace, entry.id)
        current = self.types.get(key)
        if current is not None and current.owner != entry.owner and self._live(current.owner):
            raise RegistrationConflict(
                "TRIGGER_TYPE_CONFLICT",
                f"trigger type {entry.id!r} is provided by worker {current.owner}",
                owner_worker_id=current.owner,
            )
        self.types[key] = entry
        return [t for t in self.triggers.values() if t.state is TriggerState.PARKED and self.find_type(t) is entry]

    def remove_type(self, namespace: str, type_id: str, owner: str) -> list[TriggerEntry]:
        """Unregister a trigger type; its bound triggers go back to PARKED and are returned."""
        key = (namespace, type_id)
        current = self.types.get(key)
        if current is None or current.owner != owner:
            return []
        del self.types[key]
        return self._park_bound_to(current)

    def find_type(self, trigger: TriggerEntry, owner_namespace: str | None = None) -> TriggerTypeEntry | None:
        """The live type a trigger binds to: trigger_namespace, else owner's namespace, else default."""
        spaces = [trigger.trigger_namespace] if trigger.trigger_namespace else [owner_namespace, DEFAULT_NAMESPACE]
        for space in spaces:
            if space is None:
                continue
            entry = self.types.get((space, trigger.trigger_type))
            if entry is not None and self._live(entry.owner):
                return entry
        return None

    def add_trigger(self, entry: TriggerEntry) -> TriggerEntry | None:
        """Store a trigger (PARKED). Returns the entry with the same id it replaced, if any."""
        previous = self.triggers.get(entry.id)
        self.triggers[entry.id] = entry
        return previous

    def remove_trigger(self, trigger_id: str) -> TriggerEntry | None:
        return self.triggers.pop(trigger_id, None)

    def _park_bound_to(self, type_entry: TriggerTypeEntry) -> list[TriggerEntry]:
        parked = []
        for trig in self.triggers.values():
            if (
                trig.state is not TriggerState.PARKED
                and trig.trigger_type == type_entry.id
                and trig.type_namespace == type_entry.namespace
            ):
                trig.state, trig.provider, trig.type_namespace = TriggerState.PARKED, None, None
                parked.append(trig)
        return parked

    # -- owners ----------------------------------------------------------------------------

    def drop_owner(self, owner: str) -> Dropped:
        """Remove everything an owner registered (on disconnect)."""
        dropped = Dropped()
        for key in [k for k, f in self.functions.items() if f.owner == owner]:
            dropped.functions.append(self.functions.pop(key))
        for tid in [t.id for t in self.triggers.values() if t.owner == owner]:
            dropped.triggers.append(self.triggers.pop(tid))
        for key in [k for k, t in self.types.items() if t.owner == owner]:
            entry = self.types.pop(key)
            dropped.types.append(entry)
            dropped.orphaned.extend(self._park_bound_to(entry))
        for key in [k for k, w in self._names.items() if w == owner]:
            del self._names[key]
        return dropped

    def functions_of(self, owner: str) -> Iterator[FunctionEntry]:
        return (f for f in self.functions.values() if f.owner == owner)
