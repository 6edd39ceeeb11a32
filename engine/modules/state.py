"""``iii-state``: scoped key/value state (``state::*``) and the ``state`` trigger type.

Theory of operation
-------------------
Functions (all in namespace ``default``; ``value`` may also be spelled ``data`` in ``set``)::

    state::set         {scope, key, value}            → {old_value, new_value}
    state::get         {scope, key}                   → the value, or null
    state::delete      {scope, key}                   → the deleted value, or null
    state::update      {scope, key, ops[], expected?} → {old_value, new_value}
    state::cas         {scope, key, expected, value}  → {ok: true, old_value, new_value}
    state::list        {scope}                        → [values, ordered by key]
    state::list_groups {}                             → {groups: [sorted scope names]}

``update`` folds the ops of :mod:`engine.modules.state_ops` over the stored value inside the
adapter's atomic read-modify-write (``KV.update``), so concurrent updates never lose a write, on
any engine sharing the store. **Compare-and-set**: ``state::cas``, and ``state::update`` given
``expected``, only write when the whole stored value equals ``expected`` (JSON equality; null
means "absent"). A mismatch is an expected outcome of optimistic concurrency, not an error: the
answer is ``{ok: false, current: <stored value>}`` and nothing is written; on success the answer
carries ``ok: true`` next to ``old_value``/``new_value``. Without ``expected``, ``update``
answers exactly iii's ``{old_value, new_value}``.

Errors: ``invalid_arguments`` names the bad field; ``VALUE_TOO_LARGE`` when the serialised JSON
of the value to store exceeds ``max_value_bytes``; ``UPDATE_ERROR`` when an op does not fit the
stored value; ``adapter_error`` when storage fails. In every error case nothing is written.

Realms are structural: the adapter scope is :func:`~engine.modules.pubsub.realm_key` of the
invocation's realm (set by the engine from the caller's credential) and the scope, so no payload
can name another realm's data, and ``list_groups`` only sees the caller's realm.

Trigger ``state`` ``{scope?, key?, condition_function_id?}`` fires
``{type: "state", event_type: "state:created|state:updated|state:deleted", scope, key,
old_value, new_value}`` to the bound function (a void call) for every change in the binding's
realm (bindings without a realm see the default realm) that matches its scope and key; the
condition function, if any, is called first and a falsy answer skips the event. ``set`` of a key
that held null or nothing is ``created``; ``delete`` of an absent key fires nothing. Events go
through a PubSub built from the state adapter: in-process for memory/sqlite, Redis for redis,
so with several engines on one Redis a change made on any engine reaches triggers on all of
them. One task delivers events in order; conditions run in that task, so keep them quick. With
``triggers_enabled: false`` no events are produced and ``state`` bindings stay parked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ..adapters import AdapterError, SerializationError, build_kv, build_pubsub, parse_spec
from ..adapters.base import dumps
from ..config import StateModuleConfig
from ..errors import InvalidArguments, WireError
from ..realm_keys import RealmKeySource
from ..registry import TriggerEntry
from ..types import Call
from .pubsub import adapter_errors, consume, fire, realm_key, unregister_locals
from .state_ops import apply_ops, parse_ops, same_json

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["StateModule", "EVENTS_TOPIC"]

log = logging.getLogger(__name__)

EVENTS_TOPIC = "agentos.state-events"
"""Adapter topic of state events; user topics always contain ``\\x1f``, so they never clash."""
FUNCTIONS = ("state::set", "state::get", "state::delete", "state::update", "state::cas",
             "state::list", "state::list_groups")


def _schema(*required: str, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"scope": {"type": "string", "minLength": 1}, "key": {"type": "string", "minLength": 1}}
    props.update(extra)
    return {"type": "object", "required": list(required), "properties": {k: props[k] for k in (*required, *extra)}}


def _args(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArguments(f"expected an object payload, got {type(data).__name__}")
    return data


def _name(args: dict[str, Any], field: str) -> str:
    value = args.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidArguments(f"'{field}' must be a non-empty string, got {type(value).__name__}")
    return value


def _opt_name(config: dict[str, Any], field: str) -> str | None:
    value = config.get(field)
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidArguments(f"state trigger config.{field} must be a non-empty string")
    return value


class _Mismatch(Exception):
    """Raised inside ``KV.update`` to abort a compare-and-set; carries the stored value."""

    def __init__(self, current: Any) -> None:
        self.current = current


@dataclass(frozen=True, slots=True)
class _Binding:
    trigger: TriggerEntry
    scope: str | None
    key: str | None
    condition: str | None


class StateModule:
    """The ``state::*`` functions and the ``state`` trigger type; ``async with`` starts them."""

    def __init__(self, node: Node, config: StateModuleConfig | None = None) -> None:
        self.router = node.router
        self.config = config or StateModuleConfig()
        spec = parse_spec(self.config.adapter.model_dump())
        self.kv = build_kv(spec)
        self._events = build_pubsub(spec) if self.config.triggers_enabled else None
        self._shared = spec.kind == "redis"
        self._bindings: dict[str, _Binding] = {}
        self._stack = AsyncExitStack()
        self.realm_keys = RealmKeySource(getattr(node, "auth", None), self)

    async def __aenter__(self) -> StateModule:
        stack = self._stack
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.kv)
            if self._events is not None:
                await stack.enter_async_context(self._events)
                tg = await stack.enter_async_context(anyio.create_task_group())
                stack.callback(tg.cancel_scope.cancel)
                await tg.start(consume, self._events, EVENTS_TOPIC, self._dispatch)
            self._register()
            if self._events is not None:
                await self.router.register_local_type("state", self, "State changes: state:created/updated/deleted")
            stack.callback(unregister_locals, self.router, FUNCTIONS, "state" if self._events else None)
            await stack.enter_async_context(self.realm_keys)
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    def _register(self) -> None:
        reg = self.router.register_local
        reg("state::set", self.set, description="Store a value; returns {old_value, new_value}",
            request_format=_schema("scope", "key", value={}))
        reg("state::get", self.get, description="Read a value (null if absent)", request_format=_schema("scope", "key"))
        reg("state::delete", self.delete, description="Delete a value; returns it (or null)",
            request_format=_schema("scope", "key"))
        reg("state::update", self.update, description="Apply ops atomically (set/merge/increment/decrement/append/remove); "
            "with 'expected', only if the value equals it", request_format=_schema("scope", "key", ops={"type": "array"}))
        reg("state::cas", self.cas, description="Compare-and-set: write 'value' only if the stored value equals 'expected'",
            request_format=_schema("scope", "key", expected={}, value={}))
        reg("state::list", self.list_values, description="Values of a scope, ordered by key", request_format=_schema("scope"))
        reg("state::list_groups", self.list_groups, description="Scopes of the caller's realm, sorted",
            request_format={"type": "object"})

    # -- functions -----------------------------------------------------------------------------

    def _check_size(self, value: Any) -> None:
        try:
            size = len(dumps(value).encode())
        except SerializationError as exc:
            raise InvalidArguments(f"'value' is not JSON: {exc}") from exc
        if size > self.config.max_value_bytes:
            raise WireError(f"value is {size} bytes of JSON, over max_value_bytes={self.config.max_value_bytes}; "
                            "nothing was written", code="VALUE_TOO_LARGE")

    async def set(self, data: Any, call: Call) -> dict[str, Any]:
        """``state::set``; raises InvalidArguments, ``VALUE_TOO_LARGE`` or ``adapter_error``."""
        args = _args(data)
        scope, key = _name(args, "scope"), _name(args, "key")
        if "value" in args:
            value = args["value"]
        elif "data" in args:
            value = args["data"]
        else:
            raise InvalidArguments("'value' is required (or its alias 'data')")
        self._check_size(value)
        with adapter_errors("state::set"):
            old = await self.kv.set(realm_key(call.realm, scope), key, value)
        await self._emit(call, scope, key, old, value)
        return {"old_value": old, "new_value": value}

    async def get(self, data: Any, call: Call) -> Any:
        """``state::get``: the value, or None when absent."""
        args = _args(data)
        scope, key = _name(args, "scope"), _name(args, "key")
        with adapter_errors("state::get"):
            return await self.kv.get(realm_key(call.realm, scope), key)

    async def delete(self, data: Any, call: Call) -> Any:
        """``state::delete``: the deleted value, or None when absent (no event then)."""
        args = _args(data)
        scope, key = _name(args, "scope"), _name(args, "key")
        with adapter_errors("state::delete"):
            old = await self.kv.delete(realm_key(call.realm, scope), key)
        if old is not None:
            await self._emit(call, scope, key, old, None, deleted=True)
        return old

    async def update(self, data: Any, call: Call) -> dict[str, Any]:
        """``state::update``; also raises ``UPDATE_ERROR`` (see the module docstring for CAS)."""
        args = _args(data)
        scope, key = _name(args, "scope"), _name(args, "key")
        ops = parse_ops(args.get("ops"))
        return await self._write(call, scope, key, lambda current: apply_ops(current, ops), args, "state::update")

    async def cas(self, data: Any, call: Call) -> dict[str, Any]:
        """``state::cas``: ``{ok: true, old_value, new_value}`` or ``{ok: false, current}``."""
        args = _args(data)
        scope, key = _name(args, "scope"), _name(args, "key")
        for field in ("expected", "value"):
            if field not in args:
                raise InvalidArguments(f"'{field}' is required (null for expected means: absent)")
        value = args["value"]
        return await self._write(call, scope, key, lambda current: value, args, "state::cas")

    async def _write(self, call: Call, scope: str, key: str, change: Callable[[Any], Any],
                     args: dict[str, Any], what: str) -> dict[str, Any]:
        guarded, expected = "expected" in args, args.get("expected")

        def step(current: Any) -> Any:  # runs inside KV.update: pure, may run more than once
            if guarded and not same_json(current, expected):
                raise _Mismatch(current)
            new = change(current)
            self._check_size(new)
            return new

        try:
            with adapter_errors(what):
                old, new = await self.kv.update(realm_key(call.realm, scope), key, step)
        except _Mismatch as exc:
            return {"ok": False, "current": exc.current}
        await self._emit(call, scope, key, old, new)
        result = {"old_value": old, "new_value": new}
        return {"ok": True, **result} if guarded else result

    async def list_values(self, data: Any, call: Call) -> list[Any]:
        """``state::list``: the values of a scope, ordered by key."""
        scope = _name(_args(data), "scope")
        with adapter_errors("state::list"):
            return [value for _, value in await self.kv.list(realm_key(call.realm, scope))]

    async def list_groups(self, data: Any, call: Call) -> dict[str, list[str]]:
        """``state::list_groups``: the caller's realm's scopes, sorted."""
        _args(data)
        prefix = realm_key(call.realm, "")
        with adapter_errors("state::list_groups"):
            scopes = await self.kv.scopes(prefix)
        return {"groups": sorted(s[len(prefix):] for s in scopes)}

    # -- events --------------------------------------------------------------------------------

    async def _emit(self, call: Call, scope: str, key: str, old: Any, new: Any, *, deleted: bool = False) -> None:
        if self._events is None or not (self._shared or self._bindings):
            return
        kind = "deleted" if deleted else "created" if old is None else "updated"
        event = {"type": "state", "event_type": f"state:{kind}", "scope": scope, "key": key,
                 "old_value": old, "new_value": new}
        try:
            await self._events.publish(EVENTS_TOPIC, {"realm": call.realm or None, "event": event})
        except AdapterError as exc:  # the write is done: report it, do not fail the caller
            log.warning("state event for %r/%r lost: %s", scope, key, exc)

    async def _dispatch(self, message: Any) -> None:
        event = message.get("event") if isinstance(message, dict) else None
        if not isinstance(event, dict) or not all(isinstance(event.get(f), str) for f in ("scope", "key", "event_type")):
            log.warning("ignoring a malformed state event: %.200r", message)
            return
        realm = message.get("realm")
        for b in list(self._bindings.values()):
            if ((b.trigger.realm or None) == realm and b.scope in (None, event["scope"])
                    and b.key in (None, event["key"]) and self._bindings.get(b.trigger.id) is b):
                await fire(self.router, b.trigger, event, condition=b.condition)

    async def register_trigger(self, trig: TriggerEntry) -> None:
        """Start delivering state events to a binding.

        Raises:
            InvalidArguments: the config is not an object or a field is not a non-empty string.
        """
        config = {} if trig.config is None else trig.config
        if not isinstance(config, dict):
            raise InvalidArguments("state trigger config must be an object {scope?, key?, condition_function_id?}")
        self._bindings[trig.id] = _Binding(trig, _opt_name(config, "scope"), _opt_name(config, "key"),
                                           _opt_name(config, "condition_function_id"))

    async def unregister_trigger(self, trig: TriggerEntry) -> None:
        """Stop delivering to a binding (events already being delivered to it are not recalled)."""
        self._bindings.pop(trig.id, None)
