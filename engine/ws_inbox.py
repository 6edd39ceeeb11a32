"""The inbox of a server-side WebSocket: received messages waiting for ``recv()``, bounded.

Theory of operation
-------------------
Most applications take every message inline, in the socket's ``on_messages`` callback, and never
touch the inbox. The others read with ``await recv()``, and the messages of each read batch wait
here until then. The inbox is bounded the way websockets' ``Assembler`` is: once it holds
``max_queue`` messages it pauses its socket (``hold``: the transport stops reading, so the
kernel's buffers and then TCP flow control push back on the peer), and once ``recv()`` has
drained it to a quarter of that it lets the socket read again (``release``). The inbox is itself
the reason it gives for both, so the socket's other holds are left alone.

The logic lives in :meth:`Inbox.put_nowait` and :meth:`Inbox.get_nowait`; :meth:`Inbox.wait`
only waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from anyio import WouldBlock

from .frames import Data

__all__ = ["Inbox"]


class Inbox:
    """The messages a socket received that no one has taken yet, oldest first.

    Args:
        loop: the socket's event loop.
        max_queue: messages queued before the socket stops reading.
        hold: stops the socket reading; called with the inbox as the reason.
        release: takes that hold back.
    """

    __slots__ = ("max_queue", "_loop", "_hold", "_release", "_messages", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, max_queue: int,
                 hold: Callable[[object], None], release: Callable[[object], None]) -> None:
        self.max_queue = max_queue
        self._loop = loop
        self._hold = hold
        self._release = release
        self._messages: deque[Data] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._messages)

    def put_nowait(self, messages: list[Data]) -> None:
        """Queue the messages of a read batch and wake the waiting reader.

        Call it with what ``on_messages`` would have been given; the socket is held once the
        inbox is full.
        """
        self._messages.extend(messages)
        if len(self._messages) >= self.max_queue:
            self._hold(self)
        self.wake()

    def get_nowait(self) -> Data:
        """Take the oldest message; the socket is released once a quarter of ``max_queue`` is left.

        Raises:
            WouldBlock: the inbox is empty (:meth:`wait` for a batch).
        """
        if not self._messages:
            raise WouldBlock
        message = self._messages.popleft()
        if len(self._messages) <= self.max_queue // 4:
            self._release(self)
        return message

    async def wait(self) -> None:
        """Wait until a batch is put or :meth:`wake` is called (the socket closed); one waiter."""
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def wake(self) -> None:
        """End the current :meth:`wait`, if any; call it when the socket closes."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
