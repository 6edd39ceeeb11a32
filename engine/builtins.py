"""The engine's own functions (``engine::*``) and its event trigger types.

They register through the same registry as any worker's functions, so listing, routing and
authorisation treat them alike.

``engine::functions::list`` shows each function's ``min_role`` and lists only what the caller may
call: functions private to another realm, and functions whose ``min_role`` is above the caller's
role, are left out (a client building a tool list, as the MCP server does, is offered nothing it
would be refused). ``engine::functions::info`` answers such a function as ``invoke`` would:
``function_not_found`` for another realm's, ``forbidden`` for one above the caller's role.

Engine event triggers (``engine::workers-available``, ``engine::functions-available``) deliver
with the ``worker`` role and the binding's realm, as the modules' triggers do: a binding cannot
reach a ``system``-only function or another realm's.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from .errors import InvalidArguments
from .registry import DEFAULT_NAMESPACE, ENGINE, FunctionEntry, TriggerEntry, TriggerState
from .router import FUNCTIONS_EVENT, WORKERS_EVENT, Router
from .types import ROLE_RANK, Call, Role

__all__ = ["install_builtins", "EventTriggers"]

DELIVERY_ROLE: Role = "worker"
"""Role of the calls an engine event trigger makes (as the modules' triggers: never ``system``)."""


def _obj(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArguments(f"expected an object payload, got {type(data).__name__}")
    return data


def _str_arg(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidArguments(f"'{key}' must be a non-empty string")
    return value


class EventTriggers:
    """Trigger types fired by the engine itself (worker and function availability)."""

    def __init__(self, router: Router, type_id: str) -> None:
        self.router = router
        self.type_id = type_id
        self.bound: dict[str, TriggerEntry] = {}

    async def register_trigger(self, trigger: TriggerEntry) -> None:
        self.bound[trigger.id] = trigger

    async def unregister_trigger(self, trigger: TriggerEntry) -> None:
        self.bound.pop(trigger.id, None)

    def fire(self, event: str, payload: dict[str, Any]) -> None:
        if event != self.type_id:
            return
        for trig in list(self.bound.values()):
            if trig.state is TriggerState.ACTIVE:
                self.router.spawn(self._deliver, trig, payload)

    async def _deliver(self, trig: TriggerEntry, payload: dict[str, Any]) -> None:
        call = Call(trig.function_id, role=DELIVERY_ROLE, realm=trig.realm)
        await self.router.invoke_void(trig.function_id, dict(payload), call=call, namespace=trig.namespace)


class _Builtins:
    def __init__(self, router: Router) -> None:
        self.router = router

    def _describe(self, f: FunctionEntry, detail: bool = False) -> dict[str, Any]:
        owner = self.router.sessions.get(f.owner)
        out: dict[str, Any] = {
            "function_id": f.function_id,
            "namespace": f.namespace,
            "worker_id": None if f.owner == ENGINE else f.owner,
            "worker_name": ENGINE if f.owner == ENGINE else (owner.name if owner else None),
            "description": f.description,
            "metadata": f.metadata,
            "min_role": f.min_role,
        }
        if detail:
            out["request_format"] = f.request_format
            out["response_format"] = f.response_format
        return out

    def _visible(self, f: FunctionEntry, call: Call) -> bool:
        return f.realm is None or call.role == "system" or f.realm == call.realm

    @staticmethod
    def _callable(f: FunctionEntry, call: Call) -> bool:
        return ROLE_RANK[call.role] >= ROLE_RANK[f.min_role]

    async def functions_list(self, data: Any, call: Call) -> dict[str, Any]:
        args = _obj(data)
        prefix, search, worker = args.get("prefix"), args.get("search"), args.get("worker")
        include_internal = bool(args.get("include_internal", True))
        detail = bool(args.get("include_schemas", True))
        out = []
        for f in sorted(self.router.registry.functions.values(), key=lambda e: (e.namespace, e.function_id)):
            if not self._visible(f, call) or not self._callable(f, call) \
                    or self.router.registry.resolve(f.namespace, f.function_id) is None:
                continue
            if not include_internal and f.owner == ENGINE:
                continue
            if isinstance(prefix, str) and not f.function_id.startswith(prefix):
                continue
            if isinstance(search, str) and search.lower() not in (f.function_id + " " + (f.description or "")).lower():
                continue
            described = self._describe(f, detail)
            if isinstance(worker, str) and worker not in (described["worker_name"], described["worker_id"]):
                continue
            out.append(described)
        return {"functions": out}

    async def functions_info(self, data: Any, call: Call) -> dict[str, Any]:
        args = _obj(data)
        namespace = args.get("namespace") or DEFAULT_NAMESPACE
        ids = args.get("function_ids") or ([args["function_id"]] if "function_id" in args else None)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidArguments("pass 'function_id' (string) or 'function_ids' (list of strings)")
        found = []
        for fid in ids:
            # What invoking it would answer: function_not_found or forbidden.
            f = self.router.resolve(Call(fid, role=call.role, realm=call.realm, namespace=namespace))
            found.append(self._describe(f, detail=True))
        return {"functions": found} if "function_ids" in args else {"function": found[0]}

    async def workers_list(self, data: Any, call: Call) -> dict[str, Any]:
        workers = []
        for s in self.router.sessions.values():
            if call.role != "system" and call.realm is not None and s.credential.realm not in (None, call.realm):
                continue
            info = s.describe()
            info["functions"] = sorted(f.function_id for f in self.router.registry.functions_of(s.worker_id))
            workers.append(info)
        return {"workers": workers}

    async def workers_info(self, data: Any, call: Call) -> dict[str, Any]:
        wid = _str_arg(_obj(data), "worker_id")
        for w in (await self.workers_list(None, call))["workers"]:
            if w["id"] == wid:
                return {"worker": w}
        raise InvalidArguments(f"no connected worker {wid}")

    async def workers_register(self, data: Any, call: Call) -> dict[str, Any]:
        # The router answers this one inline for connected workers (it sets their namespace);
        # reaching here means an engine-internal caller, which has no connection to describe.
        return {"success": False}

    def _trigger_info(self, t: TriggerEntry) -> dict[str, Any]:
        return {
            "id": t.id, "trigger_type": t.trigger_type, "function_id": t.function_id, "config": t.config,
            "namespace": t.namespace, "state": t.state.value, "owner": t.owner, "metadata": t.metadata,
        }

    async def triggers_list(self, data: Any, call: Call) -> dict[str, Any]:
        reg = self.router.registry
        types = [{"id": t.id, "namespace": t.namespace, "description": t.description,
                  "provider": t.owner, "trigger_request_format": t.trigger_request_format}
                 for t in sorted(reg.types.values(), key=lambda e: (e.namespace, e.id))]
        triggers = [self._trigger_info(t) for t in reg.triggers.values()
                    if call.role == "system" or t.realm in (None, call.realm)]
        return {"trigger_types": types, "triggers": triggers}

    async def registered_triggers_list(self, data: Any, call: Call) -> dict[str, Any]:
        return {"triggers": (await self.triggers_list(data, call))["triggers"]}

    async def register_trigger(self, data: Any, call: Call) -> dict[str, Any]:
        args = _obj(data)
        trig = TriggerEntry(
            id=str(args.get("id") or uuid.uuid4()),
            trigger_type=_str_arg(args, "trigger_type") or "",
            function_id=_str_arg(args, "function_id") or "",
            config=args.get("config"),
            owner=None,
            namespace=args.get("namespace") or DEFAULT_NAMESPACE,
            trigger_namespace=args.get("trigger_namespace"),
            metadata=args.get("metadata"),
            realm=call.realm,
        )
        await self.router.add_trigger(trig)
        if trig.id not in self.router.registry.triggers:
            raise InvalidArguments(f"trigger type {trig.trigger_type} refused the binding (see engine log)")
        return {"id": trig.id, "state": trig.state.value}

    async def unregister_trigger(self, data: Any, call: Call) -> dict[str, Any]:
        tid = _str_arg(_obj(data), "id") or ""
        trig = self.router.registry.triggers.get(tid)
        if trig is not None and call.role != "system" and trig.realm != call.realm:
            return {"removed": False}
        return {"removed": await self.router.remove_trigger(tid)}

    async def health(self, data: Any, call: Call) -> dict[str, Any]:
        stats = self.router.statistics()
        return {
            "status": "ok",
            "uptime_s": round(time.time() - self.router.started_at, 3),
            "workers": stats.workers,
            "functions": stats.functions,
            "triggers": stats.triggers,
            "pending_calls": stats.pending_calls,
        }


async def install_builtins(router: Router) -> None:
    """Register the ``engine::*`` functions and trigger types on a router."""
    b = _Builtins(router)
    reg = router.register_local
    reg("engine::functions::list", b.functions_list, description="List registered functions (prefix, search, worker filters)")
    reg("engine::functions::info", b.functions_info, description="Describe one function (function_id) or several (function_ids), with schemas")
    reg("engine::workers::list", b.workers_list, description="List connected workers")
    reg("engine::workers::info", b.workers_info, description="Describe one connected worker")
    reg("engine::workers::register", b.workers_register, description="Worker metadata (sent by every SDK on connect)")
    reg("engine::triggers::list", b.triggers_list, description="List trigger types and bound triggers")
    reg("engine::registered-triggers::list", b.registered_triggers_list, description="List bound triggers")
    reg("engine::register_trigger", b.register_trigger, description="Bind a durable trigger (kept when the caller disconnects)", min_role="worker")
    reg("engine::unregister_trigger", b.unregister_trigger, description="Remove a trigger by id", min_role="worker")
    reg("engine::health::check", b.health, description="Liveness and counters")
    for type_id, desc in ((WORKERS_EVENT, "worker_connected / worker_disconnected / worker_metadata_updated"),
                          (FUNCTIONS_EVENT, "functions_changed")):
        events = EventTriggers(router, type_id)
        router.observers.append(events.fire)
        await router.register_local_type(type_id, events, desc)
