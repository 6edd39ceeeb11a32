"""Serving the engine's requests: invocations in and out, and the trigger-provider protocol."""

from __future__ import annotations

import contextvars
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from engine.protocol import (
    ErrorBody,
    InvocationResult,
    InvokeFunction,
    Ping,
    Pong,
    RegisterTrigger,
    TriggerRegistrationResult,
    UnregisterTrigger,
)
from workers.sdk import (
    Context,
    InvocationError,
    TriggerConfig,
    TriggerTypeDef,
    Worker,
    connect,
    current_context,
    function,
)
from workers.sdk._handlers import pop_caller, split_caller

from .conftest import FAST
from .stub_engine import StubEngine


class GreetIn(BaseModel):
    name: str


@function("greet::hello")
async def hello(data: GreetIn, ctx: Context) -> dict[str, Any]:
    return {
        "message": f"hello {data.name}",
        "caller": ctx.caller_worker_id,
        "realm": ctx.realm,
        "metadata": dict(ctx.metadata),
        "invocation_id": ctx.invocation_id,
        "current": current_context() is ctx,
    }


@function("greet::raw")
async def raw(data: Any) -> Any:
    return data


@function("greet::boom")
async def boom(data: Any) -> None:
    raise RuntimeError("boom happened")


@function("greet::coded")
async def coded(data: Any) -> None:
    raise InvocationError("VALUE_TOO_LARGE", "too big")


@function("greet::sync")
def sync_handler(data: Any, ctx: Context) -> str:
    return f"sync {data} in {ctx.function_id}"


@function("greet::unserialisable")
async def unserialisable(data: Any) -> Any:
    return {1, 2}


WORKER = Worker("greet", functions=[hello, raw, boom, coded, sync_handler, unserialisable])


def test_split_caller() -> None:
    data = {"a": 1, "_caller_worker_id": "w-1"}
    assert split_caller(data) == ({"a": 1}, "w-1")
    assert data == {"a": 1, "_caller_worker_id": "w-1"}  # not mutated
    assert split_caller([1]) == ([1], None)
    assert split_caller({"_caller_worker_id": 5}) == ({}, None)


def test_pop_caller_takes_the_key_out_in_place() -> None:
    data = {"a": 1, "_caller_worker_id": "w-1"}
    assert pop_caller(data) == "w-1" and data == {"a": 1}
    assert pop_caller(data) is None and pop_caller([1]) is None
    assert pop_caller({"_caller_worker_id": 5}) is None


async def test_results_and_context(engine: StubEngine, codec: Any) -> None:
    async with connect(engine.url, workers=[WORKER], codec=codec, reconnect=FAST):
        stub = engine.connections[0]
        answer = await stub.call(
            "greet::hello",
            {"name": "Ada", "_caller_worker_id": "caller-1"},
            metadata={"source": "test"},
            baggage="agentos-realm=acme",
        )
        assert answer.error is None and answer.function_id == "greet::hello"
        assert answer.result == {
            "message": "hello Ada",
            "caller": "caller-1",
            "realm": "acme",
            "metadata": {"source": "test"},
            "invocation_id": answer.invocation_id,
            "current": True,
        }
        # The handler never sees the engine's injected key.
        echoed = await stub.call("greet::raw", {"x": 1, "_caller_worker_id": "caller-1"})
        assert echoed.result == {"x": 1}
        assert (await stub.call("greet::raw", None)).result is None
        assert (await stub.call("greet::raw", b"\x00bytes")).result in (b"\x00bytes", "AGJ5dGVz")
        assert (await stub.call("greet::sync", 7)).result == "sync 7 in greet::sync"


