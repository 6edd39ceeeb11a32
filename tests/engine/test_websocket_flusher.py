"""Write batching (engine.ws_flusher): one scheduled flush per loop turn, one flush per socket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from engine.ws_flusher import Flusher


class Loop:
    """Just ``call_soon``: the callbacks wait in a list until the test runs them."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)


class Socket:
    def __init__(self, flusher: Flusher, log: list[str], name: str, then: Any = None) -> None:
        self.flusher, self.log, self.name, self.then = flusher, log, name, then

    def flush(self) -> None:
        self.log.append(self.name)
        if self.then is not None:  # a flush that queues on another socket (a failure's close frame)
            self.flusher.mark(self.then)
            self.then = None


def test_marks_of_one_turn_share_one_scheduled_flush() -> None:
    loop, log = Loop(), []
    flusher = Flusher(cast(Any, loop))
    a, b = Socket(flusher, log, "a"), Socket(flusher, log, "b")
    flusher.mark(cast(Any, a))
    flusher.mark(cast(Any, b))
    assert len(loop.soon) == 1 and log == []
    loop.soon.pop()()
    assert log == ["a", "b"]
    flusher.mark(cast(Any, a))  # the next turn schedules again
    assert len(loop.soon) == 1


def test_sockets_marked_while_flushing_are_flushed_in_the_same_pass() -> None:
    loop, log = Loop(), []
    flusher = Flusher(cast(Any, loop))
    late = Socket(flusher, log, "late")
    flusher.mark(cast(Any, Socket(flusher, log, "first", then=late)))
    loop.soon.pop()()
    assert log == ["first", "late"]
    loop.soon.pop()()  # the mark during the pass scheduled one more, which finds nothing left
    assert log == ["first", "late"] and loop.soon == []
