"""Write batching across the sockets of one listener: the :class:`Flusher` they share.

Theory of operation
-------------------
The bus spends most of its time moving small frames. Each socket queues what the application
sends it (:meth:`engine.websocket.WebSocket.send_nowait`) instead of writing at once, and the
first frame queued on a socket marks it dirty here. The first mark of an event-loop turn schedules
one ``call_soon``, which runs after every socket that was readable in that turn has been read:
then each dirty socket writes its queue with one ``writelines``. A burst of 64 calls from one peer
to another thus costs one read and one write per peer instead of 64 of each, whoever queued the
frames (read batches or tasks).

The flusher also records which socket's read batch is running (:attr:`Flusher.reading`): a
socket that is written to while its transport is paused holds that source until it drains, which
is how back-pressure crosses the bus.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = ["Flusher"]


class Flusher:
    """Writes the frames queued on every socket of a listener, one ``writelines`` per socket.

    Args:
        loop: the event loop the listener's sockets run on.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._dirty: list[WebSocket] = []
        self._scheduled = False
        self.reading: WebSocket | None = None
        """The socket whose read batch is running, if any (writes flush when it ends)."""

    def mark(self, ws: WebSocket) -> None:
        """Flush ``ws`` once this turn of the event loop ends; call it when its queue fills from empty."""
        self._dirty.append(ws)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self.flush)  # (get_running_loop() costs a getpid() syscall)

    def flush(self) -> None:
        """Flush every marked socket, including those marked while flushing."""
        self._scheduled = False
        while self._dirty:
            dirty, self._dirty = self._dirty, []
            for ws in dirty:
                ws.flush()
