"""The context of one invocation: who called, in which realm, and how to call onwards.

A handler receives its :class:`Context` as the optional second argument, and any code running
inside the handler (including tasks it starts) can read it with :func:`current_context`. Calls
made through the context, or through ``Connection.trigger`` while a context is current, carry the
invocation's ``traceparent`` and ``baggage`` onwards, so the realm the engine stamped on the
first call follows the whole call chain.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Awaitable, Coroutine, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

from .errors import NoContextError
from .types import REALM_BAGGAGE_KEY, ROLE_BAGGAGE_KEY, CallKind

__all__ = ["Call", "Dispatcher", "Context", "current_context", "parse_baggage", "realm_of", "role_of"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One outbound call, as handed to a :class:`Dispatcher` (and recorded by the test harness).

    ``queue`` is set for ``kind == "enqueue"`` only; ``timeout`` None means the connection's
    default.
    """

    function_id: str
    data: Any = None
    kind: CallKind = "sync"
    queue: str | None = None
    timeout: float | None = None
    metadata: dict[str, Any] | None = None
    namespace: str | None = None
    traceparent: str | None = None
    baggage: str | None = None


class Dispatcher(Protocol):
    """Where a :class:`Context` sends its calls: the live connection, or the test harness."""

    async def dispatch(self, call: Call) -> Any:
        """Make ``call``.

        Returns:
            The result for ``sync``, None for ``void``, the receipt id for ``enqueue``.

        Raises:
            InvocationError: the call failed (or timed out).
        """
        ...


def parse_baggage(header: str | None) -> dict[str, str]:
    """The entries of a W3C ``baggage`` header, values percent-decoded, properties dropped.

    Malformed members (no ``=``, empty key) are skipped, as the W3C spec allows.
    """
    entries: dict[str, str] = {}
    for member in (header or "").split(","):
        key, sep, value = member.partition("=")
        key = key.strip()
        if not sep or not key:
            continue
        entries[key] = unquote(value.split(";", 1)[0].strip())
    return entries


def realm_of(baggage: str | None) -> str | None:
    """The realm named by the ``agentos-realm`` baggage entry, or None."""
    if not baggage or REALM_BAGGAGE_KEY not in baggage:
        return None
    return parse_baggage(baggage).get(REALM_BAGGAGE_KEY) or None


def role_of(baggage: str | None) -> str:
    """The caller's role from the ``agentos-role`` baggage entry; ``system`` when absent.

    The engine writes the entry for every caller that is not ``system`` and removes any entry a
    caller sent, so a handler can trust it.
    """
    if not baggage or ROLE_BAGGAGE_KEY not in baggage:
        return "system"
    return parse_baggage(baggage).get(ROLE_BAGGAGE_KEY) or "system"


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler knows about the invocation it serves.

    Attributes:
        function_id: the function being invoked.
        invocation_id: the call's id; None for a void call (nobody waits for the answer).
        caller_worker_id: the calling worker, as the engine asserts it; None when unknown.
        metadata: the frame's metadata sidecar (empty when absent).
        traceparent: the W3C trace context of the call, passed on to onward calls.
        baggage: the W3C baggage of the call, passed on to onward calls.
        realm: the realm the call runs in (from the ``agentos-realm`` baggage entry), or None.
        role: the caller's role (from the ``agentos-role`` baggage entry), ``system`` if absent.
    """

    function_id: str
    dispatcher: Dispatcher = field(repr=False, compare=False)
    invocation_id: str | None = None
    caller_worker_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    traceparent: str | None = None
    baggage: str | None = None

    @property
    def realm(self) -> str | None:
        return realm_of(self.baggage)

    @property
    def role(self) -> str:
        return role_of(self.baggage)

    async def trigger(
        self,
        function_id: str,
        data: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline, as iii's SDKs take
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> Any:
        """Call ``function_id`` and wait for its result, within this invocation's trace and realm.

        Raises:
            InvocationError: the call failed; ``InvocationTimeout`` when it timed out.
        """
        return await self.dispatcher.dispatch(
            self._call(function_id, data, "sync", None, timeout, metadata, namespace)
        )

    async def trigger_void(
        self,
        function_id: str,
        data: Any = None,
        *,
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> None:
        """Call ``function_id`` without waiting for (or getting) an answer."""
        await self.dispatcher.dispatch(
            self._call(function_id, data, "void", None, None, metadata, namespace)
        )

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
        """Hand a call to the durable queue ``queue``.

        Returns:
            The engine's receipt id for the queued message.
        """
        receipt: str = await self.dispatcher.dispatch(
            self._call(function_id, data, "enqueue", queue, timeout, metadata, namespace)
        )
        return receipt

    def _call(
        self,
        function_id: str,
        data: Any,
        kind: CallKind,
        queue: str | None,
        timeout: float | None,
        metadata: dict[str, Any] | None,
        namespace: str | None,
    ) -> Call:
        return Call(
            function_id,
            data,
            kind,
            queue,
            timeout,
            metadata,
            namespace,
            self.traceparent,
            self.baggage,
        )


_CURRENT: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "agentos_current_context", default=None
)


def current_context() -> Context:
    """The context of the invocation the calling code is serving.

    Call it anywhere inside a handler (or a task the handler started).

    Raises:
        NoContextError: not inside a handler.
    """
    ctx = _CURRENT.get()
    if ctx is None:
        raise NoContextError("current_context() called outside a function handler")
    return ctx


def peek_context() -> Context | None:
    """The current context, or None outside a handler (for the SDK's own propagation)."""
    return _CURRENT.get()


@contextmanager
def bind_context(ctx: Context) -> Iterator[Context]:
    """Make ``ctx`` current for the duration of the block (restored afterwards)."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)


def run_bound(ctx: Context, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
    """Await ``coro`` in a fresh copy of the current contextvars, with ``ctx`` current.

    What a task of its own would give the handler, without the task: the SDK runs handlers in
    a pool of long-lived worker tasks, and a context variable one handler sets (without
    resetting it) must not leak into the next invocation that worker runs. Cancellation and
    exceptions pass through unchanged; tasks the handler starts inherit its context.
    """
    context = contextvars.copy_context()
    context.run(_CURRENT.set, ctx)
    return _drive(context, coro)


@types.coroutine
def _drive(context: contextvars.Context, coro: Coroutine[Any, Any, T]) -> Generator[Any, Any, T]:
    # A coroutine's steps run in whatever context calls send()/throw(), so stepping it through
    # context.run() runs all of it in ``context``. What it yields (futures to wait on) goes up to
    # the enclosing task unchanged, and what the task sends or throws back comes down again.
    send, throw = coro.send, coro.throw
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                yielded = context.run(send, value)
            else:
                yielded, error = context.run(throw, error), None
        except StopIteration as stop:
            result: T = stop.value
            return result
        try:
            value = yield yielded
        except GeneratorExit:
            context.run(coro.close)
            raise
        except BaseException as exc:  # cancellation included: the handler decides what it means
            value, error = None, exc
