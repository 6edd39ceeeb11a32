"""End to end: the sandbox on a real in-process engine, called by a client over the bus, its
guests calling other workers. Hostile guests fail clearly and the worker keeps serving."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
import wasmtime

from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import Connection, Context, InvocationError, Worker, connect, function
from workers.wasm_sandbox import SandboxConfig, WasmSandbox, example

from . import guests

pytestmark = pytest.mark.anyio

TOKENS = {"tokens": [{"token": "t-worker", "role": "worker"},
                     {"token": "t-acme", "role": "client", "realm": "acme"},
                     {"token": "t-beta", "role": "client", "realm": "beta"}]}
CONFIG = SandboxConfig(host_functions=["helper::*", "wasm::*"], concurrency=2,
                       max_timeout_ms=5_000)


@dataclass
class Helpers:
    """A worker with functions guests call, and a security worker whose verdicts tests set."""

    started: anyio.Event = field(default_factory=anyio.Event)
    denied: set[str] = field(default_factory=set)
    checks: list[dict[str, Any]] = field(default_factory=list)
    seen_metadata: list[Any] = field(default_factory=list)

    def worker(self) -> Worker:
        @function("helper::double")
        async def double(data: Any, ctx: Context) -> Any:
            self.seen_metadata.append(dict(ctx.metadata))
            return {"double": data["x"] * 2, "realm": ctx.realm}

        @function("helper::started")
        async def started(data: Any) -> Any:
            self.started.set()
            return True

        return Worker("helpers", functions=[double, started])

    def security(self) -> Worker:
        @function("security::check_capability")
        async def check(data: Any) -> Any:
            data = {k: v for k, v in data.items() if k != "_caller_worker_id"}
            self.checks.append(data)
            allowed = data["resource"] not in self.denied
            return {"allowed": allowed, "reason": None if allowed else "denied by test"}

        return Worker("security-fake", functions=[check])


@dataclass
class Bus:
    acme: Connection
    beta: Connection
    sandbox: WasmSandbox
    helpers: Helpers

    async def validate(self, module_id: str, wat: str, client: Connection | None = None) -> Any:
        return await (client or self.acme).trigger(
            "wasm::validate", {"module_id": module_id, "wat": wat})

    async def execute(self, module_id: str, value: Any = None, *, client: Connection | None = None,
                      metadata: dict[str, Any] | None = None, **extra: Any) -> Any:
        return await (client or self.acme).trigger(
            "wasm::execute", {"module_id": module_id, "input": value, **extra},
            metadata=metadata, timeout=30)


@asynccontextmanager
async def running(*, security: bool = False) -> AsyncIterator[Bus]:
    sandbox = WasmSandbox(CONFIG)
    helpers = Helpers()
    extra = [helpers.security()] if security else []
    node_config = NodeConfig.model_validate({"engine": {"port": 0, "auth": TOKENS}})
    async with Node(node_config) as node, \
            connect(node.url, workers=[sandbox.worker()], token="t-worker"), \
            connect(node.url, workers=[helpers.worker(), *extra], token="t-worker"), \
            connect(node.url, workers=[], name="acme", token="t-acme") as acme, \
            connect(node.url, workers=[], name="beta", token="t-beta") as beta:
        yield Bus(acme, beta, sandbox, helpers)


async def test_examples_over_the_bus() -> None:
    async with running() as bus:
        await bus.validate("upper", example("echo_upper"))
        binary = base64.b64encode(wasmtime.wat2wasm(example("sum"))).decode()
        await bus.acme.trigger("wasm::validate", {"module_id": "sum", "wasm": binary})
        upper = await bus.execute("upper", {"greeting": "hello"})
        assert upper["output"] == {"GREETING": "HELLO"}
        assert upper["fuel_consumed"] > 0 and upper["duration_ms"] >= 0
        assert (await bus.execute("sum", {"numbers": [1, 2, 3]}))["output"] == {"sum": 6}
        listed = await bus.acme.trigger("wasm::list_modules", {})
        assert sorted(m["module_id"] for m in listed["modules"]) == ["sum", "upper"]


HOSTILE: list[tuple[str, str, dict[str, Any], str]] = [
    ("loop-fuel", guests.INFINITE_LOOP, {"fuel": 1_000_000}, "wasm_out_of_fuel"),
    ("loop-deadline", guests.INFINITE_LOOP, {"fuel": 10**10, "timeout_ms": 150}, "wasm_timeout"),
    ("memory-bomb", guests.MEMORY_BOMB, {"memory_pages": 128}, "wasm_memory_limit"),
    ("recursion", guests.DEEP_RECURSION, {}, "wasm_trap"),
    ("oob", guests.OUT_OF_BOUNDS, {}, "wasm_trap"),
    ("not-json", guests.NOT_JSON, {}, "wasm_bad_output"),
    ("wasi", guests.WASI_HELLO, {}, "wasm_forbidden_import"),
]


async def test_hostile_guests_over_the_bus_then_normal_service() -> None:
    async with running() as bus:
        await bus.validate("sum", example("sum"))
        for name, wat, extra, code in HOSTILE:
            await bus.validate(name, wat)
            with pytest.raises(InvocationError) as caught:
                await bus.execute(name, None, **extra)
            assert caught.value.code == code, (name, caught.value)
            assert (await bus.execute("sum", [2, 3]))["output"] == {"sum": 5}
        for wat in ("(module", guests.UNKNOWN_IMPORT, guests.NO_EXECUTE):
            with pytest.raises(InvocationError, match="invalid_module"):
                await bus.validate("bad", wat)
        stats = bus.sandbox.statistics()
        assert stats.failures == len(HOSTILE) - 1  # the WASI refusal never ran
        assert stats.running == 0 and stats.ticker.holders == 0


async def test_a_spinning_guest_does_not_stop_other_executions() -> None:
    async with running() as bus:
        await bus.validate("spin", guests.HOST_CALL_THEN_SPIN)
        await bus.validate("sum", example("sum"))
        outcome: list[str] = []

        async def spin() -> None:
            with pytest.raises(InvocationError) as caught:
                await bus.execute("spin", {"function_id": "helper::started"}, fuel=10**10,
                                  timeout_ms=2_000)
            outcome.append(caught.value.code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(spin)
            await bus.helpers.started.wait()  # the guest is running (and will spin)
            assert (await bus.execute("sum", [40, 2]))["output"] == {"sum": 42}
            assert outcome == []  # answered while the spinner was still spinning
            assert bus.sandbox.statistics().running == 1
        assert outcome == ["wasm_timeout"]


async def test_host_calls_cross_the_bus_in_the_callers_realm() -> None:
    async with running() as bus:
        await bus.validate("hc", example("host_call"))
        result = await bus.execute("hc", {"function_id": "helper::double", "args": {"x": 5}})
        assert result["output"] == {"ok": True, "result": {"double": 10, "realm": "acme"}}
        missing = await bus.execute("hc", {"function_id": "helper::missing"})
        assert missing["output"]["error"]["code"] == "function_not_found"
        recursive = await bus.execute("hc", {"function_id": "wasm::execute",
                                             "args": {"module_id": "hc"}})
        assert recursive["output"]["error"]["code"] == "wasm_forbidden_host_call"


async def test_modules_are_invisible_across_realms() -> None:
    async with running() as bus:
        await bus.validate("sum", example("sum"))
        with pytest.raises(InvocationError, match="module_not_found"):
            await bus.execute("sum", [1], client=bus.beta)
        assert (await bus.beta.trigger("wasm::list_modules", {}))["modules"] == []


async def test_the_security_worker_rechecks_each_host_call_for_the_agent() -> None:
    async with running(security=True) as bus:
        await bus.validate("hc", example("host_call"))
        alice = {"agent_id": "alice"}
        ok = await bus.execute("hc", {"function_id": "helper::double", "args": {"x": 1}},
                               metadata=alice)
        assert ok["output"]["ok"] is True
        assert bus.helpers.seen_metadata[-1] == alice  # the agent is carried onwards
        bus.helpers.denied.add("helper::double")
        refused = await bus.execute("hc", {"function_id": "helper::double", "args": {"x": 1}},
                                    metadata=alice)
        assert refused["output"]["error"]["code"] == "wasm_forbidden_host_call"
        assert bus.helpers.checks[-1] == {"agent_id": "alice", "capability": "tool",
                                          "resource": "helper::double"}
