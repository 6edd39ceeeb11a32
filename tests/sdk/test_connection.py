"""Connection against the stub engine: handshake, calls out, run-time registration, closing."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from engine.protocol import (
    EnqueueAction,
    ErrorBody,
    InvokeFunction,
    RegisterFunction,
    RegisterTrigger,
    RegisterTriggerType,
    UnregisterFunction,
    UnregisterTrigger,
    VoidAction,
)
from workers.sdk import (
    ConnectionState,
    Context,
    DefinitionError,
    FunctionNotFound,
    InvalidState,
    InvocationError,
    InvocationTimeout,
    TriggerBinding,
    TriggerConfig,
    TriggerTypeDef,
    Worker,
    connect,
    function,
)

from .conftest import FAST
from .stub_engine import HEALTH, REGISTER, StubEngine


class EchoIn(BaseModel):
    text: str


@function("echo::say", description="Echo", metadata={"v": 1})
async def say(data: EchoIn) -> dict[str, str]:
    return {"text": data.text}


class NullProvider:
    async def register_trigger(self, binding: TriggerConfig) -> None: ...

    async def unregister_trigger(self, binding: TriggerConfig) -> None: ...


WORKER = Worker(
    "echo",
    functions=[say],
    triggers=[TriggerBinding("http", "echo::say", {"api_path": "/echo"}, id="bind-1")],
    trigger_types=[TriggerTypeDef("ticker", "ticks", NullProvider())],
    description="echo worker",
)


async def test_handshake_order_on_first_connect(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], token="tok", reconnect=FAST) as conn:
        assert conn.state is ConnectionState.CONNECTED
        stub = engine.connections[0]
        assert stub.types() == [
            "invokefunction",
            "registertriggertype",
            "registerfunction",
            "registertrigger",
            "invokefunction",
        ]
        meta, ttype, fn, trig, health = stub.received
        assert isinstance(meta, InvokeFunction) and meta.function_id == REGISTER
        assert meta.invocation_id is None and meta.action == VoidAction()
        assert {k: meta.data[k] for k in ("runtime", "name", "description", "features", "sdk")} == {
            "runtime": "python",
            "name": "echo",
            "description": "echo worker",
            "features": [],
            "sdk": "agentos",
        }
        assert isinstance(ttype, RegisterTriggerType) and (ttype.id, ttype.description) == (
            "ticker",
            "ticks",
        )
        assert isinstance(fn, RegisterFunction)
        assert (fn.id, fn.description, fn.metadata) == ("echo::say", "Echo", {"v": 1})
        assert fn.request_format == EchoIn.model_json_schema()
        assert isinstance(trig, RegisterTrigger)
        assert (trig.id, trig.trigger_type, trig.function_id, trig.config) == (
            "bind-1",
            "http",
            "echo::say",
            {"api_path": "/echo"},
        )
        assert isinstance(health, InvokeFunction) and health.function_id == HEALTH
        assert health.invocation_id is not None and health.data == {}
        assert stub.headers["Authorization"] == "Bearer tok"
        assert conn.worker_id == stub.worker_id


async def test_both_codecs_frame_as_negotiated(engine: StubEngine, codec: Any) -> None:
    async with connect(engine.url, workers=[WORKER], codec=codec, reconnect=FAST):
        stub = engine.connections[0]
        assert stub.msgpack is (codec == "msgpack")
        expected = bytes if codec == "msgpack" else str
        assert set(stub.frame_kinds) == {expected}
        answer = await stub.call("echo::say", {"text": "hi"})
        assert answer.result == {"text": "hi"}


async def test_no_token_no_header(engine: StubEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTOS_TOKEN", raising=False)
    monkeypatch.delenv("III_TOKEN", raising=False)
    async with connect(engine.url, workers=[WORKER], reconnect=FAST):
        assert "Authorization" not in engine.connections[0].headers


async def test_several_workers_share_one_connection(engine: StubEngine) -> None:
    @function("other::fn")
    async def other(data: Any) -> str:
        return "other"

    async with connect(
        engine.url, workers=[WORKER, Worker("other", functions=[other])], reconnect=FAST
    ):
        assert len(engine.connections) == 1
        stub = engine.connections[0]
        assert [m.id for m in stub.received if isinstance(m, RegisterFunction)] == [
            "echo::say",
            "other::fn",
        ]
        assert (await stub.call("other::fn", {})).result == "other"


def test_duplicates_across_workers_raise_before_connecting() -> None:
    with pytest.raises(ValueError, match="more than one function named echo::say"):
        connect("ws://127.0.0.1:1", workers=[WORKER, Worker("again", functions=[say])])


# -- calls out -------------------------------------------------------------------------------


async def test_trigger_returns_the_result_and_sends_the_call(
    engine: StubEngine, codec: Any
) -> None:
    async with connect(engine.url, workers=[WORKER], codec=codec, reconnect=FAST) as conn:
        stub = engine.connections[0]
        engine.answers["math::add"] = {"sum": 5}
        assert await conn.trigger("math::add", {"a": 2, "b": 3}, metadata={"m": 1}) == {"sum": 5}
        call = next(
            m
            for m in stub.received
            if isinstance(m, InvokeFunction) and m.function_id == "math::add"
        )
        assert call.data == {"a": 2, "b": 3} and call.metadata == {"m": 1}
        assert call.action is None and call.namespace is None and call.invocation_id is not None
        assert conn.statistics().pending_calls == 0


async def test_trigger_errors_map_to_exceptions(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
        engine.answers["nope::missing"] = ErrorBody(code="function_not_found", message="not found")
        engine.answers["math::boom"] = ErrorBody(
            code="invocation_failed", message="boom", stacktrace="Traceback: …"
        )
        with pytest.raises(FunctionNotFound):
            await conn.trigger("nope::missing")
        with pytest.raises(InvocationError) as info:
            await conn.trigger("math::boom", {})
        assert (info.value.code, info.value.message, info.value.stacktrace) == (
            "invocation_failed",
            "boom",
            "Traceback: …",
        )
        assert info.value.function_id == "math::boom" and info.value.invocation_id


async def test_trigger_void_sends_no_invocation_id(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
        assert await conn.trigger_void("audit::log", {"x": 1}) is None
        call = await engine.connections[0].next(
            InvokeFunction, lambda m: m.function_id == "audit::log"
        )
        assert call.invocation_id is None and call.action == VoidAction() and call.data == {"x": 1}


async def test_enqueue_returns_the_receipt(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
        stub = engine.connections[0]
        engine.answers.update({"jobs::run": {"messageReceiptId": "r-1"}, "jobs::bad": {"x": 1}})
        assert await conn.enqueue("jobs::run", {"y": 2}, queue="slow") == "r-1"
        with pytest.raises(InvocationError, match="messageReceiptId"):
            await conn.enqueue("jobs::bad")
        call = next(
            m
            for m in stub.received
            if isinstance(m, InvokeFunction) and m.function_id == "jobs::run"
        )
        assert call.action == EnqueueAction(queue="slow") and call.invocation_id is not None


async def test_a_timed_out_call_is_forgotten_and_its_late_answer_ignored(
    engine: StubEngine,
) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
        stub = engine.connections[0]
        with pytest.raises(InvocationTimeout) as info:
            await conn.trigger("slow::op", {}, timeout=0.05)
        assert info.value.code == "timeout" and info.value.function_id == "slow::op"
        assert conn.statistics().pending_calls == 0
        late = await stub.next(InvokeFunction, lambda m: m.function_id == "slow::op")
        assert late.invocation_id == info.value.invocation_id
        await stub.answer(late, "too late")
        # The connection shrugs the late answer off and keeps serving.
        assert (await stub.call("echo::say", {"text": "still here"})).result == {
            "text": "still here"
        }


async def test_namespaced_workers_call_into_their_namespace(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], namespace="orders", reconnect=FAST) as conn:
        stub = engine.connections[0]
        assert stub.received[0].data["namespace"] == "orders"  # type: ignore[union-attr]
        trig = next(m for m in stub.received if isinstance(m, RegisterTrigger))
        assert trig.namespace == "orders"
        await conn.trigger_void("orders::ship")
        await conn.trigger_void("billing::charge", namespace="billing")
        ship = await stub.next(InvokeFunction, lambda m: m.function_id == "orders::ship")
        charge = await stub.next(InvokeFunction, lambda m: m.function_id == "billing::charge")
        health = next(
            m for m in stub.received if isinstance(m, InvokeFunction) and m.function_id == HEALTH
        )
        assert (ship.namespace, charge.namespace, health.namespace) == ("orders", "billing", None)


# -- context propagation ----------------------------------------------------------------------


@function("relay::forward")
async def forward(data: Any, ctx: Context) -> Any:
    return await ctx.trigger("down::one", {})


async def test_calls_from_a_handler_carry_its_trace_and_realm(engine: StubEngine) -> None:
    conn_box: list[Any] = []

    @function("relay::via_conn")
    async def via_conn(data: Any, ctx: Context) -> Any:
        # Connection.trigger inside a handler picks the context up from the contextvar.
        return await conn_box[0].trigger("down::two", {})

    worker = Worker("relay", functions=[forward, via_conn])
    async with connect(engine.url, workers=[worker], reconnect=FAST) as conn:
        conn_box.append(conn)
        stub = engine.connections[0]
        baggage = "userId=alice,agentos-realm=acme"
        traceparent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        engine.answers.update({"down::one": "one", "down::two": "two"})
        for fid, expected in (("relay::forward", "one"), ("relay::via_conn", "two")):
            answer = await stub.call(fid, {}, baggage=baggage, traceparent=traceparent)
            assert answer.result == expected
        downs = [
            m
            for m in stub.received
            if isinstance(m, InvokeFunction) and m.function_id.startswith("down::")
        ]
        assert [(m.baggage, m.traceparent) for m in downs] == [(baggage, traceparent)] * 2
        # Outside a handler nothing is propagated.
        await conn.trigger_void("down::three")
        three = await stub.next(InvokeFunction, lambda m: m.function_id == "down::three")
        assert (three.baggage, three.traceparent) == (None, None)


# -- run-time registration -----------------------------------------------------------------


@function("extra::fn")
async def extra(data: Any) -> str:
    return "extra"


async def test_register_and_unregister_at_run_time(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
        stub = engine.connections[0]
        await conn.register_function(extra)
        assert await stub.next(RegisterFunction, lambda m: m.id == "extra::fn")
        assert (await stub.call("extra::fn", None)).result == "extra"
        with pytest.raises(DefinitionError):
            await conn.register_function(extra)
        await conn.unregister_function("extra::fn")
        assert (await stub.next(UnregisterFunction)).id == "extra::fn"
        missing = await stub.call("extra::fn", None)
        assert missing.error == ErrorBody(
            code="function_not_found", message="Function 'extra::fn' not found"
        )
        with pytest.raises(DefinitionError):
            await conn.unregister_function("extra::fn")

        binding = await conn.bind(
            "cron", "echo::say", {"expression": "* * * * * *"}, metadata={"k": "v"}
        )
        frame = await stub.next(RegisterTrigger, lambda m: m.id == binding.id)
        assert (frame.id, frame.trigger_type, frame.config, frame.metadata) == (
            binding.id,
            "cron",
            {"expression": "* * * * * *"},
            {"k": "v"},
        )
        await binding.unregister()
        assert await stub.next(UnregisterTrigger) == UnregisterTrigger(
            id=binding.id, trigger_type="cron"
        )
        with pytest.raises(InvalidState):
            await binding.unregister()


# -- closing -----------------------------------------------------------------------------------


async def test_exit_cancels_handlers_and_closes_cleanly(engine: StubEngine) -> None:
    started, cancelled = anyio.Event(), anyio.Event()

    @function("hang::forever")
    async def hang(data: Any) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    async with connect(
        engine.url, workers=[Worker("hang", functions=[hang])], reconnect=FAST
    ) as conn:
        stub = engine.connections[0]
        await stub.send(InvokeFunction(invocation_id=None, function_id="hang::forever", data={}))
        await started.wait()
        assert conn.statistics().in_flight_handlers == 1
    assert cancelled.is_set()
    assert conn.state is ConnectionState.CLOSED
    await stub.closed.wait()
    assert stub.ws.close_code == 1000
    with pytest.raises(InvalidState):
        await conn.trigger("a::b")
    with pytest.raises(InvalidState):
        await conn.wait_state(ConnectionState.CONNECTED)
    assert len(engine.connections) == 1


async def test_the_body_exception_propagates_unwrapped(engine: StubEngine) -> None:
    with pytest.raises(KeyError):
        async with connect(engine.url, workers=[WORKER], reconnect=FAST):
            raise KeyError("mine")


async def test_a_connection_is_entered_once(engine: StubEngine) -> None:
    conn = connect(engine.url, workers=[WORKER], reconnect=FAST)
    async with conn:
        with pytest.raises(InvalidState):
            await conn.__aenter__()


async def test_readiness_waits_for_the_health_check() -> None:
    async with StubEngine(answer_health=False) as engine:
        entered = anyio.Event()

        async def enter() -> None:
            async with connect(engine.url, workers=[WORKER], reconnect=FAST):
                entered.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(enter)
            stub = await engine.next_connection()
            health = await stub.next(InvokeFunction, lambda m: m.function_id == HEALTH)
            await anyio.wait_all_tasks_blocked()
            assert not entered.is_set()
            # Any answer, even an error from an engine without the function, means "applied".
            await stub.answer(
                health, error=ErrorBody(code="function_not_found", message="no health")
            )
            await entered.wait()


async def test_serve_forever_returns_when_closed(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
        async with anyio.create_task_group() as tg:
            tg.start_soon(conn.serve_forever)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    await conn.serve_forever()  # CLOSED: returns at once


async def test_statistics_shape(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST) as conn:
        stats = conn.statistics()
        assert stats._fields == (
            "pending_calls",
            "in_flight_handlers",
            "queued_handlers",
            "refused_invocations",
            "reconnects",
        )
        assert stats == (0, 0, 0, 0, 0)