async def test_errors_are_answered(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], reconnect=FAST):
        stub = engine.connections[0]
        failed = await stub.call("greet::boom", {})
        assert failed.error is not None and failed.result is None
        assert (failed.error.code, failed.error.message) == ("invocation_failed", "boom happened")
        assert failed.error.stacktrace and "RuntimeError: boom happened" in failed.error.stacktrace

        custom = await stub.call("greet::coded", {})
        assert custom.error == ErrorBody(code="VALUE_TOO_LARGE", message="too big")

        missing = await stub.call("nope::missing", {})
        assert missing.error == ErrorBody(
            code="function_not_found", message="Function 'nope::missing' not found"
        )

        invalid = await stub.call("greet::hello", {"nom": "Ada"})
        assert invalid.error is not None and invalid.error.code == "invalid_arguments"
        assert "name" in invalid.error.message

        weird = await stub.call("greet::unserialisable", {})
        assert weird.error is not None and weird.error.code == "serialization_error"


async def test_void_invocations_run_and_answer_nothing(engine: StubEngine) -> None:
    ran = anyio.Event()

    @function("void::note")
    async def note(data: Any, ctx: Context) -> str:
        assert ctx.invocation_id is None
        ran.set()
        return "ignored"

    @function("void::fail")
    async def fail(data: Any) -> None:
        raise RuntimeError("nobody hears this")

    async with connect(
        engine.url, workers=[Worker("void", functions=[note, fail])], reconnect=FAST
    ):
        stub = engine.connections[0]
        await stub.send(InvokeFunction(invocation_id=None, function_id="void::fail", data={}))
        await stub.send(InvokeFunction(invocation_id=None, function_id="void::note", data={}))
        await stub.send(InvokeFunction(invocation_id=None, function_id="void::missing", data={}))
        await ran.wait()
        await anyio.wait_all_tasks_blocked()
        # Had anything been answered, it would reach the stub before the pong.
        await stub.send(Ping())
        await stub.next(Pong)
        assert not any(isinstance(m, InvocationResult) for m in stub.received)


async def test_handlers_run_concurrently_within_the_in_flight_bound(engine: StubEngine) -> None:
    release = anyio.Event()
    running = 0

    @function("slow::op")
    async def slow(data: Any) -> int:
        nonlocal running
        running += 1
        await release.wait()
        return int(data)

    worker = Worker("slow", functions=[slow])
    async with connect(engine.url, workers=[worker], max_in_flight=2, reconnect=FAST) as conn:
        stub = engine.connections[0]
        ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(6)]
        for i, iid in enumerate(ids):
            await stub.send(InvokeFunction(invocation_id=iid, function_id="slow::op", data=i))
        # 2 run, 2 wait for a slot, the rest are refused at once.
        for iid in ids[4:]:
            refused = await stub.next(InvocationResult, lambda r, iid=iid: r.invocation_id == iid)
            assert refused.error is not None and refused.error.code == "worker_overloaded"
        await anyio.wait_all_tasks_blocked()
        assert running == 2
        stats = conn.statistics()
        assert (stats.in_flight_handlers, stats.queued_handlers, stats.refused_invocations) == (
            2,
            2,
            2,
        )
        release.set()
        answers = [await stub.next(InvocationResult) for _ in range(4)]
        assert sorted(a.result for a in answers) == [0, 1, 2, 3]
        assert conn.statistics().in_flight_handlers == 0


# -- trigger-type providers -------------------------------------------------------------------


class RecordingProvider:
    def __init__(self) -> None:
        self.registered: list[TriggerConfig] = []
        self.unregistered: list[TriggerConfig] = []
        self.changed = anyio.Event()

    async def register_trigger(self, binding: TriggerConfig) -> None:
        if binding.config == {"bad": True}:
            raise ValueError("config needs an interval")
        self.registered.append(binding)

    async def unregister_trigger(self, binding: TriggerConfig) -> None:
        self.unregistered.append(binding)
        self.changed.set()


