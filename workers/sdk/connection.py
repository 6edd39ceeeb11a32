"""The connection to the engine, as its user sees it: ``connect()`` and :class:`Connection`.

``async with connect(workers=[...]) as conn`` returns once the engine has applied every
registration. The connection owns one anyio task group for its whole life: the link supervisor
(see :mod:`workers.sdk._link`), the pool of handler workers (see :mod:`workers.sdk._handlers`)
and provider requests run in it and nowhere else, so leaving the block cancels every handler and
closes the socket. Meanwhile ``conn.trigger()``, ``trigger_void()`` and ``enqueue()`` call other
functions, and ``register_function()`` and ``bind()`` change what is served; those changes
survive reconnects.

The SDK runs on asyncio only (uvloop welcome; ``anyio.run(..., backend="asyncio")``): the path a
call takes (see :mod:`workers.sdk._calls` and :mod:`workers.sdk._session`) uses asyncio futures,
timers and protocols directly, where anyio's equivalents cost 5-20 times more per call.
Structured concurrency is kept: every task still runs in the connection's anyio task group.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, NamedTuple

import anyio
from anyio.abc import TaskGroup

from engine.protocol import (
    RegistrationRejected,
    UnregisterFunction,
    UnregisterTrigger,
)

from ._calls import Caller
from ._handlers import Handlers
from ._link import Link
from ._pending import PendingCalls
from .backoff import DEFAULT_RECONNECT, Backoff
from .context import Call
from .errors import ConnectionLost, InvalidState
from .function import FunctionDef
from .options import ConnectOptions, resolve_options
from .registry import Registry
from .state import ConnectionState, StateMachine
from .triggers import Binding, TriggerBinding
from .types import Codec
from .worker import Worker

__all__ = ["Connection", "ConnectionStatistics", "connect"]


class ConnectionStatistics(NamedTuple):
    pending_calls: int
    """Outbound calls awaiting an answer."""
    in_flight_handlers: int
    """Handlers running now."""
    queued_handlers: int
    """Invocations waiting for a handler slot."""
    refused_invocations: int
    """Invocations refused with ``worker_overloaded`` so far."""
    reconnects: int
    """Times the connection came back after a loss."""


def connect(
    url: str | None = None,
    *,
    workers: Sequence[Worker],
    name: str | None = None,
    token: str | None = None,
    namespace: str | None = None,
    codec: Codec = "msgpack",
    reconnect: Backoff = DEFAULT_RECONNECT,
    default_timeout: float = 30.0,
    max_in_flight: int = 1000,
    tracing: bool | None = None,
) -> Connection:
    """A connection serving ``workers``, to use as ``async with connect(...) as conn``.

    Entering it connects (retrying with ``reconnect`` backoff while the engine is unreachable;
    bound it with ``anyio.fail_after`` if needed), registers everything and returns once the
    engine has applied it.

    Args:
        url: the engine, ``ws://host:port``; default ``AGENTOS_URL``, then ``III_URL``, then
            ``ws://127.0.0.1:49134``.
        workers: the workers to serve on this one socket; an id defined twice raises.
        name: the name reported to the engine; default the workers' names joined with ``+``.
        token: sent as a Bearer token; default ``AGENTOS_TOKEN``, then ``III_TOKEN``.
        namespace: where our functions live (default: the engine's ``default``).
        codec: ``msgpack`` (our engine; falls back to JSON if the engine ignores the
            subprotocol) or ``json``.
        reconnect: the reconnect backoff (``Backoff(initial=0.1, maximum=5.0, jitter=0.3)``).
        default_timeout: seconds a call waits for its answer unless it says otherwise (also
            bounds the handshake).
        max_in_flight: how many handlers run at once (as many more may wait; beyond that,
            invocations are refused with ``worker_overloaded``).
        tracing: send a span per handled invocation to the engine's ``/otel`` (default
            ``AGENTOS_TRACING``, off; ``OTEL_ENABLED=false`` always wins). See
            :mod:`workers.sdk.telemetry` for what it costs.

    Raises:
        DefinitionError: bad options, or an id defined by two workers.
    """
    options = resolve_options(
        url,
        workers=workers,
        name=name,
        token=token,
        namespace=namespace,
        codec=codec,
        reconnect=reconnect,
        default_timeout=default_timeout,
        max_in_flight=max_in_flight,
        tracing=tracing,
    )
    return Connection(options, workers)


class Connection:
    """A live, self-healing connection serving some workers. Get one from :func:`connect`."""

    def __init__(self, options: ConnectOptions, workers: Sequence[Worker]) -> None:
        self.options = options
        self.workers = tuple(workers)
        self._registry = Registry(workers, options.namespace)
        self._pending = PendingCalls()
        self._handlers = Handlers(self._registry, self, options.max_in_flight)
        self._machine = StateMachine(lambda: self._link.failure_error())
        self._link = Link(options, self._registry, self._pending, self._handlers, self._machine)
        self._caller = Caller(options, self._machine, self._link, self._pending)
        self._tg: TaskGroup | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Connection:
        """Connect, register everything and return once the engine has applied it.

        Raises:
            AuthenticationError: the engine refused the token (no retry).
            RegistrationRejectedError: ``WORKER_NAMESPACE_CONFLICT`` (no retry).
            InvalidState: the connection was already entered, or the event loop is not asyncio's
                (the SDK's hot path uses asyncio primitives directly; run it under
                ``anyio.run(..., backend="asyncio")``, as :func:`~workers.sdk.run` does).
        """
        if self._tg is not None:
            raise InvalidState("a Connection can be entered only once")
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # another event loop (trio): nothing here would work
            raise InvalidState("the worker SDK runs on asyncio only (uvloop welcome)") from None
        if self.options.tracing:
            from .telemetry import Tracer  # noqa: PLC0415 - opentelemetry loads only when tracing

            self._handlers.tracer = Tracer(self.options.url, self.options.token,
                                           service_name=os.environ.get("OTEL_SERVICE_NAME") or self.options.name)
        self._tg = tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            await tg.start(self._link.supervise, tg)
        except BaseException:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
            await self._stop_tracing()
            raise
        return self

    async def _stop_tracing(self) -> None:
        tracer, self._handlers.tracer = self._handlers.tracer, None
        if tracer is not None:  # flushes the last spans: blocking, so off the event loop
            with anyio.CancelScope(shield=True):  # even when leaving on a cancellation
                await anyio.to_thread.run_sync(tracer.shutdown)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close: cancel every handler, fail pending calls and close the socket cleanly."""
        assert self._tg is not None
        if self._machine.state not in (ConnectionState.CLOSED, ConnectionState.FAILED):
            self._machine.move(ConnectionState.CLOSED)
        self._pending.fail_all_nowait(ConnectionLost.CODE, "the connection was closed")
        self._tg.cancel_scope.cancel()
        # The body's own exception (if any) propagates unchanged: it never entered the group.
        await self._tg.__aexit__(None, None, None)
        await self._stop_tracing()

    @property
    def state(self) -> ConnectionState:
        return self._machine.state

    @property
    def worker_id(self) -> str:
        """The id the engine gave this connection (a reconnect gets a new one).

        Raises:
            InvalidState: the engine has not registered us yet.
        """
        if self._link.hello is None:
            raise InvalidState("not registered with the engine yet")
        return self._link.hello.worker_id

    @property
    def rejected(self) -> list[RegistrationRejected]:
        """The non-fatal ``registrationrejected`` frames (``FUNCTION_NAMESPACE_CONFLICT``)."""
        return list(self._link.rejected)

    async def wait_state(self, state: ConnectionState) -> None:
        """Wait until the connection is in ``state`` (at once if it is already).

        Raises:
            The fatal error if the connection fails first; ``InvalidState`` if it closes first.
        """
        await self._machine.wait_for(state)

    async def serve_forever(self) -> None:
        """Serve until the task is cancelled (e.g. by SIGINT) or the connection fails for good.

        Raises:
            AuthenticationError, RegistrationRejectedError: the connection failed for good.
        """
        await self._machine.wait_for(ConnectionState.CLOSED)

    def statistics(self) -> ConnectionStatistics:
        handlers = self._handlers.statistics()
        return ConnectionStatistics(
            len(self._pending),
            handlers.in_flight,
            handlers.queued,
            handlers.refused,
            self._link.reconnects,
        )

    # -- calls out -------------------------------------------------------------------------------

    async def trigger(
        self,
        function_id: str,
        data: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline, as iii's SDKs take
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> Any:
        """Call ``function_id`` and wait for its result.

        Inside a handler the call carries the handler's traceparent and baggage (so its realm).
        While reconnecting, the call waits for the connection, within its timeout.

        Args:
            timeout: seconds to wait for the answer (default: ``default_timeout``).
            metadata: a sidecar delivered to the callee's context.
            namespace: where ``function_id`` lives (default: ours, except ``engine::`` ids).

        Raises:
            InvocationError: the call failed; ``FunctionNotFound``, ``InvocationTimeout``,
                ``InvocationStopped`` and ``ConnectionLost`` for those cases.
            InvalidState: the connection is closed (the fatal error if it failed).
        """
        return await self._caller.ambient(
            function_id, data, "sync", None, timeout, metadata, namespace
        )

    async def trigger_void(
        self,
        function_id: str,
        data: Any = None,
        *,
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> None:
        """Call ``function_id`` without waiting for an answer (none is sent back).

        Raises:
            ConnectionLost: the socket dropped while sending.
            InvocationTimeout: not connected within ``default_timeout``.
        """
        await self._caller.ambient(function_id, data, "void", None, None, metadata, namespace)

    async def enqueue(
        self,
        function_id: str,
        data: Any = None,
        *,
        queue: str = "default",
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline, as iii's SDKs take
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> str:
        """Hand a call to the durable queue ``queue``; the engine runs it later, with retries.

        Returns:
            The ``messageReceiptId`` of the queued message.

        Raises:
            InvocationError: refused (e.g. ``enqueue_error`` when no queue module runs).
        """
        receipt: str = await self._caller.ambient(
            function_id, data, "enqueue", queue, timeout, metadata, namespace
        )
        return receipt

    async def dispatch(self, call: Call) -> Any:
        """Make one outbound :class:`~workers.sdk.Call` (the ``Dispatcher`` contract).

        Prefer :meth:`trigger`, :meth:`trigger_void` and :meth:`enqueue`.
        """
        return await self._caller.dispatch(call)

    # -- registrations at run time ---------------------------------------------------------------

    async def register_function(self, fdef: FunctionDef | Callable[..., Any]) -> None:
        """Serve one more function, now and after every reconnect.

        Raises:
            DefinitionError: the id is already registered, or ``fdef`` is not decorated.
        """
        self._machine.check_open()
        await self._link.announce(self._registry.add_function(FunctionDef.of(fdef)))

    async def unregister_function(self, function_id: str) -> None:
        """Stop serving ``function_id`` (now, and it is no longer replayed).

        Raises:
            DefinitionError: no function with that id is registered.
        """
        self._machine.check_open()
        self._registry.remove_function(function_id)
        await self._link.announce(UnregisterFunction(id=function_id))

    async def bind(
        self, type: str, function_id: str, config: Any, metadata: dict[str, Any] | None = None
    ) -> Binding:
        """Bind trigger ``type`` with ``config`` to ``function_id`` (kept across reconnects).

        Returns:
            The binding; ``await binding.unregister()`` removes it.

        Raises:
            DefinitionError: an empty ``type`` or ``function_id``.
        """
        self._machine.check_open()
        binding, frame = self._registry.add_binding(
            TriggerBinding(type, function_id, config, metadata)
        )
        await self._link.announce(frame)
        return Binding(binding, self._unbind)

    async def _unbind(self, binding_id: str) -> None:
        binding = self._registry.remove_binding(binding_id)
        if binding is None:
            raise InvalidState(f"trigger {binding_id} is not registered")
        await self._link.announce(UnregisterTrigger(id=binding_id, trigger_type=binding.type))
