"""The registration half of the router: what a connection declares, applied in arrival order.

Theory of operation
-------------------
A connection's ``registerfunction``/``registertrigger``/``registertriggertype`` frames (and their
``unregister…`` twins and ``registerservice``) come here from :meth:`engine.router.Router.handle`.
While the session is RESOLVING they are buffered; the metadata call
``engine::workers::register`` names the namespace (or the grace period defaults it), and the
buffer is applied in order. None of this is on the invocation hot path.

Rules applied here, each answered with ``registrationrejected`` rather than a crash:

* only ``worker`` and ``system`` credentials may register (code ``FORBIDDEN``);
* a function's ``metadata.min_role`` (``client``, ``worker`` or ``system``; absent: ``client``)
  becomes :attr:`~engine.registry.FunctionEntry.min_role`, the lowest role the router lets call
  it; any other value refuses the registration with ``INVALID_MIN_ROLE``. A worker may ask for a
  minimum above its own role (``system`` from a ``worker`` token): the setting only narrows who
  may call the function, so it grants the registrant nothing;
* ownership conflicts and bad namespaces, as the :class:`~engine.registry.Registry` decides;
* more than ``max_registrations`` live claims closes the connection (1008).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel

from . import protocol as p
from .errors import InvalidNamespace, RegistrationConflict
from .registry import (
    DEFAULT_NAMESPACE,
    FunctionEntry,
    TriggerEntry,
    TriggerTypeEntry,
    check_namespace,
    min_role_of,
)
from .session import Session, SessionState

if TYPE_CHECKING:
    from .router import Router

__all__ = ["Registrations", "FUNCTIONS_EVENT", "WORKERS_EVENT", "INVALID_MIN_ROLE"]

log = logging.getLogger(__name__)

WORKERS_EVENT = "engine::workers-available"
FUNCTIONS_EVENT = "engine::functions-available"
INVALID_MIN_ROLE = "INVALID_MIN_ROLE"
"""``registrationrejected`` code: ``metadata.min_role`` is not client, worker or system."""

REGISTRATIONS = frozenset({p.RegisterFunction, p.UnregisterFunction, p.RegisterTrigger, p.UnregisterTrigger,
                           p.RegisterTriggerType, p.UnregisterTriggerType, p.RegisterService})
"""The message types :meth:`Registrations.receive` handles."""
_CLAIMS = frozenset({p.RegisterFunction, p.RegisterTrigger, p.RegisterTriggerType})


class Registrations:
    """Applies what connections register to the router's registry (like :class:`~engine.bindings.Bindings`)."""

    def __init__(self, router: Router, max_registrations: int) -> None:
        self.router = router
        self.max_registrations = max_registrations

    def owned(self, session: Session) -> int:
        """Live registrations a session holds (buffered ones included): what the cap limits."""
        return session.registrations + len(session.buffered)

    async def receive(self, s: Session, msg: BaseModel) -> None:
        """Take one registration frame: refuse a flood, buffer while RESOLVING, else apply it."""
        if type(msg) in _CLAIMS and self.owned(s) >= self.max_registrations:
            log.warning("worker %s exceeded %d registrations; closing it", s.worker_id, self.max_registrations)
            self.router.drop(s, 1008, "too many registrations")
            return
        if s.state is SessionState.RESOLVING:
            s.buffered.append(msg)
        else:
            await self.apply(s, msg)

    async def resolve_namespace(self, s: Session) -> None:
        """End the RESOLVING phase: default the namespace and apply buffered registrations."""
        if s.state is not SessionState.RESOLVING:
            return
        s.namespace = s.namespace or DEFAULT_NAMESPACE
        s.advance(SessionState.ACTIVE)
        buffered, s.buffered = s.buffered, []
        for msg in buffered:
            await self.apply(s, msg)

    async def apply(self, s: Session, msg: BaseModel) -> None:
        router = self.router
        if isinstance(msg, (p.RegisterFunction, p.RegisterTrigger, p.RegisterTriggerType)) and not s.credential.at_least("worker"):
            await s.peer.send(p.RegistrationRejected(code="FORBIDDEN", namespace=s.namespace or DEFAULT_NAMESPACE, function_id=getattr(msg, "id", None), owner_worker_id=""))
            return
        if isinstance(msg, p.RegisterFunction):
            await self._register_function(s, msg)
        elif isinstance(msg, p.UnregisterFunction):
            if router.registry.remove_function(s.namespace or DEFAULT_NAMESPACE, msg.id, s.worker_id):
                s.registrations -= 1
                router._notify(FUNCTIONS_EVENT, {"event": "functions_changed"})
        elif isinstance(msg, p.RegisterTrigger):
            if msg.id not in router.registry.triggers:
                s.registrations += 1
            await router.add_trigger(
                TriggerEntry(msg.id, msg.trigger_type, msg.function_id, msg.config, s.worker_id, msg.namespace or DEFAULT_NAMESPACE,
                             msg.trigger_namespace, msg.metadata, realm=s.credential.realm),
                owner_namespace=s.namespace,
            )
        elif isinstance(msg, p.UnregisterTrigger):
            trig = router.registry.triggers.get(msg.id)
            if trig is not None and (trig.owner == s.worker_id or s.credential.at_least("system")):
                await router.remove_trigger(msg.id)
                owner = router.sessions.get(trig.owner) if trig.owner else None
                if owner is not None:
                    owner.registrations -= 1
        elif isinstance(msg, p.RegisterTriggerType):
            await self._register_type(s, msg)
        elif isinstance(msg, p.UnregisterTriggerType):
            if (msg.namespace or s.namespace or DEFAULT_NAMESPACE, msg.id) in router.registry.types:
                router.registry.remove_type(msg.namespace or s.namespace or DEFAULT_NAMESPACE, msg.id, s.worker_id)
                s.registrations -= 1
        elif isinstance(msg, p.RegisterService):
            router.services[msg.id] = {"id": msg.id, "name": msg.name, "description": msg.description, "worker_id": s.worker_id}

    async def _register_function(self, s: Session, msg: p.RegisterFunction) -> None:
        namespace = s.namespace or DEFAULT_NAMESPACE
        min_role = min_role_of(msg.metadata)
        if min_role is None:
            log.info("refused %s from %s: metadata.min_role %r is not one of client, worker, system",
                     msg.id, s.worker_id, (msg.metadata or {}).get("min_role"))
            await s.peer.send(p.RegistrationRejected(code=INVALID_MIN_ROLE, namespace=namespace, worker_name=s.name, function_id=msg.id, owner_worker_id=""))
            return
        entry = FunctionEntry(msg.id, namespace, s.worker_id, msg.description, msg.request_format,
                              msg.response_format, msg.metadata, realm=s.credential.realm, min_role=min_role)
        try:
            replaced = self.router.registry.add_function(entry)
        except RegistrationConflict as exc:
            log.info("refused %s from %s: %s", msg.id, s.worker_id, exc)
            await s.peer.send(p.RegistrationRejected(code=exc.code, namespace=entry.namespace, worker_name=s.name, function_id=msg.id, owner_worker_id=exc.owner_worker_id))
            return
        except InvalidNamespace as exc:
            await s.peer.send(p.RegistrationRejected(code=exc.code, namespace=entry.namespace, function_id=msg.id, owner_worker_id=""))
            return
        if replaced is None or replaced.owner != s.worker_id:
            s.registrations += 1
        self.router._notify(FUNCTIONS_EVENT, {"event": "functions_changed"})

    async def _register_type(self, s: Session, msg: p.RegisterTriggerType) -> None:
        entry = TriggerTypeEntry(msg.id, msg.namespace or s.namespace or DEFAULT_NAMESPACE, s.worker_id, msg.description,
                                 msg.trigger_request_format, msg.call_request_format)
        try:
            waiting = self.router.registry.add_type(entry)
        except (RegistrationConflict, InvalidNamespace) as exc:
            log.warning("refused trigger type %s from %s: %s", msg.id, s.worker_id, exc)
            return
        s.registrations += 1
        for trig in waiting:
            await self.router.bindings.bind(trig)

    async def worker_metadata(self, s: Session, msg: p.InvokeFunction) -> None:
        """``engine::workers::register`` from a connection: name it, set its namespace, apply its buffer."""
        router = self.router
        info = msg.data if isinstance(msg.data, dict) else {}
        try:
            namespace = check_namespace(info.get("namespace") if isinstance(info.get("namespace"), str) else None)
        except InvalidNamespace as exc:
            await s.peer.send(p.RegistrationRejected(code=exc.code, namespace=str(info.get("namespace")), owner_worker_id=""))
            router.drop(s, 1008, "invalid namespace")
            return
        if s.state is SessionState.RESOLVING:
            s.namespace = namespace
        name = str(info.get("name") or f"worker-{s.worker_id[:8]}")
        try:
            router.registry.lease_name(s.namespace or namespace, name, s.worker_id)
        except RegistrationConflict as exc:
            await s.peer.send(p.RegistrationRejected(code=exc.code, namespace=s.namespace or namespace, worker_name=name, owner_worker_id=exc.owner_worker_id))
            router.drop(s, 1008, "worker name conflict")
            return
        s.name = name
        s.info = {k: info.get(k) for k in ("runtime", "version", "os", "pid", "isolation", "description", "features", "telemetry")}
        await self.resolve_namespace(s)
        router._notify(WORKERS_EVENT, {"event": "worker_metadata_updated", "worker_id": s.worker_id})
        if msg.invocation_id is not None and msg.action is None:
            await router._send(s, p.OutboundResult(invocation_id=msg.invocation_id, function_id=msg.function_id, result={"success": True}))

    async def on_reattach(self, s: Session, msg: p.Reattach) -> None:
        router = self.router
        old = router.sessions.get(msg.previous_worker_id)
        if old is None or old is s or old.reattach_token != msg.reattach_token:
            return
        log.info("worker %s reattached as %s", old.worker_id, s.worker_id)
        await router.detach(old)
        router.drop(old, 1000, "reattached elsewhere")
