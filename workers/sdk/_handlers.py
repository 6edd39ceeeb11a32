"""Serving the engine's requests: invocations of our functions and trigger-provider requests.

Theory of operation
-------------------
The connection's reader never waits on a handler: for each ``invokefunction`` it asks
:meth:`Handlers.admit_nowait` for room and starts one task in the connection's task group. At most
``max_in_flight`` handlers run at once; as many again may wait for a slot; beyond that the call is
refused at once with ``worker_overloaded`` (a slow-consumer error, not an unbounded queue). The
reader itself must never block, or the answers that running handlers are waiting for could not
be read.

An answer goes back on the socket the request came in on. If that socket is gone, the engine has
already answered ``invocation_stopped`` to the caller, so the answer is dropped.

Provider requests (``registertrigger``/``unregistertrigger`` for a trigger type we provide) are
serialised by one lock, so a binding is never unregistered while its registration is running.
Re-registering a binding we already hold with the same config (the engine replays bindings when
we reconnect) is acknowledged without calling the provider again.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, NamedTuple

import anyio

from engine.protocol import (
    ErrorBody,
    InvocationResult,
    InvokeFunction,
    RegisterTrigger,
    TriggerRegistrationResult,
    UnregisterTrigger,
)

from ._session import Disconnected, Session
from .context import Context, Dispatcher, bind_context
from .errors import InvocationError
from .registry import Registry
from .triggers import TriggerConfig

__all__ = ["Handlers", "HandlerStatistics", "CALLER_KEY"]

log = logging.getLogger(__name__)

CALLER_KEY = "_caller_worker_id"
"""The key the engine injects into object payloads to name the calling worker."""


class HandlerStatistics(NamedTuple):
    in_flight: int
    queued: int
    refused: int


class Handlers:
    """Runs the handlers and trigger providers of one connection.

    Args:
        registry: where functions and trigger types are looked up (at call time, so run-time
            registrations are served at once).
        dispatcher: what handler contexts call onwards through (the connection).
        max_in_flight: how many handlers may run at once.
    """

    def __init__(self, registry: Registry, dispatcher: Dispatcher, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self._registry = registry
        self._dispatcher = dispatcher
        self.max_in_flight = max_in_flight
        self._slots: anyio.Semaphore | None = None
        self._provider_lock: anyio.Lock | None = None
        self._in_flight = 0
        self._queued = 0
        self._refused = 0
        self.provided: dict[str, TriggerConfig] = {}

    def statistics(self) -> HandlerStatistics:
        return HandlerStatistics(self._in_flight, self._queued, self._refused)

    def admit_nowait(self) -> bool:
        """Reserve room for one more invocation; False when the backlog is full.

        On True, the caller must start :meth:`serve_invocation` for it.
        """
        if self._in_flight + self._queued >= 2 * self.max_in_flight:
            self._refused += 1
            return False
        self._queued += 1
        return True

    def overloaded(self, msg: InvokeFunction) -> InvocationResult | None:
        """The answer to an invocation refused by :meth:`admit_nowait` (None for a void call)."""
        log.warning("refusing %s: %d handlers in flight", msg.function_id, self._in_flight)
        if msg.invocation_id is None:
            return None
        return _answer_of(
            msg,
            error=_body("worker_overloaded", f"worker has {self._in_flight} handlers in flight"),
        )

    async def serve_invocation(self, session: Session, msg: InvokeFunction) -> None:
        """Run one admitted invocation and answer it (unless it is void)."""
        if self._slots is None:
            self._slots = anyio.Semaphore(self.max_in_flight)
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        self._in_flight += 1
        try:
            result, error = await self._run(msg)
        finally:
            self._in_flight -= 1
            self._slots.release()
        if msg.invocation_id is not None:
            await _reply(session, msg, result, error)

    async def _run(self, msg: InvokeFunction) -> tuple[Any, ErrorBody | None]:
        """``(result, None)`` or ``(None, error)`` of one invocation."""
        fdef = self._registry.functions.get(msg.function_id)
        if fdef is None:
            return None, _body("function_not_found", f"Function '{msg.function_id}' not found")
        data, caller = split_caller(msg.data)
        ctx = Context(
            function_id=msg.function_id,
            dispatcher=self._dispatcher,
            invocation_id=msg.invocation_id,
            caller_worker_id=caller,
            metadata=msg.metadata or {},
            traceparent=msg.traceparent,
            baggage=msg.baggage,
        )
        try:
            with bind_context(ctx):
                result = await fdef.invoke(data, ctx)
        except InvocationError as exc:
            log.info("%s answered %s: %s", msg.function_id, exc.code, exc.message)
            return None, _body(exc.code, exc.message, exc.stacktrace)
        except Exception as exc:
            log.warning("%s failed", msg.function_id, exc_info=True)
            return None, _body("invocation_failed", str(exc), traceback.format_exc())
        return result, None

    async def register_trigger(self, session: Session, msg: RegisterTrigger) -> None:
        """Hand a binding of one of our trigger types to its provider, and answer the engine."""
        config = TriggerConfig(
            id=msg.id,
            trigger_type=msg.trigger_type,
            function_id=msg.function_id,
            config=msg.config,
            metadata=msg.metadata,
            namespace=msg.namespace,
        )
        async with self._lock():
            error = await self._register(config)
        answer = TriggerRegistrationResult(
            id=msg.id, trigger_type=msg.trigger_type, function_id=msg.function_id, error=error
        )
        try:
            await session.send(answer)
        except Disconnected:
            log.debug("dropping the answer to trigger %s: connection gone", msg.id)

    async def _register(self, config: TriggerConfig) -> ErrorBody | None:
        ttype = self._registry.trigger_types.get(config.trigger_type)
        if ttype is None:
            return ErrorBody(
                code="trigger_registration_failed",
                message=f"trigger type {config.trigger_type!r} is not provided by this worker",
            )
        known = self.provided.get(config.id)
        if known == config:
            return None
        if known is not None:
            await _unregister(ttype.provider, known)
            del self.provided[config.id]
        try:
            await ttype.provider.register_trigger(config)
        except Exception as exc:
            log.warning(
                "provider of %s refused trigger %s", config.trigger_type, config.id, exc_info=True
            )
            return ErrorBody(code="trigger_registration_failed", message=str(exc))
        self.provided[config.id] = config
        return None

    async def unregister_trigger(self, msg: UnregisterTrigger) -> None:
        """Tell the provider to stop firing a binding (no answer is sent)."""
        async with self._lock():
            config = self.provided.pop(msg.id, None)
            if config is None:
                config = TriggerConfig(
                    id=msg.id, trigger_type=msg.trigger_type or "", function_id=""
                )
            ttype = self._registry.trigger_types.get(config.trigger_type)
            if ttype is None:
                log.warning(
                    "unregistertrigger %s for unknown trigger type %r", msg.id, config.trigger_type
                )
                return
            await _unregister(ttype.provider, config)

    def _lock(self) -> anyio.Lock:
        if self._provider_lock is None:
            self._provider_lock = anyio.Lock()
        return self._provider_lock


def split_caller(data: Any) -> tuple[Any, str | None]:
    """``(data without the engine's _caller_worker_id, that id)``; the input is not mutated."""
    if isinstance(data, dict) and CALLER_KEY in data:
        rest = {k: v for k, v in data.items() if k != CALLER_KEY}
        caller = data[CALLER_KEY]
        return rest, caller if isinstance(caller, str) else None
    return data, None


async def _unregister(provider: Any, config: TriggerConfig) -> None:
    try:
        await provider.unregister_trigger(config)
    except Exception:
        log.warning(
            "provider of %s failed to unregister %s", config.trigger_type, config.id, exc_info=True
        )


async def _reply(
    session: Session, msg: InvokeFunction, result: Any, error: ErrorBody | None
) -> None:
    try:
        try:
            await session.send(_answer_of(msg, result, error))
        except (TypeError, ValueError) as exc:  # the codec cannot encode the result
            log.warning("result of %s is not serialisable: %s", msg.function_id, exc)
            await session.send(
                _answer_of(
                    msg, error=_body("serialization_error", f"result is not serialisable: {exc}")
                )
            )
    except Disconnected:
        log.debug("dropping the answer to %s: connection gone", msg.invocation_id)


def _answer_of(
    msg: InvokeFunction, result: Any = None, error: ErrorBody | None = None
) -> InvocationResult:
    assert msg.invocation_id is not None, "void calls are never answered"
    return InvocationResult(
        invocation_id=msg.invocation_id, function_id=msg.function_id, result=result, error=error
    )


def _body(code: str, message: str, stacktrace: str | None = None) -> ErrorBody:
    return ErrorBody(code=code, message=message, stacktrace=stacktrace)
