"""The pending-call table: one slot per call, popped whatever happens."""

from __future__ import annotations

import asyncio
import uuid

import anyio
import pytest

from engine.protocol import ErrorBody, InvocationResult
from workers.sdk import ConnectionLost, FunctionNotFound, InvocationTimeout
from workers.sdk._pending import PendingCalls


def result(invocation_id: str, **fields: object) -> InvocationResult:
    return InvocationResult(invocation_id=invocation_id, function_id="a::b", **fields)


async def test_a_result_resolves_its_slot_and_the_entry_is_popped() -> None:
    table = PendingCalls()
    iid = str(uuid.uuid4())
    with table.expect("a::b", iid) as slot:
        assert len(table) == 1
        assert table.resolve_nowait(result(iid, result={"v": 1}))
        assert await slot.wait() == {"v": 1}
    assert len(table) == 0


async def test_error_answers_raise_the_specific_error() -> None:
    table = PendingCalls()
    iid = str(uuid.uuid4())
    with table.expect("a::b", iid) as slot:
        table.resolve_nowait(
            result(iid, error=ErrorBody(code="function_not_found", message="nope"))
        )
        with pytest.raises(FunctionNotFound) as info:
            await slot.wait()
    assert (info.value.function_id, info.value.invocation_id) == ("a::b", iid)


async def test_a_late_answer_finds_nothing() -> None:
    table = PendingCalls()
    iid = str(uuid.uuid4())
    with anyio.move_on_after(0):
        with table.expect("a::b", iid) as slot:
            await slot.wait()
    assert len(table) == 0
    assert not table.resolve_nowait(result(iid, result=1))


async def test_fail_all_fails_every_waiting_call() -> None:
    table = PendingCalls()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    errors: list[BaseException] = []

    async def call(iid: str) -> None:
        with table.expect("a::b", iid) as slot:
            try:
                await slot.wait()
            except ConnectionLost as exc:
                errors.append(exc)

    async with anyio.create_task_group() as tg:
        for iid in ids:
            tg.start_soon(call, iid)
        await anyio.wait_all_tasks_blocked()
        assert table.fail_all_nowait("connection_lost", "gone") == 3
    assert len(errors) == 3 and len(table) == 0


async def test_first_outcome_wins() -> None:
    table = PendingCalls()
    iid = str(uuid.uuid4())
    with table.expect("a::b", iid) as slot:
        table.resolve_nowait(result(iid, result="first"))
        table.fail_all_nowait("connection_lost", "gone")
        assert await slot.wait() == "first"


async def test_the_deadline_timer_settles_the_slot_as_timed_out() -> None:
    table = PendingCalls()
    iid = str(uuid.uuid4())
    slot = table.open("a::b", iid, asyncio.get_running_loop(), timeout=0)
    try:
        with pytest.raises(InvocationTimeout) as info:
            await slot.wait()
    finally:
        table.close(slot)
    assert (info.value.function_id, info.value.invocation_id) == ("a::b", iid)
    assert "within 0s" in info.value.message and len(table) == 0


async def test_one_timer_serves_every_deadline_in_order() -> None:
    table = PendingCalls()
    loop = asyncio.get_running_loop()
    late = table.open("a::late", str(uuid.uuid4()), loop, timeout=30)
    soon = table.open("a::soon", str(uuid.uuid4()), loop, timeout=0)
    never = table.open("a::never", str(uuid.uuid4()), loop)
    with pytest.raises(InvocationTimeout):
        await soon.wait()
    assert not late.done and not never.done  # re-armed for the later deadline, not fired
    table.close(soon)
    table.close(late)
    table.close(late)  # idempotent
    table.close(never)
    assert len(table) == 0
    assert not table.resolve_nowait(result(late.invocation_id, result=1))
