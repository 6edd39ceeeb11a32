"""Serving the engine's requests: invocations of our functions and trigger-provider requests.

Theory of operation
-------------------
The connection's reader never waits on a handler: for each ``invokefunction`` it calls
:meth:`Handlers.admit_nowait`, which appends the invocation to a bounded queue served by a pool
of worker tasks. At most ``max_in_flight`` handlers run at once; as many again may wait in the
queue; beyond that the call is refused at once with ``worker_overloaded`` (a slow-consumer error,
not an unbounded queue). The reader itself must never block, or the answers that running handlers
are waiting for could not be read.

The pool grows on demand in the connection's task group, one worker at a time and only when no
idle worker is there to take a new invocation, up to ``max_in_flight`` workers; idle workers park
on a future until the next invocation. A worker runs invocations one after another and does not
yield between them when handlers finish without waiting, so a burst of cheap invocations costs
one task switch, not one task each (starting an anyio task costs ~20 µs, waking a parked worker
~2). Each invocation still runs in a fresh copy of the contextvars
(:func:`~workers.sdk.context.run_bound`), as it would in a task of its own.

An answer goes back on the socket the request came in on. If that socket is gone, the engine has
already answered ``invocation_stopped`` to the caller, so the answer is dropped.

Provider requests (``registertrigger``/``unregistertrigger`` for a trigger type we provide) are
serialised by one lock, so a binding is never unregistered while its registration is running.
Re-registering a binding we already hold with the same config (the engine replays bindings when
we reconnect) is acknowledged without calling the provider again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from anyio.abc import TaskGroup

from engine.protocol import (
    ErrorBody,
    InvokeFunction,
    RegisterTrigger,
    TriggerRegistrationResult,
    UnregisterTrigger,
)

from ._frames import WireFrame, result_frame
from ._session import Disconnected, Session
from .context import Context, Dispatcher, run_bound
from .errors import InvocationError
from .registry import Registry
from .triggers import TriggerConfig

if TYPE_CHECKING:
    from .telemetry import Tracer

__all__ = ["Handlers", "HandlerStatistics", "CALLER_KEY"]

log = logging.getLogger(__name__)

CALLER_KEY = "_caller_worker_id"
"""The key the engine injects into object payloads to name the calling worker."""


class HandlerStatistics(NamedTuple):
    in_flight: int
    """Handlers running now."""
    queued: int
    """Invocations waiting for a worker."""
    refused: int
    """Invocations refused with ``worker_overloaded`` so far."""
    workers: int
    """Worker tasks in the pool (busy or parked)."""


class Handlers:
    """Runs the handlers and trigger providers of one connection.

    Args:
        registry: where functions and trigger types are looked up (at call time, so run-time
            registrations are served at once).
        dispatcher: what handler contexts call onwards through (the connection).
        max_in_flight: how many handlers may run at once (and how many more may wait).
    """

    def __init__(self, registry: Registry, dispatcher: Dispatcher, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self._registry = registry
        self._dispatcher = dispatcher
        self.max_in_flight = max_in_flight
        self._queue: collections.deque[tuple[Session, InvokeFunction]] = collections.deque()
        self._parked: collections.deque[asyncio.Future[None]] = collections.deque()
        self._workers = 0  # started and not finished
        self._busy = 0  # running a handler
        self._refused = 0
        self._provider_lock: anyio.Lock | None = None
        self.provided: dict[str, TriggerConfig] = {}
        self.tracer: Tracer | None = None
        """Set when the connection traces its handlers (:mod:`workers.sdk.telemetry`)."""

    def statistics(self) -> HandlerStatistics:
        return HandlerStatistics(self._busy, len(self._queue), self._refused, self._workers)

    def admit_nowait(self, tg: TaskGroup, session: Session, msg: InvokeFunction) -> bool:
        """Queue one invocation for the pool; False (nothing queued) when the backlog is full.

        On False, answer the call with :meth:`refusal`.

        Args:
            tg: the connection's task group, where the pool grows.
            session: the socket the answer goes back on.
        """
        queue = self._queue
        if self._busy + len(queue) >= 2 * self.max_in_flight:
            self._refused += 1
            return False
        queue.append((session, msg))
        parked = self._parked
        while parked:
            waiter = parked.popleft()
            if not waiter.done():  # else its worker was cancelled while parked
                waiter.set_result(None)
                return True
        # Workers that are starting, waking or between two invocations will each take one.
        if self._workers < self.max_in_flight and len(queue) > self._workers - self._busy:
            self._workers += 1
            tg.start_soon(self._work, session.loop, name="agentos handler worker")
        return True

    def refusal(self, msg: InvokeFunction) -> WireFrame | None:
        """The answer to an invocation :meth:`admit_nowait` refused (None for a void call)."""
        log.warning("refusing %s: %d handlers in flight", msg.function_id, self._busy)
        if msg.invocation_id is None:
            return None
        return result_frame(
            msg.invocation_id,
            msg.function_id,
            error=_body("worker_overloaded", f"worker has {self._busy} handlers in flight"),
        )

    async def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        queue, parked = self._queue, self._parked
        try:
            while True:
                if not queue:
                    waiter: asyncio.Future[None] = loop.create_future()
                    parked.append(waiter)
                    await waiter
                    continue
                session, msg = queue.popleft()
                self._busy += 1
                try:
                    result, error = await self._run(msg)
                finally:
                    self._busy -= 1
                if msg.invocation_id is not None:
                    if session.writing_paused:
                        await session.drain()
                    _reply_nowait(session, msg, result, error)
        finally:
            self._workers -= 1

    async def _run(self, msg: InvokeFunction) -> tuple[Any, ErrorBody | None]:
        """``(result, None)`` or ``(None, error)`` of one invocation."""
        fdef = self._registry.functions.get(msg.function_id)
        if fdef is None:
            return None, _body("function_not_found", f"Function '{msg.function_id}' not found")
        data = msg.data
        caller = pop_caller(data)
        tracer = self.tracer  # when tracing is off, this test is all it costs
        traced = tracer.start(msg.function_id, msg.invocation_id, msg.traceparent) if tracer is not None else None
        # Positional: keyword arguments double the cost of building this frozen dataclass.
        ctx = Context(
            msg.function_id,
            self._dispatcher,
            msg.invocation_id,
            caller,
            msg.metadata or {},
            msg.traceparent if traced is None else traced.traceparent,
            msg.baggage,
        )
        try:
            work = fdef.invoke(data, ctx)
            result = await run_bound(ctx, work if traced is None else traced.within(work))
        except InvocationError as exc:
            log.info("%s answered %s: %s", msg.function_id, exc.code, exc.message)
            if traced is not None:
                traced.finish(exc.message)
            return None, _body(exc.code, exc.message, exc.stacktrace)
        except Exception as exc:
            log.warning("%s failed", msg.function_id, exc_info=True)
            if traced is not None:
                traced.finish(str(exc) or type(exc).__name__)
            return None, _body("invocation_failed", str(exc), traceback.format_exc())
        except BaseException:  # cancelled: the span still ends
            if traced is not None:
                traced.finish("cancelled")
            raise
        if traced is not None:
            traced.finish()
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


def pop_caller(data: Any) -> str | None:
    """Remove the engine's ``_caller_worker_id`` from a decoded payload and return it.

    Mutates ``data``: use it on a payload decoded for this invocation alone.
    """
    if isinstance(data, dict) and CALLER_KEY in data:
        caller = data.pop(CALLER_KEY)
        return caller if isinstance(caller, str) else None
    return None


def split_caller(data: Any) -> tuple[Any, str | None]:
    """``(data without the engine's _caller_worker_id, that id)``; the input is not mutated."""
    if isinstance(data, dict) and CALLER_KEY in data:
        rest = dict(data)
        return rest, pop_caller(rest)
    return data, None


async def _unregister(provider: Any, config: TriggerConfig) -> None:
    try:
        await provider.unregister_trigger(config)
    except Exception:
        log.warning(
            "provider of %s failed to unregister %s", config.trigger_type, config.id, exc_info=True
        )


def _reply_nowait(
    session: Session, msg: InvokeFunction, result: Any, error: ErrorBody | None
) -> None:
    assert msg.invocation_id is not None, "void calls are never answered"
    try:
        try:
            session.send_wire_nowait(
                result_frame(msg.invocation_id, msg.function_id, result, error)
            )
        except (TypeError, ValueError, OverflowError) as exc:  # the codec cannot carry the result
            log.warning("result of %s is not serialisable: %s", msg.function_id, exc)
            session.send_wire_nowait(
                result_frame(
                    msg.invocation_id,
                    msg.function_id,
                    error=_body("serialization_error", f"result is not serialisable: {exc}"),
                )
            )
    except Disconnected:
        log.debug("dropping the answer to %s: connection gone", msg.invocation_id)


def _body(code: str, message: str, stacktrace: str | None = None) -> ErrorBody:
    return ErrorBody(code=code, message=message, stacktrace=stacktrace)
