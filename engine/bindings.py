"""Binding triggers to the providers of their trigger types (iii-protocol.md §1.8).

A trigger is bound to a built-in provider by calling it, or to a remote provider (a worker that
registered the type) by forwarding ``registertrigger`` and waiting for its
``triggerregistrationresult``. A refusal goes back to the worker that made the binding. A
binding whose type has no provider stays PARKED and is bound when one appears.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import protocol as p
from .errors import WireError
from .registry import DEFAULT_NAMESPACE, TriggerEntry, TriggerState

if TYPE_CHECKING:
    from .router import Router
    from .session import Session

__all__ = ["Bindings"]

log = logging.getLogger(__name__)


class Bindings:
    """The trigger half of the router: bind, unbind, acknowledge."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def add(self, trig: TriggerEntry, owner_namespace: str | None = None) -> None:
        """Store a binding and bind it to its type's provider now, or park it until one appears."""
        previous = self.router.registry.add_trigger(trig)
        if previous is not None:
            await self.unbind(previous)
        await self.bind(trig, owner_namespace)

    async def remove(self, trigger_id: str) -> bool:
        trig = self.router.registry.remove_trigger(trigger_id)
        if trig is None:
            return False
        await self.unbind(trig)
        return True

    async def bind(self, trig: TriggerEntry, owner_namespace: str | None = None) -> None:
        if owner_namespace is None and trig.owner is not None and trig.owner in self.router.sessions:
            owner_namespace = self.router.sessions[trig.owner].namespace
        ttype = self.router.registry.find_type(trig, owner_namespace)
        if ttype is None:
            trig.state = TriggerState.PARKED
            return
        trig.provider, trig.type_namespace = ttype.owner, ttype.namespace
        if ttype.provider is not None:
            try:
                await ttype.provider.register_trigger(trig)
            except Exception as exc:  # a refusal: bad config, invalid cron, …
                trig.state, trig.provider, trig.type_namespace = TriggerState.PARKED, None, None
                self.router.registry.remove_trigger(trig.id)
                message = exc.message if isinstance(exc, WireError) else str(exc)
                log.info("trigger %s (%s) refused: %s", trig.id, trig.trigger_type, message)
                await self._tell_owner(trig, p.ErrorBody(code="trigger_registration_failed", message=message))
                return
            trig.state = TriggerState.ACTIVE
            return
        trig.state = TriggerState.PENDING
        provider = self.router.sessions[ttype.owner]
        await self.router._send(provider, p.RegisterTrigger(id=trig.id, trigger_type=trig.trigger_type, function_id=trig.function_id, config=trig.config,
                                                     metadata=trig.metadata, namespace=trig.namespace, trigger_namespace=trig.trigger_namespace))

    async def unbind(self, trig: TriggerEntry) -> None:
        if trig.state is TriggerState.PARKED or trig.provider is None:
            return
        ttype = self.router.registry.types.get((trig.type_namespace or DEFAULT_NAMESPACE, trig.trigger_type))
        trig.state, provider_id, trig.provider = TriggerState.PARKED, trig.provider, None
        if ttype is not None and ttype.provider is not None:
            try:
                await ttype.provider.unregister_trigger(trig)
            except Exception:
                log.exception("provider of %s failed to unregister trigger %s", trig.trigger_type, trig.id)
        elif provider_id in self.router.sessions:
            await self.router._send(self.router.sessions[provider_id], p.UnregisterTrigger(id=trig.id, trigger_type=trig.trigger_type))

    async def on_ack(self, s: Session, msg: p.TriggerRegistrationResult) -> None:
        trig = self.router.registry.triggers.get(msg.id)
        if trig is None or trig.provider != s.worker_id:
            return
        if msg.error is None:
            trig.state = TriggerState.ACTIVE
            return
        trig.state, trig.provider, trig.type_namespace = TriggerState.PARKED, None, None
        await self._tell_owner(trig, msg.error)

    async def _tell_owner(self, trig: TriggerEntry, error: p.ErrorBody) -> None:
        owner = self.router.sessions.get(trig.owner) if trig.owner else None
        if owner is not None:
            await self.router._send(owner, p.TriggerRegistrationResult(id=trig.id, trigger_type=trig.trigger_type, function_id=trig.function_id, error=error))
