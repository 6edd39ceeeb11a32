"""memory_* and code_exec forward to other workers with the agent's identity."""

from __future__ import annotations

from typing import Any

import pytest

from workers.sdk import InvocationError

from .conftest import Harness

pytestmark = pytest.mark.anyio


async def fails(h: Harness, code: str, function_id: str, data: Any, env: Any = None) -> str:
    with pytest.raises(InvocationError) as caught:
        await h.call(function_id, data, env)
    assert caught.value.code == code, caught.value
    return caught.value.message


async def test_memory_tools_forward_with_the_agent(harness: Harness) -> None:
    env = harness.env(depth=1, functions={"memory::store": lambda d: {"id": "m1", "got": d},
                                          "memory::recall": lambda d: {"items": [], "got": d}})
    stored = await harness.call("tool::memory_store", {"content": "the sky is blue", "tags": ["fact"]}, env)
    assert stored["got"] == {"content": "the sky is blue", "tags": ["fact"], "agent_id": "alice"}
    assert env.calls[-1].metadata == {"agent_id": "alice", "agent_depth": 1, "taint": []}
    recalled = await harness.call("tool::memory_recall", {"query": "sky"}, env)
    assert recalled["got"] == {"query": "sky", "limit": 10, "agent_id": "alice"}


async def test_memory_without_a_memory_worker(harness: Harness) -> None:
    message = await fails(harness, "not_available", "tool::memory_store", {"content": "x"})
    assert "memory::store is not registered" in message


async def test_a_shared_scope_needs_the_memory_capability(harness: Harness) -> None:
    record = {"capabilities": {"tools": ["tool::*"], "memory_scopes": ["team"]}}
    env = harness.env(functions={"state::get": lambda d: record,
                                 "memory::recall": lambda d: {"items": []}})
    await harness.call("tool::memory_recall", {"query": "q", "scope": "team"}, env)
    await fails(harness, "forbidden", "tool::memory_recall", {"query": "q", "scope": "board"}, env)


async def test_code_exec_validates_by_content_then_executes_as_the_agent(harness: Harness) -> None:
    env = harness.env(functions={"wasm::validate": lambda d: {"module_id": d["module_id"]},
                                 "wasm::execute": lambda d: {"output": d["input"]}})
    out = await harness.call("tool::code_exec", {"wat": "(module)", "input": [1], "fuel": 5}, env)
    assert out == {"output": [1]}
    validate, execute = env.calls[-2], env.calls[-1]
    assert validate.data["module_id"].startswith("code-") and validate.data["wat"] == "(module)"
    assert execute.data == {"module_id": validate.data["module_id"], "input": [1], "fuel": 5}
    assert execute.metadata == {"agent_id": "alice", "agent_depth": 0, "taint": []}
    again = await harness.call("tool::code_exec", {"wat": "(module)", "input": 2}, env)
    assert again == {"output": 2} and env.calls[-1].data["module_id"] == validate.data["module_id"]


async def test_code_exec_needs_exactly_one_source_and_a_sandbox(harness: Harness) -> None:
    await fails(harness, "invalid_arguments", "tool::code_exec", {"input": 1})
    await fails(harness, "invalid_arguments", "tool::code_exec", {"wat": "(module)", "wasm": "AA=="})
    await fails(harness, "not_available", "tool::code_exec", {"wat": "(module)"})
