"""The bounded inbox (engine.ws_inbox): holds its socket when full, releases it once drained.

Async only because an inbox belongs to a loop; only the last test waits.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest
from anyio import WouldBlock

from engine.frames import Data
from engine.ws_inbox import Inbox


class Socket:
    """Records the inbox's holds as a socket would: a set of reasons."""

    def __init__(self) -> None:
        self.holds: set[object] = set()

    def hold(self, reason: object) -> None:
        self.holds.add(reason)

    def release(self, reason: object) -> None:
        self.holds.discard(reason)


def inbox(max_queue: int = 8) -> tuple[Inbox, Socket]:
    sock = Socket()
    return Inbox(asyncio.get_running_loop(), max_queue, sock.hold, sock.release), sock


async def test_messages_come_out_in_order_and_an_empty_inbox_would_block() -> None:
    box, _ = inbox()
    box.put_nowait(["a", b"b"])
    box.put_nowait(["c"])
    assert len(box) == 3
    assert [box.get_nowait() for _ in range(3)] == ["a", b"b", "c"]
    with pytest.raises(WouldBlock):
        box.get_nowait()


async def test_a_full_inbox_holds_its_socket_until_drained_to_a_quarter() -> None:
    box, sock = inbox(max_queue=8)
    box.put_nowait([str(n) for n in range(7)])
    assert not sock.holds
    box.put_nowait(["7"])
    assert sock.holds == {box}
    for left in range(7, 2, -1):  # 7 … 3 left: still above max_queue // 4
        box.get_nowait()
        assert len(box) == left and sock.holds == {box}
    box.get_nowait()
    assert len(box) == 2 and not sock.holds


async def test_wait_returns_when_a_batch_arrives_or_the_socket_wakes_it() -> None:
    box, _ = inbox()
    got: list[Data] = []

    async def reader() -> None:
        await box.wait()
        got.append(box.get_nowait())
        await box.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            box.put_nowait(["first"])
            await anyio.wait_all_tasks_blocked()
            assert got == ["first"]
            box.wake()  # what connection_lost does
    box.wake()  # nobody waiting: nothing to do
