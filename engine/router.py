"""The router: applies registrations and routes invocations between workers and built-ins.

Theory of operation
-------------------
Each connection shell decodes frames and hands the message models to :meth:`Router.handle`, in
arrival order. Registrations (functions, triggers, trigger types) are applied inline by
:class:`~engine.registrations.Registrations`, so a connection's later frames always see its
earlier registrations. Invocations are routed:

* to a **remote** worker: the call is written to the target's socket and remembered in the
  pending table (``invocation_id → Pending``); the target's ``invocationresult`` pops it and is
  relayed to the caller. No task is created on this path and nothing waits: the connection shell
  calls :meth:`Router.handle_nowait` inline while it reads, and writes are queued on the target
  (:meth:`~engine.session.Peer.send_nowait`) and written once per event-loop turn. A result
  travels as the frame the target sent when the caller speaks the same codec: it was validated
  on the way in, and the pending entry (right target, popped once) is checked as before.
* to a **built-in** (a local async handler): a task in the router's task group runs it and
  answers the caller.

The engine adds what it asserts about the caller: ``_caller_worker_id`` inside an object payload
(as iii does), and the caller's realm in the ``agentos-realm`` baggage entry. A realm-bound
credential always wins over whatever baggage it sends; only unbound ``worker``/``system``
credentials may pass on the realm of the call they are serving.

Every path checks the caller's role against the function's ``min_role`` (a built-in's, or the
``metadata.min_role`` a worker registered it with) and answers ``forbidden`` below it: a worker's
sync call (a void call is dropped), the engine's own calls (:meth:`Router.invoke`,
:meth:`Router.invoke_void`; they inherit the role of the call they serve, so an HTTP request calls
with its credential's role, and a trigger delivery with the ``worker`` role), and an enqueued job
when it runs, with the role of whoever enqueued it (the queue dead-letters it as ``forbidden``).

When a worker leaves, every call still waiting on it is answered ``invocation_stopped``, its
functions, triggers, trigger types and name lease are released, and triggers bound to its types
go back to PARKED until a provider appears again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from contextlib import nullcontext
from typing import Any, NamedTuple

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel

from . import protocol as p
from .bindings import Bindings
from .calls import EnqueueHook, EnqueueRequest, Pending, error_body, realm_from_baggage, with_realm
from .errors import (
    EnqueueError,
    Forbidden,
    FunctionNotFound,
    InvocationStopped,
    InvocationTimeout,
    WireError,
)
from .registrations import FUNCTIONS_EVENT, REGISTRATIONS, WORKERS_EVENT, Registrations
from .registry import (
    DEFAULT_NAMESPACE,
    ENGINE,
    FunctionEntry,
    Registry,
    TriggerEntry,
    TriggerTypeEntry,
)
from .session import Session, SessionState
from .types import ROLE_RANK, Call, LocalHandler

__all__ = ["Router", "EnqueueRequest", "RouterStatistics", "FUNCTIONS_EVENT", "WORKERS_EVENT"]

log = logging.getLogger(__name__)


class RouterStatistics(NamedTuple):
    workers: int
    functions: int
    triggers: int
    pending_calls: int


class Router:
    """Routes invocations and keeps the registry. Use as ``async with Router() as router``."""

    def __init__(self, *, max_registrations: int = 10_000) -> None:
        self.sessions: dict[str, Session] = {}
        self.registry = Registry(is_live=self._is_live)
        self.pending: dict[str, Pending] = {}
        self.enqueue_hook: EnqueueHook | None = None
        self.services: dict[str, dict[str, Any]] = {}
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.started_at = time.time()
        self._tg: TaskGroup | None = None
        self.bindings = Bindings(self)
        self.registrations = Registrations(self, max_registrations)

    async def __aenter__(self) -> Router:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(*exc)

    def spawn(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``func(*args)`` in the router's task group."""
        assert self._tg is not None, "Router used outside 'async with'"
        self._tg.start_soon(func, *args)

    def _is_live(self, worker_id: str) -> bool:
        session = self.sessions.get(worker_id)
        return session is not None and session.live

    def statistics(self) -> RouterStatistics:
        return RouterStatistics(len(self.sessions), len(self.registry.functions), len(self.registry.triggers), len(self.pending))

    # -- built-ins ------------------------------------------------------------------------

    def register_local(
        self,
        function_id: str,
        handler: LocalHandler,
        *,
        description: str | None = None,
        request_format: Any = None,
        response_format: Any = None,
        min_role: str = "client",
    ) -> None:
        """Register a built-in function through the same registry as remote ones.

        Args:
            min_role: the lowest caller role allowed to call it (client < worker < system).
        """
        self.registry.add_function(
            FunctionEntry(function_id, DEFAULT_NAMESPACE, ENGINE, description, request_format, response_format, None, handler, min_role=min_role)
        )

    async def register_local_type(self, type_id: str, provider: Any, description: str = "") -> None:
        """Register a built-in trigger type and bind the triggers that waited for it."""
        for trig in self.registry.add_type(TriggerTypeEntry(type_id, DEFAULT_NAMESPACE, ENGINE, description, provider=provider)):
            await self.bindings.bind(trig)

    # -- connection lifecycle --------------------------------------------------------------

    def attach(self, session: Session) -> None:
        """Start routing for a new connection (the shell sends ``workerregistered``)."""
        self.sessions[session.worker_id] = session
        self._notify(WORKERS_EVENT, {"event": "worker_connected", "worker_id": session.worker_id})

    async def resolve_namespace(self, session: Session) -> None:
        """End the RESOLVING phase: default the namespace and apply buffered registrations."""
        await self.registrations.resolve_namespace(session)

    async def detach(self, session: Session) -> None:
        """Clean up after a connection that is gone. Idempotent."""
        if session.state is SessionState.CLOSED:
            return
        session.advance(SessionState.CLOSED)
        self.sessions.pop(session.worker_id, None)
        stopped = InvocationStopped("Invocation stopped")
        for inv in session.inflight_to:
            pending = self.pending.pop(inv, None)
            if pending is not None:
                self._answer(pending, inv, error=stopped)
        session.inflight_to.clear()
        for inv, pending in list(self.pending.items()):
            if pending.caller is session:
                del self.pending[inv]
                target = self.sessions.get(pending.target)
                if target is not None:
                    target.inflight_to.discard(inv)
        dropped = self.registry.drop_owner(session.worker_id)
        for trig in dropped.triggers:
            await self.bindings.unbind(trig)
        self._notify(WORKERS_EVENT, {"event": "worker_disconnected", "worker_id": session.worker_id})
        if dropped.functions:
            self._notify(FUNCTIONS_EVENT, {"event": "functions_changed"})

    def drop(self, session: Session, code: int, reason: str) -> None:
        """Close a connection without waiting for its close handshake.

        The close runs in its own task: the caller may be that connection's read loop, and a
        peer that stopped reading must not hold up anyone else's frames.
        """
        if session.closing:
            return
        session.closing = True
        self.spawn(session.peer.close, code, reason)

    def _notify(self, event: str, payload: dict[str, Any]) -> None:
        for observer in self.observers:
            observer(event, payload)

    # -- inbound messages ------------------------------------------------------------------

    def handle_nowait(self, session: Session, msg: BaseModel, raw: str | bytes | None = None) -> bool:
        """Process a message that needs no waiting (calls, results, pings), inline.

        Call it for each decoded message in arrival order; when it returns False, pass that
        message (and every later one, to keep the order) to :meth:`handle` instead.

        Args:
            raw: the frame ``msg`` was decoded from, if it is in its session's codec: a result
                is relayed as these bytes to a caller with the same codec.

        Raises:
            ConnectionError: answering ``session`` itself failed: its socket is gone.
        """
        kind = type(msg)
        if kind is p.InvokeFunction:
            return self._invoke_nowait(session, msg)  # type: ignore[arg-type]
        if kind is p.InvocationResult:
            self._result_nowait(session, msg, raw)  # type: ignore[arg-type]
            return True
        if kind is p.Ping:
            session.peer.send_nowait(_PONG)
            return True
        return kind is p.Pong

    async def handle(self, session: Session, msg: BaseModel, raw: str | bytes | None = None) -> None:
        """Process one decoded message from a connection, in arrival order."""
        if self.handle_nowait(session, msg, raw):
            return
        kind = type(msg)
        if kind is p.InvokeFunction:  # engine::workers::register: it resolves the namespace
            session.invocations += 1
            await self.registrations.worker_metadata(session, msg)  # type: ignore[arg-type]
        elif kind in REGISTRATIONS:
            await self.registrations.receive(session, msg)
        elif kind is p.TriggerRegistrationResult:
            await self.bindings.on_ack(session, msg)  # type: ignore[arg-type]
        elif kind is p.Reattach:
            await self.registrations.on_reattach(session, msg)  # type: ignore[arg-type]
        else:
            log.debug("ignoring %s from worker %s", msg.type, session.worker_id)  # type: ignore[attr-defined]

    # -- triggers (see engine/bindings.py) ---------------------------------------------------

    async def add_trigger(self, trig: TriggerEntry, owner_namespace: str | None = None) -> None:
        """Store a binding and bind it to its type's provider now, or park it until one appears."""
        await self.bindings.add(trig, owner_namespace)

    async def remove_trigger(self, trigger_id: str) -> bool:
        """Remove a binding and tell its provider; False if there was none."""
        return await self.bindings.remove(trigger_id)

    # -- invocations -----------------------------------------------------------------------

    def call_for(self, s: Session, msg: p.InvokeFunction) -> Call:
        """The engine-asserted context of a worker's call."""
        cred = s.credential
        realm = cred.realm if cred.realm is not None or cred.role == "client" else realm_from_baggage(msg.baggage)
        return Call(msg.function_id, msg.invocation_id, s.worker_id, cred.role, realm, msg.namespace or DEFAULT_NAMESPACE,
                    msg.metadata, msg.traceparent, with_realm(msg.baggage, realm, cred.role))

    def resolve(self, call: Call) -> FunctionEntry:
        """Find the function a call may reach.

        Raises:
            FunctionNotFound: no live function there, or one private to another realm.
            Forbidden: the caller's role is below the function's minimum.
        """
        return self._resolve(call.namespace, call.function_id, call.role, call.realm)

    def _resolve(self, namespace: str, function_id: str, role: str, realm: str | None) -> FunctionEntry:
        entry = self.registry.resolve(namespace, function_id)
        if entry is None or (entry.realm is not None and entry.realm != realm and role != "system"):
            raise FunctionNotFound(f"Function {function_id} not found in namespace {namespace}.")
        if ROLE_RANK[role] < ROLE_RANK[entry.min_role]:
            raise Forbidden(f"{function_id} may only be called by {entry.min_role} callers or above; "
                            f"this call has the {role} role")
        return entry

    def _invoke_nowait(self, s: Session, msg: p.InvokeFunction) -> bool:
        function_id = msg.function_id
        if function_id == "engine::workers::register":
            return False
        s.invocations += 1
        cred = s.credential
        baggage = msg.baggage
        realm = cred.realm if cred.realm is not None or cred.role == "client" or baggage is None else realm_from_baggage(baggage)
        if baggage is not None or realm is not None or cred.role != "system":
            baggage = with_realm(baggage, realm, cred.role)
        namespace = msg.namespace or DEFAULT_NAMESPACE
        action = msg.action
        if action is not None and action.type == "enqueue":
            call = Call(function_id, msg.invocation_id, s.worker_id, cred.role, realm, namespace, msg.metadata, msg.traceparent, baggage)
            self.spawn(self._enqueue_for, s, call, action.queue, msg.data)
            return True
        inv = msg.invocation_id if action is None else None
        # _resolve() inlined for the common case: a live remote function any caller may call
        # (no realm, min_role client); anything else takes _resolve()'s realm and role checks.
        found = self.registry.functions.get((namespace, function_id))
        target = self.sessions.get(found.owner) if found is not None else None
        if found is not None and target is not None and target.state is not SessionState.CLOSED \
                and found.realm is None and found.min_role == "client":
            entry = found
        else:
            try:
                entry = self._resolve(namespace, function_id, cred.role, realm)
            except WireError as exc:
                if inv is not None:
                    s.peer.send_nowait(p.OutboundResult(invocation_id=inv, function_id=function_id, error=error_body(exc)))
                else:
                    log.debug("void call to %s from %s dropped: %s", function_id, s.worker_id, exc.message)
                return True
        data = msg.data
        if isinstance(data, dict):
            data["_caller_worker_id"] = s.worker_id
        if entry.handler is not None:
            call = Call(function_id, msg.invocation_id, s.worker_id, cred.role, realm, namespace, msg.metadata, msg.traceparent, baggage)
            self.spawn(self._run_local, entry, data, call, s if inv is not None else None)
            return True
        target = self.sessions[entry.owner]
        if inv is not None:
            if inv in self.pending:
                s.peer.send_nowait(p.OutboundResult(invocation_id=inv, function_id=function_id,
                                   error=p.ErrorBody(code="invocation_error", message="duplicate invocation_id in flight")))
                return True
            self.pending[inv] = Pending(function_id, target.worker_id, s, None)
            target.inflight_to.add(inv)
        out = p.OutboundInvoke(inv, function_id, data, msg.traceparent, baggage, msg.metadata)
        if not self._send_nowait(target, out) and inv is not None:
            target.inflight_to.discard(inv)
            pending = self.pending.pop(inv, None)
            if pending is not None:
                self._answer(pending, inv, error=InvocationStopped("Invocation stopped"))
        return True

    def _result_nowait(self, s: Session, msg: p.InvocationResult, raw: str | bytes | None) -> None:
        inv = msg.invocation_id
        pending = self.pending.get(inv)
        if pending is None or pending.target != s.worker_id:
            log.debug("dropping result for unknown or late invocation %s", inv)
            return
        del self.pending[inv]
        s.inflight_to.discard(inv)
        if pending.future is not None:
            if not pending.future.done():
                if msg.error is not None:
                    err = WireError(msg.error.message, stacktrace=msg.error.stacktrace, code=msg.error.code)
                    pending.future.set_exception(err)
                else:
                    pending.future.set_result(msg.result)
        elif pending.caller is not None and pending.caller.live:
            self._send_nowait(pending.caller, msg, raw)

    def _answer(self, pending: Pending, inv: str, *, error: WireError) -> None:
        if pending.future is not None:
            if not pending.future.done():
                pending.future.set_exception(error)
        elif pending.caller is not None and pending.caller.live:
            self._send_nowait(pending.caller, p.OutboundResult(invocation_id=inv, function_id=pending.function_id, error=error_body(error)))

    async def _run_local(self, entry: FunctionEntry, data: Any, call: Call, reply_to: Session | None) -> None:
        try:
            result = await entry.handler(data, call)
        except WireError as exc:
            out = p.OutboundResult(invocation_id=call.invocation_id, function_id=call.function_id, error=error_body(exc))
        except Exception as exc:
            error_id = uuid.uuid4().hex[:12]
            log.exception("built-in %s failed (error_id=%s)", call.function_id, error_id)
            body = p.ErrorBody(code="internal_error", message=f"internal error in {call.function_id} (error_id={error_id}): {exc.__class__.__name__}")
            out = p.OutboundResult(invocation_id=call.invocation_id, function_id=call.function_id, error=body)
        else:
            out = p.OutboundResult(invocation_id=call.invocation_id, function_id=call.function_id, result=result)
        if reply_to is not None and call.invocation_id is not None:
            await self._send(reply_to, out)
        elif out.error is not None:
            log.warning("void call to %s failed: %s", call.function_id, out.error.message)

    async def _enqueue_for(self, s: Session, call: Call, queue: str, data: Any) -> None:
        try:
            receipt = await self.enqueue(call.function_id, data, queue=queue, call=call)
        except WireError as exc:
            out = p.OutboundResult(invocation_id=call.invocation_id, function_id=call.function_id, error=error_body(exc))
        else:
            out = p.OutboundResult(invocation_id=call.invocation_id, function_id=call.function_id, result={"messageReceiptId": receipt})
        if call.invocation_id is not None:
            await self._send(s, out)

    async def _send(self, s: Session, msg: p.Outbound) -> bool:
        try:
            await s.peer.send(msg)
            return True
        except ConnectionError:
            return False

    def _send_nowait(self, s: Session, msg: p.Outbound, raw: str | bytes | None = None) -> bool:
        try:
            s.peer.send_nowait(msg, raw)
            return True
        except ConnectionError:
            return False

    # -- the engine's own calls ------------------------------------------------------------

    async def invoke(self, function_id: str, data: Any = None, *, call: Call | None = None, namespace: str | None = None,
                     metadata: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Call a function from inside the engine (modules use this) and wait for its result.

        Args:
            call: the context being served, whose role and realm the new call inherits;
                None means the engine itself (system role, no realm).
            timeout: seconds; None waits until the target answers or leaves.

        Raises:
            WireError: FunctionNotFound, InvocationTimeout, InvocationStopped or the handler's error.
        """
        parent = call or Call(function_id)
        inv = str(uuid.uuid4())
        sub = Call(function_id, inv, parent.caller_worker_id, parent.role, parent.realm, namespace or DEFAULT_NAMESPACE,
                   metadata, parent.traceparent, with_realm(parent.baggage, parent.realm, parent.role))
        entry = self.resolve(sub)
        try:
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                if entry.handler is not None:
                    return await entry.handler(data, sub)
                return await self._call_remote(entry, data, sub, inv, metadata)
        except TimeoutError as exc:
            raise InvocationTimeout(f"{function_id} timed out after {timeout}s") from exc

    async def _call_remote(self, entry: FunctionEntry, data: Any, sub: Call, inv: str, metadata: dict[str, Any] | None) -> Any:
        target = self.sessions[entry.owner]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[inv] = Pending(sub.function_id, target.worker_id, None, future)
        target.inflight_to.add(inv)
        try:
            out = p.OutboundInvoke(inv, sub.function_id, data, sub.traceparent, sub.baggage, metadata)
            if not await self._send(target, out):
                raise InvocationStopped("Invocation stopped")
            return await future
        finally:
            self.pending.pop(inv, None)
            target.inflight_to.discard(inv)

    async def invoke_void(self, function_id: str, data: Any = None, *, call: Call | None = None, namespace: str | None = None,
                          metadata: dict[str, Any] | None = None) -> None:
        """Fire a call and do not wait; errors are logged. Unknown functions are dropped."""
        parent = call or Call(function_id)
        sub = Call(function_id, None, parent.caller_worker_id, parent.role, parent.realm, namespace or DEFAULT_NAMESPACE,
                   metadata, parent.traceparent, with_realm(parent.baggage, parent.realm, parent.role))
        try:
            entry = self.resolve(sub)
        except WireError as exc:
            log.info("void call to %s dropped: %s", function_id, exc)
            return
        if entry.handler is not None:
            self.spawn(self._run_local, entry, data, sub, None)
            return
        out = p.OutboundInvoke(None, function_id, data, sub.traceparent, sub.baggage, metadata)
        await self._send(self.sessions[entry.owner], out)

    async def enqueue(self, function_id: str, data: Any, *, queue: str, call: Call | None = None) -> str:
        """Hand a call to the queue module; returns the receipt id.

        The job keeps ``call``'s realm and role: the function's ``min_role`` is checked when the
        job runs (it may not be registered yet), and a job below it is dead-lettered ``forbidden``.

        Raises:
            EnqueueError: no queue module is running, or it refused the job.
        """
        if self.enqueue_hook is None:
            raise EnqueueError("No queue provider is installed: enable the iii-queue module in config.yaml")
        receipt = str(uuid.uuid4())
        parent = call or Call(function_id)
        try:
            await self.enqueue_hook(EnqueueRequest(queue, function_id, data, parent, receipt))
        except WireError:
            raise
        except Exception as exc:
            raise EnqueueError(f"could not enqueue {function_id} on {queue!r}: {exc}") from exc
        return receipt


_PONG = p.Pong()
