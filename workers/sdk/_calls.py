"""Calls out: a :class:`Call` becomes an ``invokefunction`` frame, is sent, and its answer awaited.

A call made while the link is down waits for CONNECTED within its own timeout, so a short outage
is invisible to callers; a call whose socket drops fails with ``connection_lost`` at once (see
:mod:`workers.sdk._link`). Calls made inside a handler carry the handler's ``traceparent`` and
``baggage``, so the realm the engine stamped on the first call follows the whole chain.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio

from engine.protocol import EnqueueAction, InvokeFunction, VoidAction

from ._link import Link, send_call
from ._pending import PendingCalls
from .context import Call, peek_context
from .errors import InvocationError, InvocationTimeout
from .options import ConnectOptions
from .state import ConnectionState, StateMachine
from .types import CallKind

__all__ = ["Caller", "ambient_call"]

_UNNAMESPACED = ("engine::", "configuration::")


def ambient_call(
    function_id: str,
    data: Any,
    kind: CallKind,
    queue: str | None,
    timeout: float | None,
    metadata: dict[str, Any] | None,
    namespace: str | None,
) -> Call:
    """A :class:`Call` carrying the current handler's trace and baggage (none outside one)."""
    ctx = peek_context()
    return Call(
        function_id,
        data,
        kind,
        queue,
        timeout,
        metadata,
        namespace,
        traceparent=ctx.traceparent if ctx else None,
        baggage=ctx.baggage if ctx else None,
    )


class Caller:
    """Makes the outbound calls of one connection (the ``Dispatcher`` handler contexts use)."""

    def __init__(
        self, options: ConnectOptions, machine: StateMachine, link: Link, pending: PendingCalls
    ) -> None:
        self._options = options
        self._machine = machine
        self._link = link
        self._pending = pending

    async def dispatch(self, call: Call) -> Any:
        """Make ``call``: wait for the link, send, and wait for the answer (unless void).

        Returns:
            The result (sync), None (void) or the ``messageReceiptId`` (enqueue).

        Raises:
            InvocationError: the call failed; ``InvocationTimeout`` when ``call.timeout`` (or the
                default timeout) passed first; ``ConnectionLost`` when the socket dropped.
            InvalidState: the connection is closed (the fatal error if it failed).
        """
        self._machine.check_open()
        timeout = call.timeout if call.timeout is not None else self._options.default_timeout
        msg = self.frame(call)
        try:
            with anyio.fail_after(timeout):
                await self._machine.wait_for(ConnectionState.CONNECTED)
                assert self._link.session is not None  # CONNECTED implies a session
                result = await send_call(self._link.session, self._pending, msg)
        except TimeoutError:
            raise InvocationTimeout(
                f"no answer from {call.function_id} within {timeout}s",
                function_id=call.function_id,
                invocation_id=msg.invocation_id,
            ) from None
        if call.kind != "enqueue":
            return result
        receipt = result.get("messageReceiptId") if isinstance(result, dict) else None
        if not isinstance(receipt, str):
            raise InvocationError(
                "invalid_result",
                f"enqueue answered without a messageReceiptId: {result!r}",
                function_id=call.function_id,
                invocation_id=msg.invocation_id,
            )
        return receipt

    def frame(self, call: Call) -> InvokeFunction:
        """The ``invokefunction`` frame of ``call`` (a fresh invocation id unless void)."""
        action: VoidAction | EnqueueAction | None = None
        if call.kind == "void":
            action = VoidAction()
        elif call.kind == "enqueue":
            action = EnqueueAction(queue=call.queue or "default")
        namespace = call.namespace
        if namespace is None and not call.function_id.startswith(_UNNAMESPACED):
            # As iii does: a namespaced worker calls into its own namespace by default.
            namespace = self._options.namespace
        return InvokeFunction(
            invocation_id=None if call.kind == "void" else str(uuid.uuid4()),
            function_id=call.function_id,
            data=call.data,
            traceparent=call.traceparent,
            baggage=call.baggage,
            action=action,
            metadata=call.metadata,
            namespace=namespace,
        )
