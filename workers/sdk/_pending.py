"""The pending-call table: one ``invocation_id → slot`` map for every call awaiting its answer.

An entry is created just before the call is sent and popped in ``finally`` whatever happens
(answer, error, timeout, cancellation), so a late answer finds nothing and is dropped. Losing the
connection fails every entry at once: callers never hang on a socket that is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from engine.protocol import InvocationResult

from .errors import InvocationError

__all__ = ["PendingCalls", "Slot"]


class Slot:
    """Where one call's outcome lands. ``await slot.wait()`` returns it or raises it."""

    __slots__ = ("function_id", "invocation_id", "_event", "_outcome")

    def __init__(self, function_id: str, invocation_id: str) -> None:
        self.function_id = function_id
        self.invocation_id = invocation_id
        self._event = anyio.Event()
        self._outcome: InvocationResult | InvocationError | None = None

    @property
    def done(self) -> bool:
        return self._outcome is not None

    def set_nowait(self, outcome: InvocationResult | InvocationError) -> None:
        """Settle the call (first outcome wins)."""
        if self._outcome is None:
            self._outcome = outcome
            self._event.set()

    async def wait(self) -> Any:
        """Wait for the outcome.

        Returns:
            The ``result`` of the answer.

        Raises:
            InvocationError: the answer carried an error, or the call was failed locally.
        """
        await self._event.wait()
        outcome = self._outcome
        if isinstance(outcome, InvocationError):
            raise outcome
        assert outcome is not None
        if outcome.error is not None:
            err = outcome.error
            raise InvocationError.from_wire(
                err.code, err.message, err.stacktrace, self.function_id, self.invocation_id
            )
        return outcome.result


class PendingCalls:
    """Calls awaiting an ``invocationresult``, keyed by invocation id."""

    def __init__(self) -> None:
        self._slots: dict[str, Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    @contextmanager
    def expect(self, function_id: str, invocation_id: str) -> Iterator[Slot]:
        """Hold a slot for ``invocation_id`` for the duration of the block.

        Enter it before sending the call, so an answer can never arrive before its slot.
        """
        slot = Slot(function_id, invocation_id)
        self._slots[invocation_id] = slot
        try:
            yield slot
        finally:
            self._slots.pop(invocation_id, None)

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