async def test_trigger_type_provider_flow(engine: StubEngine) -> None:
    provider = RecordingProvider()
    worker = Worker(
        "ticker", functions=[raw], trigger_types=[TriggerTypeDef("ticker", "ticks", provider)]
    )
    async with connect(engine.url, workers=[worker], reconnect=FAST):
        stub = engine.connections[0]
        binding = RegisterTrigger(
            id="trig-1",
            trigger_type="ticker",
            function_id="greet::raw",
            config={"every": 5},
            metadata={"m": 1},
        )
        await stub.send(binding)
        ok = await stub.next(TriggerRegistrationResult, lambda r: r.id == "trig-1")
        assert ok == TriggerRegistrationResult(
            id="trig-1", trigger_type="ticker", function_id="greet::raw"
        )
        assert provider.registered == [
            TriggerConfig("trig-1", "ticker", "greet::raw", {"every": 5}, {"m": 1}, None)
        ]

        # The engine replaying the same binding (after a reconnect) is acknowledged, not redone.
        await stub.send(binding)
        await stub.next(TriggerRegistrationResult, lambda r: r.id == "trig-1")
        assert len(provider.registered) == 1

        await stub.send(
            RegisterTrigger(
                id="trig-2", trigger_type="ticker", function_id="greet::raw", config={"bad": True}
            )
        )
        refused = await stub.next(TriggerRegistrationResult, lambda r: r.id == "trig-2")
        assert refused.error == ErrorBody(
            code="trigger_registration_failed", message="config needs an interval"
        )

        await stub.send(
            RegisterTrigger(id="trig-3", trigger_type="other", function_id="greet::raw", config={})
        )
        unknown = await stub.next(TriggerRegistrationResult, lambda r: r.id == "trig-3")
        assert unknown.error is not None and unknown.error.code == "trigger_registration_failed"

        await stub.send(UnregisterTrigger(id="trig-1", trigger_type="ticker"))
        await provider.changed.wait()
        # The provider gets the full binding back, not just the id the engine sends.
        assert provider.unregistered == provider.registered


@pytest.mark.parametrize("config", [{"every": 1}])
async def test_a_changed_binding_is_re_registered(
    engine: StubEngine, config: dict[str, int]
) -> None:
    provider = RecordingProvider()
    worker = Worker("ticker", trigger_types=[TriggerTypeDef("ticker", "ticks", provider)])
    async with connect(engine.url, workers=[worker], reconnect=FAST):
        stub = engine.connections[0]
        for cfg in (config, {"every": 2}):
            await stub.send(
                RegisterTrigger(id="t", trigger_type="ticker", function_id="a::b", config=cfg)
            )
            await stub.next(TriggerRegistrationResult)
        assert [b.config for b in provider.registered] == [config, {"every": 2}]
        assert [b.config for b in provider.unregistered] == [config]


LEAKY: contextvars.ContextVar[str] = contextvars.ContextVar("leaky", default="fresh")


@function("pool::leak")
async def leak(data: Any) -> str:
    seen = LEAKY.get()
    LEAKY.set(f"left behind by call {data}")
    return seen


@function("pool::quick")
async def quick(data: Any) -> Any:
    return data


async def test_pooled_workers_give_every_invocation_fresh_contextvars(engine: StubEngine) -> None:
    async with connect(
        engine.url, workers=[Worker("pool", functions=[leak])], reconnect=FAST
    ) as conn:
        stub = engine.connections[0]
        answers = [(await stub.call("pool::leak", i)).result for i in range(3)]
        assert answers == ["fresh"] * 3
        assert conn._handlers.statistics().workers == 1  # the same worker ran all three


async def test_the_pool_grows_for_a_burst_and_is_reused_after(engine: StubEngine) -> None:
    async with connect(
        engine.url, workers=[Worker("pool", functions=[quick])], max_in_flight=8, reconnect=FAST
    ) as conn:
        stub = engine.connections[0]

        async def burst(tag: str) -> list[Any]:
            ids = [f"00000000-0000-4000-8000-{i:012x}" for i in range(16)]
            for i, iid in enumerate(ids):
                await stub.send(
                    InvokeFunction(invocation_id=iid, function_id="pool::quick", data=f"{tag}{i}")
                )
            got = [await stub.next(InvocationResult) for _ in ids]
            return sorted(a.result for a in got if a.error is None)

        first = await burst("a")
        grown = conn._handlers.statistics().workers
        assert 1 <= grown <= 8  # never more workers than max_in_flight
        second = await burst("b")
        assert len(first) == len(second) == 16  # 8 running + 8 queued: none refused
        stats = conn._handlers.statistics()
        assert stats.workers == grown and stats.in_flight == stats.queued == stats.refused == 0
