"""The stream module's trigger types: ``stream`` (item changes), ``stream:join``, ``stream:leave``.

Theory of operation
-------------------
Each type is a provider the router binds triggers to (:class:`TypeBindings`); a binding's
config is validated when it is made, so a bad one is refused at once.

* ``stream {stream_name, group_id?, item_id?, condition_function_id?}`` fires after every
  ``stream::set``, ``stream::update`` and ``stream::delete`` that matches, with the change as
  iii's ``StreamChangeEvent`` (``type, timestamp, streamName, groupId, id, event{type,data}``)
  plus the flat fields ``event_type, stream_name, group_id, item_id, old_value, new_value``.
* ``stream:join`` / ``stream:leave {condition_function_id?}`` fire with ``{subscription_id,
  stream_name, group_id, id, context}`` when a socket joins, leaves or disconnects. Join
  bindings are called and *awaited* before the join is served: one answering
  ``{"unauthorized": true}`` refuses it (the client gets an ``unauthorized`` event), as in iii.
  A failing join handler is logged and does not refuse (iii's rule); realm isolation does not
  depend on it.

Realms are structural, as in the pubsub and state modules: a binding fires only for events of
the realm of the credential that made it (a realm-less binding: the default realm), and its
function is called in that realm with the ``worker`` role (:func:`engine.modules.pubsub.fire`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import InvalidArguments, WireError
from ..registry import TriggerEntry
from ..router import Router
from ..types import Call
from .pubsub import CONDITION_TIMEOUT_S, DELIVERY_ROLE, fire
from .stream_protocol import Name

__all__ = ["ChangeConfig", "JoinLeaveConfig", "StreamTriggers", "TypeBindings", "JOIN_TIMEOUT_S"]

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 30.0
"""How long a join waits for each ``stream:join`` handler."""

Spawn = Callable[..., None]


class ChangeConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    stream_name: Name
    group_id: Name | None = None
    item_id: Name | None = None
    condition_function_id: Name | None = None

    def matches(self, stream_name: str, group_id: str, item_id: str | None) -> bool:
        return (self.stream_name == stream_name and self.group_id in (None, group_id)
                and self.item_id in (None, item_id))


class JoinLeaveConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    condition_function_id: Name | None = None


C = TypeVar("C", bound=BaseModel)


class TypeBindings(Generic[C]):
    """The live bindings of one trigger type, with their validated configs (a router provider)."""

    def __init__(self, type_id: str, model: type[C]) -> None:
        self.type_id = type_id
        self.model = model
        self.bound: dict[str, tuple[TriggerEntry, C]] = {}

    async def register_trigger(self, trig: TriggerEntry) -> None:
        """Accept a binding.

        Raises:
            InvalidArguments: the config does not fit the type (the binding is refused).
        """
        try:
            config = self.model.model_validate(trig.config if trig.config is not None else {})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in err["loc"]) or "config"
            raise InvalidArguments(f"{self.type_id} trigger: config.{where}: {err['msg'].lower()}") from None
        self.bound[trig.id] = (trig, config)

    async def unregister_trigger(self, trig: TriggerEntry) -> None:
        self.bound.pop(trig.id, None)

    def in_realm(self, realm: str | None) -> list[tuple[TriggerEntry, C]]:
        return [(t, c) for t, c in self.bound.values() if t.realm == realm]


class StreamTriggers:
    """The three providers and how each fires."""

    def __init__(self, router: Router, spawn: Spawn) -> None:
        self.router = router
        self.spawn = spawn
        self.change: TypeBindings[ChangeConfig] = TypeBindings("stream", ChangeConfig)
        self.join: TypeBindings[JoinLeaveConfig] = TypeBindings("stream:join", JoinLeaveConfig)
        self.leave: TypeBindings[JoinLeaveConfig] = TypeBindings("stream:leave", JoinLeaveConfig)

    def providers(self) -> list[tuple[str, TypeBindings[Any], str]]:
        """``(type id, provider, description)`` for ``register_local_type``."""
        return [
            ("stream", self.change, "Fire on stream::set/update/delete of config.stream_name "
                                    "(group_id?, item_id?, condition_function_id?)"),
            ("stream:join", self.join, "Fire when a stream socket joins; answer {unauthorized:true} to refuse"),
            ("stream:leave", self.leave, "Fire when a stream socket leaves or disconnects"),
        ]

    def fire_change(self, realm: str | None, stream_name: str, group_id: str, item_id: str | None,
                    payload: dict[str, Any]) -> None:
        """Start delivering an item change to the matching ``stream`` bindings; never waits."""
        for trig, config in self.change.in_realm(realm):
            if config.matches(stream_name, group_id, item_id):
                self.spawn(self._fire, trig, dict(payload), config.condition_function_id)

    def fire_leave(self, realm: str | None, event: dict[str, Any]) -> None:
        """Start delivering a leave (or a disconnect) to the ``stream:leave`` bindings."""
        for trig, config in self.leave.in_realm(realm):
            self.spawn(self._fire, trig, dict(event), config.condition_function_id)

    async def _fire(self, trig: TriggerEntry, payload: dict[str, Any], condition: str | None) -> None:
        await fire(self.router, trig, payload, condition=condition)

    async def authorize_join(self, realm: str | None, event: dict[str, Any]) -> bool:
        """Call every ``stream:join`` binding of the realm, in turn, and wait for each.

        Returns:
            False if any answered ``{"unauthorized": true}``.
        """
        allowed = True
        for trig, config in self.join.in_realm(realm):
            call = Call(trig.function_id, role=DELIVERY_ROLE, realm=trig.realm)
            try:
                if config.condition_function_id and not await self.router.invoke(
                        config.condition_function_id, dict(event), call=call, namespace=trig.namespace,
                        timeout=CONDITION_TIMEOUT_S):
                    continue
                result = await self.router.invoke(trig.function_id, dict(event), call=call, namespace=trig.namespace,
                                                  metadata=trig.metadata, timeout=JOIN_TIMEOUT_S)
            except WireError as exc:
                log.warning("stream:join trigger %s (%s) failed: %s: %s", trig.id, trig.function_id, exc.code, exc.message)
                continue
            if isinstance(result, dict) and result.get("unauthorized") is True:
                allowed = False
        return allowed
