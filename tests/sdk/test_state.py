"""The connection state machine, with no event loop except where waiting is tested."""

from __future__ import annotations

import itertools

import anyio
import pytest

from workers.sdk import AuthenticationError, ConnectionState, InvalidState
from workers.sdk.state import TRANSITIONS, StateMachine

S = ConnectionState
ALLOWED = {
    (S.CONNECTING, S.CONNECTED),
    (S.CONNECTING, S.FAILED),
    (S.CONNECTING, S.CLOSED),
    (S.CONNECTED, S.RECONNECTING),
    (S.CONNECTED, S.FAILED),
    (S.CONNECTED, S.CLOSED),
    (S.RECONNECTING, S.CONNECTED),
    (S.RECONNECTING, S.FAILED),
    (S.RECONNECTING, S.CLOSED),
}


def machine_in(state: ConnectionState) -> StateMachine:
    machine = StateMachine(lambda: AuthenticationError("unauthorized", "nope"))
    path = {
        S.CONNECTING: [],
        S.CONNECTED: [S.CONNECTED],
        S.RECONNECTING: [S.CONNECTED, S.RECONNECTING],
        S.CLOSED: [S.CLOSED],
        S.FAILED: [S.FAILED],
    }[state]
    for step in path:
        machine.move(step)
    return machine


def test_table_matches_the_documented_transitions() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_step_is_allowed_or_raises(current: ConnectionState, target: ConnectionState) -> None:
    machine = machine_in(current)
    if (current, target) in ALLOWED:
        machine.move(target)
        assert machine.state is target
    else:
        with pytest.raises(InvalidState):
            machine.move(target)
        assert machine.state is current


def test_starts_connecting() -> None:
    assert machine_in(S.CONNECTING).state is S.CONNECTING


def test_check_open() -> None:
    machine_in(S.RECONNECTING).check_open()
    with pytest.raises(InvalidState):
        machine_in(S.CLOSED).check_open()
    with pytest.raises(AuthenticationError):
        machine_in(S.FAILED).check_open()


async def test_wait_for_wakes_on_the_transition() -> None:
    machine = machine_in(S.CONNECTING)
    reached = anyio.Event()

    async def waiter() -> None:
        await machine.wait_for(S.CONNECTED)
        reached.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert not reached.is_set()
        machine.move(S.CONNECTED)
    assert reached.is_set()


async def test_wait_for_returns_at_once_when_already_there() -> None:
    await machine_in(S.RECONNECTING).wait_for(S.RECONNECTING)


async def test_wait_for_raises_the_failure() -> None:
    machine = machine_in(S.CONNECTING)
    async with anyio.create_task_group() as tg:

        async def fail_later() -> None:
            await anyio.wait_all_tasks_blocked()
            machine.move(S.FAILED)

        tg.start_soon(fail_later)
        with pytest.raises(AuthenticationError):
            await machine.wait_for(S.CONNECTED)


async def test_wait_for_an_unreachable_state_after_close_raises() -> None:
    with pytest.raises(InvalidState):
        await machine_in(S.CLOSED).wait_for(S.CONNECTED)
