"""The self-healing link: reconnect and replay, fatal refusals, pings and bad frames."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from engine.protocol import (
    ErrorBody,
    InvokeFunction,
    Ping,
    Pong,
    Reattach,
    RegisterFunction,
    RegisterTrigger,
    RegistrationRejected,
)
from workers.sdk import (
    AuthenticationError,
    ConnectionLost,
    ConnectionState,
    RegistrationRejectedError,
    TriggerBinding,
    Worker,
    connect,
    function,
)

from .conftest import FAST
from .stub_engine import HEALTH, REGISTER, StubEngine


@function("svc::base")
async def base(data: Any) -> str:
    return "base"


@function("svc::runtime")
async def runtime(data: Any) -> str:
    return "runtime"


@function("svc::dropped")
async def dropped(data: Any) -> str:
    return "dropped"


WORKER = Worker(
    "svc",
    functions=[base],
    triggers=[TriggerBinding("http", "svc::base", {"api_path": "/base"}, id="static-binding")],
)


async def test_a_drop_fails_in_flight_calls_then_reconnects_and_replays(
    engine: StubEngine, codec: Any
) -> None:
    async with connect(engine.url, workers=[WORKER], codec=codec, reconnect=FAST) as conn:
        first = await engine.next_connection()
        first_id = conn.worker_id
        # Run-time changes: kept ones must be replayed, undone ones must not.
        await conn.register_function(runtime)
        await conn.register_function(dropped)
        await conn.unregister_function("svc::dropped")
        kept = await conn.bind("cron", "svc::runtime", {"expression": "0 * * * * *"})
        gone = await conn.bind("cron", "svc::base", {"expression": "1 * * * * *"})
        await gone.unregister()

        failure: list[BaseException] = []

        async def in_flight() -> None:
            try:
                await conn.trigger("other::slow", {})
            except ConnectionLost as exc:
                failure.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(in_flight)
            await first.next(InvokeFunction, lambda m: m.function_id == "other::slow")
            await first.close()
        assert failure and failure[0].code == "connection_lost"  # type: ignore[attr-defined]

        second = await engine.next_connection()
        await conn.wait_state(ConnectionState.CONNECTED)
        assert second.types() == [
            "reattach",
            "invokefunction",
            "registerfunction",
            "registerfunction",
            "registertrigger",
            "registertrigger",
            "invokefunction",
        ]
        reattach, meta, *registrations, health = second.received
        assert reattach == Reattach(
            previous_worker_id=first.worker_id, reattach_token=first.reattach_token
        )
        assert isinstance(meta, InvokeFunction) and meta.function_id == REGISTER
        assert [m.id for m in registrations if isinstance(m, RegisterFunction)] == [
            "svc::base",
            "svc::runtime",
        ]
        triggers = [m for m in registrations if isinstance(m, RegisterTrigger)]
        assert [t.id for t in triggers] == ["static-binding", kept.id]
        assert isinstance(health, InvokeFunction) and health.function_id == HEALTH
        # The lost call is not resent; the new socket serves the replayed functions.
        assert not any(
            isinstance(m, InvokeFunction) and m.function_id == "other::slow"
            for m in second.received
        )
        assert (await second.call("svc::runtime")).result == "runtime"
        assert conn.worker_id == second.worker_id != first_id
        assert conn.statistics().reconnects == 1
        assert conn.statistics().pending_calls == 0


async def test_calls_made_while_reconnecting_wait_for_the_connection() -> None:
    gate = anyio.Event()

    async def hold_health(conn: Any, msg: Any) -> None:
        if isinstance(msg, InvokeFunction) and msg.function_id == HEALTH and conn.index == 1:
            await gate.wait()
            await conn.answer(msg, {"status": "healthy"})

    async with StubEngine(on_message=hold_health, answers={"math::add": 3}) as engine:
        async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
            first = await engine.next_connection()
            engine.answer_health = False  # the second handshake waits for the gate
            await first.close()
            second = await engine.next_connection()
            await second.next(InvokeFunction, lambda m: m.function_id == HEALTH)
            assert conn.state is ConnectionState.RECONNECTING
            result: list[Any] = []
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    result.append(await conn.trigger("math::add", {"a": 1, "b": 2}))

                tg.start_soon(call)
                await anyio.wait_all_tasks_blocked()
                assert not any(
                    isinstance(m, InvokeFunction) and m.function_id == "math::add"
                    for m in second.received
                )
                gate.set()
            assert result == [3]


async def test_the_first_connect_retries_until_the_engine_is_up() -> None:
    async with StubEngine(refuse_upgrades=2) as engine:
        async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
            assert conn.state is ConnectionState.CONNECTED
            assert engine.upgrades == 3 and len(engine.connections) == 1
            assert conn.statistics().reconnects == 0


async def test_a_bad_token_fails_for_good_without_retrying() -> None:
    async with StubEngine(auth_error=ErrorBody(code="unauthorized", message="bad token")) as engine:
        conn = connect(engine.url, workers=[WORKER], token="wrong", reconnect=FAST)
        with pytest.raises(AuthenticationError) as info:
            async with conn:
                pytest.fail("entered despite the refusal")
        assert (info.value.code, info.value.message) == ("unauthorized", "bad token")
        assert conn.state is ConnectionState.FAILED
        assert len(engine.connections) == 1 and engine.upgrades == 1
        with pytest.raises(AuthenticationError):
            await conn.trigger("a::b")


async def test_an_http_401_is_an_authentication_error() -> None:
    async with StubEngine(http_status=401) as engine:
        with pytest.raises(AuthenticationError, match="401"):
            async with connect(engine.url, workers=[WORKER], reconnect=FAST):
                pass
        assert engine.upgrades == 1


async def test_worker_namespace_conflict_on_connect_is_fatal() -> None:
    async with StubEngine(reject_worker_on=frozenset({0})) as engine:
        conn = connect(engine.url, workers=[WORKER], reconnect=FAST)
        with pytest.raises(RegistrationRejectedError) as info:
            async with conn:
                pass
        assert info.value.code == "WORKER_NAMESPACE_CONFLICT" and info.value.worker_name == "svc"
        assert conn.state is ConnectionState.FAILED
        assert engine.upgrades == 1


async def test_worker_namespace_conflict_after_a_reconnect_stops_serving() -> None:
    async with StubEngine(reject_worker_on=frozenset({1})) as engine:
        async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
            first = await engine.next_connection()
            await first.close()
            with pytest.raises(RegistrationRejectedError):
                await conn.serve_forever()
            assert conn.state is ConnectionState.FAILED
            with pytest.raises(RegistrationRejectedError):
                await conn.wait_state(ConnectionState.CONNECTED)
        assert conn.state is ConnectionState.FAILED
        assert engine.upgrades == 2


async def test_function_namespace_conflict_is_recorded_and_the_rest_works() -> None:
    async with StubEngine(reject_functions=frozenset({"svc::base"}), answers={"x::y": 1}) as engine:
        async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
            assert conn.state is ConnectionState.CONNECTED
            assert conn.rejected == [
                RegistrationRejected(
                    code="FUNCTION_NAMESPACE_CONFLICT",
                    namespace="default",
                    function_id="svc::base",
                    owner_worker_id="owner-2",
                )
            ]
            assert await conn.trigger("x::y") == 1


async def test_pings_are_answered(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST):
        stub = engine.connections[0]
        await stub.send(Ping())
        assert await stub.next(Pong) == Pong()


async def test_bad_frames_are_logged_and_skipped(
    engine: StubEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST):
        stub = engine.connections[0]
        caplog.set_level(logging.WARNING, logger="workers.sdk")
        await stub.send_raw(b"\xc1 not msgpack" if stub.msgpack else "{not json")
        await stub.send_raw('{"type": "nosuchtype"}')
        await stub.send_raw('{"type": "invocationresult", "invocation_id": "not-a-uuid"}')
        assert (await stub.call("svc::base")).result == "base"
        assert caplog.text.count("ignoring a bad frame") == 3
