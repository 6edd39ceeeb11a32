"""Calls out: an ``invokefunction`` frame is sent and its answer awaited.

A call made while the link is down waits for CONNECTED within its own timeout, so a short outage
is invisible to callers; a call whose socket drops fails with ``connection_lost`` at once (see
:mod:`workers.sdk._link`). Calls made inside a handler carry the handler's ``traceparent`` and
``baggage``, so the realm the engine stamped on the first call follows the whole chain.

The connected path is the SDK's hottest code and uses asyncio directly: the frame is a wire dict
(:mod:`workers.sdk._frames`), the id comes from :class:`~workers.sdk._ids.InvocationIds`, the
deadline is a field of the pending slot (served by the table's one timer, see
:mod:`workers.sdk._pending`), and sending is a synchronous write into the session's outbox, so a
call costs one suspension: waiting for its answer. Only a call that has to wait for the
connection, or for room in a full write buffer, takes the slow path (anyio, within the timeout).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import anyio

from ._frames import VOID_ACTION, WireFrame, enqueue_action, invoke_frame
from ._ids import InvocationIds
from ._link import Link
from ._pending import PendingCalls
from ._session import Disconnected, Session
from .context import Call, peek_context
from .errors import ConnectionLost, InvocationError, InvocationTimeout
from .options import ConnectOptions
from .state import ConnectionState, StateMachine
from .types import CallKind

__all__ = ["Caller"]

_UNNAMESPACED = ("engine::", "configuration::")
_CONNECTED = ConnectionState.CONNECTED


class Caller:
    """Makes the outbound calls of one connection (the ``Dispatcher`` handler contexts use)."""

    def __init__(
        self, options: ConnectOptions, machine: StateMachine, link: Link, pending: PendingCalls
    ) -> None:
        self._options = options
        self._machine = machine
        self._link = link
        self._pending = pending
        self._ids = InvocationIds()

    def ambient(
        self,
        function_id: str,
        data: Any,
        kind: CallKind,
        queue: str | None,
        timeout: float | None,
        metadata: dict[str, Any] | None,
        namespace: str | None,
    ) -> Coroutine[Any, Any, Any]:
        """:meth:`call`, carrying the current handler's trace and baggage (none outside one).

        Returns the call's coroutine (for the caller to await) rather than wrapping it in one
        more coroutine of its own.
        """
        ctx = peek_context()
        if ctx is None:
            return self.call(function_id, data, kind, queue, timeout, metadata, namespace)
        return self.call(
            function_id,
            data,
            kind,
            queue,
            timeout,
            metadata,
            namespace,
            ctx.traceparent,
            ctx.baggage,
        )

    async def dispatch(self, call: Call) -> Any:
        """Make ``call`` (see :meth:`call`)."""
        return await self.call(
            call.function_id,
            call.data,
            call.kind,
            call.queue,
            call.timeout,
            call.metadata,
            call.namespace,
            call.traceparent,
            call.baggage,
        )

    async def call(
        self,
        function_id: str,
        data: Any,
        kind: CallKind = "sync",
        queue: str | None = None,
        timeout: float | None = None,
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
        traceparent: str | None = None,
        baggage: str | None = None,
    ) -> Any:
        """Make one call: wait for the link, send, and wait for the answer (unless void).

        Returns:
            The result (sync), None (void) or the ``messageReceiptId`` (enqueue).

        Raises:
            InvocationError: the call failed; ``InvocationTimeout`` when ``timeout`` (or the
                default timeout) passed first; ``ConnectionLost`` when the socket dropped.
            InvalidState: the connection is closed (the fatal error if it failed).
        """
        if timeout is None:
            timeout = self._options.default_timeout
        if namespace is None and not function_id.startswith(_UNNAMESPACED):
            # As iii does: a namespaced worker calls into its own namespace by default.
            namespace = self._options.namespace
        action: WireFrame | None = None
        if kind == "void":
            action = VOID_ACTION
        elif kind == "enqueue":
            action = enqueue_action(queue or "default")
        invocation_id = None if kind == "void" else self._ids()
        frame = invoke_frame(
            invocation_id, function_id, data, traceparent, baggage, action, metadata, namespace
        )
        session = self._link.session
        if self._machine.state is not _CONNECTED or session is None or session.writing_paused:
            session, left = await self._wait_for_room(function_id, invocation_id, timeout)
        else:
            left = timeout
        if invocation_id is None:
            try:
                session.send_wire_nowait(frame)
            except Disconnected as exc:
                raise _lost(function_id, None) from exc
            return None
        pending = self._pending
        slot = pending.open(function_id, invocation_id, session.loop, left)
        slot.timeout = timeout  # what the caller asked for, as the timeout error reports it
        try:
            session.send_wire_nowait(frame)
            result = slot.unwrap(await slot.future)  # slot.wait(), one coroutine less
        except Disconnected as exc:
            raise _lost(function_id, invocation_id) from exc
        finally:
            pending.close(slot)
        if kind == "sync":
            return result
        receipt = result.get("messageReceiptId") if isinstance(result, dict) else None
        if not isinstance(receipt, str):
            raise InvocationError(
                "invalid_result",
                f"enqueue answered without a messageReceiptId: {result!r}",
                function_id=function_id,
                invocation_id=invocation_id,
            )
        return receipt

    async def _wait_for_room(
        self, function_id: str, invocation_id: str | None, timeout: float
    ) -> tuple[Session, float]:
        """The slow path: wait for CONNECTED and a writable socket, within ``timeout``.

        Returns:
            The session to send on, and what is left of the timeout.
        """
        self._machine.check_open()
        try:
            with anyio.fail_after(timeout) as scope:
                while True:
                    await self._machine.wait_for(_CONNECTED)
                    session = self._link.session
                    assert session is not None  # CONNECTED implies a session
                    if not session.writing_paused:
                        return session, max(0.0, scope.deadline - anyio.current_time())
                    await session.drain()
        except TimeoutError:
            raise InvocationTimeout(
                f"no answer from {function_id} within {timeout}s",
                function_id=function_id,
                invocation_id=invocation_id,
            ) from None


def _lost(function_id: str, invocation_id: str | None) -> ConnectionLost:
    return ConnectionLost(
        f"connection lost while calling {function_id}",
        function_id=function_id,
        invocation_id=invocation_id,
    )
