"""The pending-call table: one ``invocation_id → slot`` map for every call awaiting its answer.

An entry is opened just before the call is sent and closed in ``finally`` whatever happens
(answer, error, timeout, cancellation), so a late answer finds nothing and is dropped. Losing the
connection fails every entry at once: callers never hang on a socket that is gone.

A slot is an asyncio future (a tenth of the cost of an ``anyio.Event``) resolved with the
outcome, never with an exception: an outcome nobody awaits is simply dropped.

Deadlines cost no timer per call: the table keeps **one** loop timer, armed at the earliest
deadline it knows of. When it fires, it settles every overdue slot with
:class:`InvocationTimeout` and re-arms at the earliest remaining deadline. A new call re-arms it
only when its deadline comes first, which is rare when calls share a timeout, so a call pays a
clock read and a comparison instead of a timer to create and cancel (in uvloop, a libuv handle to
allocate and close) or an ``anyio.fail_after`` scope (about ten times that). The sweep is
O(calls in flight), once per earliest deadline.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.protocol import InvocationResult

from .errors import InvocationError, InvocationTimeout

__all__ = ["PendingCalls", "Slot"]

_EARLY = 0.001
"""Seconds a deadline may lie ahead of the loop clock and still count as due: timers fire up to
the loop's clock resolution early, and re-arming for the remainder would spin."""


class Slot:
    """Where one call's outcome lands. ``await slot.wait()`` returns it or raises it."""

    __slots__ = ("function_id", "invocation_id", "future", "timeout", "deadline")

    def __init__(self, function_id: str, invocation_id: str, future: asyncio.Future[Any]) -> None:
        self.function_id = function_id
        self.invocation_id = invocation_id
        self.future = future
        self.timeout = math.inf
        self.deadline = math.inf  # loop time

    @property
    def done(self) -> bool:
        return self.future.done()

    def set_nowait(self, outcome: InvocationResult | InvocationError) -> None:
        """Settle the call (first outcome wins)."""
        if not self.future.done():
            self.future.set_result(outcome)

    def expire(self) -> None:
        """Settle the call as timed out."""
        self.set_nowait(
            InvocationTimeout(
                f"no answer from {self.function_id} within {self.timeout}s",
                function_id=self.function_id,
                invocation_id=self.invocation_id,
            )
        )

    async def wait(self) -> Any:
        """Wait for the outcome.

        Returns:
            The ``result`` of the answer.

        Raises:
            InvocationError: the answer carried an error, or the call failed locally
                (``InvocationTimeout``, ``ConnectionLost``).
        """
        return self.unwrap(await self.future)

    def unwrap(self, outcome: InvocationResult | InvocationError) -> Any:
        """The result of a settled slot's ``outcome``, or raise its error (see :meth:`wait`)."""
        if isinstance(outcome, InvocationError):
            raise outcome
        if outcome.error is None:
            return outcome.result
        err = outcome.error
        raise InvocationError.from_wire(
            err.code, err.message, err.stacktrace, self.function_id, self.invocation_id
        )


class PendingCalls:
    """Calls awaiting an ``invocationresult``, keyed by invocation id."""

    def __init__(self) -> None:
        self._slots: dict[str, Slot] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf  # the deadline the timer fires at

    def __len__(self) -> int:
        return len(self._slots)

    def open(
        self,
        function_id: str,
        invocation_id: str,
        loop: asyncio.AbstractEventLoop,
        timeout: float | None = None,
    ) -> Slot:
        """Hold a slot for ``invocation_id``; pair it with :meth:`close` in a ``finally``.

        Open it before sending the call, so an answer can never arrive before its slot.

        Args:
            loop: the running loop (passed in: looking it up costs a syscall on Python 3.11).
            timeout: seconds until the slot settles with ``InvocationTimeout`` (None: never).
        """
        slot = Slot(function_id, invocation_id, loop.create_future())
        if timeout is not None:
            slot.timeout = timeout
            slot.deadline = deadline = loop.time() + timeout
            if deadline < self._armed_for:
                self._arm(loop, deadline)
        self._slots[invocation_id] = slot
        return slot

    def close(self, slot: Slot) -> None:
        """Forget ``slot`` (idempotent): a late answer will find nothing."""
        if self._slots.get(slot.invocation_id) is slot:
            del self._slots[slot.invocation_id]

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._expire_due, loop)
        self._armed_for = deadline

    def _expire_due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._armed_for = None, math.inf
        due = loop.time() + _EARLY
        nearest = math.inf
        for slot in list(self._slots.values()):
            if slot.deadline <= due:
                slot.expire()
            elif slot.deadline < nearest and not slot.done:
                nearest = slot.deadline
        if nearest < math.inf:
            self._arm(loop, nearest)

    @contextmanager
    def expect(
        self, function_id: str, invocation_id: str, timeout: float | None = None
    ) -> Iterator[Slot]:
        """:meth:`open` and :meth:`close` around a block (for code off the hot path)."""
        slot = self.open(function_id, invocation_id, asyncio.get_running_loop(), timeout)
        try:
            yield slot
        finally:
            self.close(slot)

    def resolve_nowait(self, result: InvocationResult) -> bool:
        """Deliver an answer.

        Returns:
            False when nobody waits for it (a late answer after a timeout): drop it.
        """
        slot = self._slots.get(result.invocation_id)
        if slot is None:
            return False
        slot.set_nowait(result)
        return True

    def fail_all_nowait(self, code: str, message: str) -> int:
        """Fail every waiting call with ``code`` (e.g. ``connection_lost``).

        Returns:
            How many calls were failed.
        """
        failed = 0
        for slot in list(self._slots.values()):
            if not slot.done:
                slot.set_nowait(
                    InvocationError.from_wire(
                        code, message, None, slot.function_id, slot.invocation_id
                    )
                )
                failed += 1
        return failed
