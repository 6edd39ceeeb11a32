"""The three handlers with a fake bus: validation, limits and caps, realms, WASI policy, slots,
and a worker that keeps serving after every hostile guest (now in worker threads)."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest
import wasmtime

from workers.sdk import FunctionDef, InvocationError
from workers.sdk.testing import FunctionEnvironment
from workers.wasm_sandbox import SandboxConfig, WasmSandbox, example
from workers.wasm_sandbox.host import CHECK_CAPABILITY

from . import guests

pytestmark = pytest.mark.anyio


class Sandbox:
    """A WasmSandbox and its handlers, driven through a FunctionEnvironment."""

    def __init__(self, config: SandboxConfig | None = None, env: FunctionEnvironment | None = None) -> None:
        self.service = WasmSandbox(config or SandboxConfig())
        self.env = env or FunctionEnvironment(realm="acme")
        self.fns: dict[str, FunctionDef] = {f.id: f for f in self.service.worker().functions}

    async def call(self, function_id: str, data: Any, env: FunctionEnvironment | None = None) -> Any:
        return await (env or self.env).run(self.fns[function_id], data)

    async def validate(self, module_id: str, wat: str, env: FunctionEnvironment | None = None) -> Any:
        return await self.call("wasm::validate", {"module_id": module_id, "wat": wat}, env)

    async def execute(self, module_id: str, value: Any = None, **extra: Any) -> Any:
        env = extra.pop("env", None)
        return await self.call("wasm::execute", {"module_id": module_id, "input": value, **extra}, env)

    async def fails(self, code: str, module_id: str, value: Any = None, **extra: Any) -> InvocationError:
        with pytest.raises(InvocationError) as caught:
            await self.execute(module_id, value, **extra)
        assert caught.value.code == code, caught.value
        return caught.value


async def test_validate_from_wat_and_from_base64_share_the_compiled_code() -> None:
    sb = Sandbox()
    first = await sb.validate("sum", example("sum"))
    assert first["cached"] is False and first["hash"].startswith("sha256:") and first["imports"] == []
    binary = base64.b64encode(wasmtime.wat2wasm(example("sum"))).decode()
    again = await sb.call("wasm::validate", {"module_id": "sum2", "wasm": binary})
    assert again["cached"] is True and again["hash"] == first["hash"]
    assert (await sb.execute("sum2", [20, 22]))["output"] == {"sum": 42}
    listed = await sb.call("wasm::list_modules", {})
    assert [m["module_id"] for m in listed["modules"]] == ["sum", "sum2"]


@pytest.mark.parametrize("data", [
    {"module_id": "m", "wasm": "!!!not base64!!!"},
    {"module_id": "m", "wasm": base64.b64encode(b"\x00asm\x01\x00\x00\x00\xff").decode()},
    {"module_id": "m", "wat": "(module"},
    {"module_id": "m", "wat": guests.UNKNOWN_IMPORT},
])
async def test_malformed_modules_are_invalid_module(data: dict[str, Any]) -> None:
    with pytest.raises(InvocationError) as caught:
        await Sandbox().call("wasm::validate", data)
    assert caught.value.code == "invalid_module"


async def test_size_caps_on_modules() -> None:
    sb = Sandbox(SandboxConfig(max_module_bytes=100, max_wat_chars=10_000))
    binary = base64.b64encode(wasmtime.wat2wasm(example("sum"))).decode()
    for data in ({"module_id": "m", "wasm": binary}, {"module_id": "m", "wat": example("sum")},
                 {"module_id": "m", "wat": " " * 10_001}):
        with pytest.raises(InvocationError, match="invalid_module"):
            await sb.call("wasm::validate", data)


@pytest.mark.parametrize("data", [
    {"module_id": "m"},
    {"module_id": "m", "wat": "(module)", "wasm": "AA=="},
    {"module_id": "../etc", "wat": "(module)"},
    {"module_id": "m", "wat": "(module)", "extra": 1},
])
async def test_bad_validate_requests_are_invalid_arguments(data: dict[str, Any]) -> None:
    with pytest.raises(InvocationError) as caught:
        await Sandbox().call("wasm::validate", data)
    assert caught.value.code == "invalid_arguments"


async def test_the_engine_stamp_is_ignored() -> None:
    sb = Sandbox()
    data = {"module_id": "sum", "wat": example("sum"), "_caller_worker_id": "w-1"}
    assert (await sb.call("wasm::validate", data))["module_id"] == "sum"


async def test_modules_are_per_realm() -> None:
    sb = Sandbox()
    await sb.validate("sum", example("sum"))
    beta = FunctionEnvironment(realm="beta")
    with pytest.raises(InvocationError, match="module_not_found"):
        await sb.execute("sum", [1], env=beta)
    assert (await sb.call("wasm::list_modules", {}, beta))["modules"] == []


@pytest.mark.parametrize(("field", "value"), [
    ("fuel", 10**11), ("timeout_ms", 60_000), ("memory_pages", 5_000), ("fuel", 0),
])
async def test_asking_above_a_cap_is_refused_not_lowered(field: str, value: int) -> None:
    sb = Sandbox()
    await sb.validate("sum", example("sum"))
    await sb.fails("invalid_arguments", "sum", [1], **{field: value})


async def test_input_must_be_json_within_the_cap() -> None:
    sb = Sandbox(SandboxConfig(max_input_bytes=64))
    await sb.validate("sum", example("sum"))
    await sb.fails("invalid_arguments", "sum", list(range(100)))
    await sb.fails("invalid_arguments", "sum", float("nan"))


async def test_agent_id_from_metadata_must_agree_with_the_request() -> None:
    sb = Sandbox(env=FunctionEnvironment(metadata={"agent_id": "alice"}))
    await sb.validate("sum", example("sum"))
    assert (await sb.execute("sum", [1], agent_id="alice"))["output"] == {"sum": 1}
    await sb.fails("invalid_arguments", "sum", [1], agent_id="mallory")


HOSTILE: list[tuple[str, str, dict[str, Any], str]] = [
    ("loop-fuel", guests.INFINITE_LOOP, {"fuel": 100_000}, "wasm_out_of_fuel"),
    ("loop-deadline", guests.INFINITE_LOOP, {"fuel": 10**10, "timeout_ms": 100}, "wasm_timeout"),
    ("memory-bomb", guests.MEMORY_BOMB, {"memory_pages": 64}, "wasm_memory_limit"),
    ("memory-spin", guests.MEMORY_BOMB_IGNORING_FAILURE, {"memory_pages": 64, "fuel": 5_000_000},
     "wasm_memory_limit"),
    ("big-memory", guests.HUGE_INITIAL_MEMORY, {}, "wasm_memory_limit"),
    ("recursion", guests.DEEP_RECURSION, {}, "wasm_trap"),
    ("oob", guests.OUT_OF_BOUNDS, {}, "wasm_trap"),
    ("bad-alloc", guests.BAD_ALLOC, {}, "wasm_trap"),
    ("not-json", guests.NOT_JSON, {}, "wasm_bad_output"),
    ("wasi", guests.WASI_HELLO, {}, "wasm_forbidden_import"),
]


@pytest.mark.parametrize(("name", "wat", "extra", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_guests_fail_clearly_and_the_worker_keeps_serving(
        name: str, wat: str, extra: dict[str, Any], code: str) -> None:
    sb = Sandbox()
    await sb.validate("sum", example("sum"))
    await sb.validate(name, wat)
    await sb.fails(code, name, None, **extra)
    assert (await sb.execute("sum", [1, 2]))["output"] == {"sum": 3}
    stats = sb.service.statistics()
    assert stats.running == 0 and stats.queued == 0 and stats.ticker.holders == 0


async def test_wasi_by_local_policy_when_no_security_worker() -> None:
    sb = Sandbox(SandboxConfig(wasi_agents=["builder-*"]))
    await sb.validate("hello", guests.WASI_HELLO)
    result = await sb.execute("hello", None, agent_id="builder-1")
    assert result["output"] == "ok" and result["stdout"] == "hello"
    await sb.fails("wasm_forbidden_import", "hello", None, agent_id="other")
    await sb.fails("wasm_forbidden_import", "hello", None)  # nobody: no grant


async def test_wasi_by_the_security_worker_overrides_local_policy() -> None:
    seen: list[Any] = []

    def security(data: Any) -> Any:
        seen.append(data)
        return {"allowed": data["agent_id"] == "trusted"}

    env = FunctionEnvironment({CHECK_CAPABILITY: security})
    sb = Sandbox(SandboxConfig(wasi_agents=["*"]), env)
    await sb.validate("hello", guests.WASI_HELLO)
    assert (await sb.execute("hello", None, agent_id="trusted"))["stdout"] == "hello"
    await sb.fails("wasm_forbidden_import", "hello", None, agent_id="alice")
    assert seen[0] == {"agent_id": "trusted", "capability": "wasi", "resource": "hello"}


async def test_host_calls_through_the_handler() -> None:
    env = FunctionEnvironment({"math::double": lambda d: d["x"] * 2})
    sb = Sandbox(SandboxConfig(host_functions=["math::*"]), env)
    await sb.validate("hc", example("host_call"))
    result = await sb.execute("hc", {"function_id": "math::double", "args": {"x": 4}})
    assert result["output"] == {"ok": True, "result": 8}
    assert result["logs"] == ["calling the host"]
    assert result["host_calls"] == [{"function_id": "math::double", "ok": True}]
    narrowed = await sb.execute("hc", {"function_id": "math::double", "args": {"x": 4}},
                                host_functions=["text::*"])
    assert narrowed["output"]["error"]["code"] == "wasm_forbidden_host_call"


async def test_a_guest_spamming_host_calls_is_capped() -> None:
    env = FunctionEnvironment({"math::one": lambda d: 1})
    sb = Sandbox(SandboxConfig(host_functions=["math::*"], max_host_calls=5), env)
    await sb.validate("spam", guests.HOST_CALL_FOREVER)
    result = await sb.execute("spam", {"function_id": "math::one"})
    assert result["output"]["error"]["code"] == "wasm_host_call_limit"
    assert len(env.calls) == 5


async def test_a_full_sandbox_answers_busy_and_recovers() -> None:
    entered, release = anyio.Event(), anyio.Event()

    async def gate(data: Any) -> Any:
        entered.set()
        await release.wait()
        return "released"

    env = FunctionEnvironment({"test::gate": gate})
    sb = Sandbox(SandboxConfig(host_functions=["test::*"], concurrency=1, max_queued=0,
                               default_timeout_ms=10_000), env)
    await sb.validate("hc", example("host_call"))
    await sb.validate("sum", example("sum"))
    results: list[Any] = []

    async def hold() -> None:
        results.append(await sb.execute("hc", {"function_id": "test::gate"}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        await entered.wait()
        assert sb.service.statistics().running == 1
        await sb.fails("wasm_busy", "sum", [1])
        release.set()
    assert results[0]["output"] == {"ok": True, "result": "released"}
    assert (await sb.execute("sum", [1]))["output"] == {"sum": 1}
    assert sb.service.statistics().refused == 1


async def test_waiting_for_a_slot_is_bounded() -> None:
    entered, release = anyio.Event(), anyio.Event()

    async def gate(data: Any) -> Any:
        entered.set()
        await release.wait()
        return None

    env = FunctionEnvironment({"test::gate": gate})
    sb = Sandbox(SandboxConfig(host_functions=["test::*"], concurrency=1, max_queued=4,
                               queue_timeout_s=0.05, default_timeout_ms=10_000), env)
    await sb.validate("hc", example("host_call"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(sb.execute, "hc", {"function_id": "test::gate"})
        await entered.wait()
        error = await sb.fails("wasm_busy", "hc", {"function_id": "test::gate"})
        assert "no execution slot within" in error.message
        release.set()


async def test_a_malformed_agent_in_the_metadata_is_refused() -> None:
    sb = Sandbox(env=FunctionEnvironment(metadata={"agent_id": "../x"}))
    await sb.validate("sum", example("sum"))
    await sb.fails("invalid_arguments", "sum", [1])
