"""The host bridge's policy, with a fake bus (FunctionEnvironment): allowlist, narrowing, the
sandbox's own functions, capability re-checks, limits and deadlines. ``bridge.call`` is what a
guest's thread runs, so the tests run it in a worker thread too."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
import pytest

from workers.sdk import InvocationError
from workers.sdk.testing import FunctionEnvironment
from workers.wasm_sandbox import SandboxConfig
from workers.wasm_sandbox.host import CHECK_CAPABILITY, HostBridge

pytestmark = pytest.mark.anyio

CONFIG = SandboxConfig(host_functions=["math::*", "slow::*", "wasm::*"], max_host_calls=3,
                       host_call_timeout_s=5.0)


def double(data: Any) -> Any:
    return data["x"] * 2


def bridge(env: FunctionEnvironment, *, config: SandboxConfig = CONFIG, agent_id: str | None = None,
           narrow: list[str] | None = None, budget_s: float = 10.0) -> HostBridge:
    return HostBridge(env.context("wasm::execute"), config, agent_id=agent_id, narrow=narrow,
                      deadline=time.monotonic() + budget_s)


async def call(b: HostBridge, function_id: str, args: Any = None) -> dict[str, Any]:
    raw = json.dumps({"function_id": function_id, "args": args}).encode()
    answer: bytes = await anyio.to_thread.run_sync(b.call, raw)
    return json.loads(answer)  # type: ignore[no-any-return]


def env_with(extra: Mapping[str, Callable[[Any], Any]] | None = None, **kw: Any) -> FunctionEnvironment:
    return FunctionEnvironment({"math::double": double, **(extra or {})}, **kw)


async def test_an_allowed_call_reaches_the_bus_and_is_recorded() -> None:
    env = env_with(realm="acme")
    b = bridge(env)
    assert await call(b, "math::double", {"x": 21}) == {"ok": True, "result": 42}
    assert b.calls == [{"function_id": "math::double", "ok": True}]
    assert env.calls[0].metadata is None  # no agent, nothing to assert onwards


@pytest.mark.parametrize(("function_id", "narrow", "why"), [
    ("state::get", None, "not on the sandbox's host-call allowlist"),
    ("math::double", ["other::*"], "not among this execution's host_functions"),
    ("wasm::execute", None, "never callable from a guest"),
])
async def test_refusals_are_json_for_the_guest(function_id: str, narrow: list[str] | None,
                                               why: str) -> None:
    env = env_with()
    answer = await call(bridge(env, narrow=narrow), function_id, {"x": 1})
    assert answer["ok"] is False
    assert answer["error"]["code"] == "wasm_forbidden_host_call"
    assert why in answer["error"]["message"]
    assert env.calls == []


async def test_the_capability_is_rechecked_for_the_agent() -> None:
    seen: list[Any] = []

    def security(data: Any) -> Any:
        seen.append(data)
        return {"allowed": data["resource"] != "math::double", "reason": "no"}

    env = env_with({CHECK_CAPABILITY: security, "math::triple": lambda d: d * 3})
    b = bridge(env, agent_id="alice")
    refused = await call(b, "math::double", {"x": 1})
    assert refused["error"]["code"] == "wasm_forbidden_host_call"
    assert await call(b, "math::triple", 2) == {"ok": True, "result": 6}
    assert seen == [{"agent_id": "alice", "capability": "tool", "resource": "math::double"},
                    {"agent_id": "alice", "capability": "tool", "resource": "math::triple"}]
    assert env.calls[-1].metadata == {"agent_id": "alice"}


async def test_without_a_security_worker_the_allowlist_decides() -> None:
    env = env_with()
    assert (await call(bridge(env, agent_id="alice"), "math::double", {"x": 2}))["result"] == 4
    assert [c.function_id for c in env.calls] == [CHECK_CAPABILITY, "math::double"]


@pytest.mark.parametrize("answer", [{"allowed": "yes"}, None, ["allowed"]])
async def test_a_malformed_security_answer_refuses(answer: Any) -> None:
    env = env_with({CHECK_CAPABILITY: lambda d: answer})
    refused = await call(bridge(env, agent_id="alice"), "math::double", {"x": 1})
    assert refused["error"]["code"] == "wasm_forbidden_host_call"


async def test_a_failing_security_worker_refuses() -> None:
    def broken(data: Any) -> Any:
        raise InvocationError("invocation_failed", "db down")

    env = env_with({CHECK_CAPABILITY: broken})
    refused = await call(bridge(env, agent_id="alice"), "math::double", {"x": 1})
    assert refused["error"]["code"] == "wasm_forbidden_host_call"


async def test_callee_errors_pass_through_as_json() -> None:
    def fails(data: Any) -> Any:
        raise InvocationError("bad_thing", "it broke")

    env = env_with({"math::fails": fails})
    answer = await call(bridge(env), "math::fails")
    assert answer == {"ok": False, "error": {"code": "bad_thing", "message": "it broke"}}
    missing = await call(bridge(env), "math::missing")
    assert missing["error"]["code"] == "function_not_found"


async def test_call_count_is_capped() -> None:
    b = bridge(env_with())
    for _ in range(3):
        assert (await call(b, "math::double", {"x": 1}))["ok"]
    assert (await call(b, "math::double", {"x": 1}))["error"]["code"] == "wasm_host_call_limit"


async def test_a_slow_callee_is_cut_at_the_deadline() -> None:
    async def forever(data: Any) -> Any:
        await anyio.Event().wait()

    b = bridge(env_with({"slow::op": forever}), budget_s=0.05)
    answer = await call(b, "slow::op")
    assert answer["error"]["code"] == "timeout"
    late = await call(b, "math::double", {"x": 1})
    assert late["error"]["code"] == "wasm_timeout"


async def test_oversized_and_non_json_results_are_errors() -> None:
    env = env_with({"math::big": lambda d: "x" * 2_000_000, "math::odd": lambda d: {1, 2}})
    assert (await call(bridge(env), "math::big"))["error"]["code"] == "wasm_host_result_too_large"
    assert (await call(bridge(env), "math::odd"))["error"]["code"] == "internal_error"


async def test_malformed_requests_are_answered() -> None:
    b = bridge(env_with())
    answer: bytes = await anyio.to_thread.run_sync(b.call, b"not json")
    assert json.loads(answer)["error"]["code"] == "invalid_request"
    assert b.calls == []


async def test_logs_are_capped() -> None:
    b = bridge(env_with(), config=SandboxConfig(max_log_lines=2))
    for i in range(5):
        b.log(f"line {i}")
    assert b.logs == ["line 0", "line 1"] and b.dropped_logs == 3
