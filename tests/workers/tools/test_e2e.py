"""End to end on a real in-process engine: the tools worker, the WASM sandbox, the real
agent-core and state module, a realm-bound worker calling tools as agent-core would (with the
agent in the call's metadata). Clients may not call tools at all (they are worker-only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.config import NodeConfig
from engine.node import Node
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary
from workers.sdk import Connection, InvocationError, Worker, connect, function
from workers.tools import Tools, ToolsConfig
from workers.wasm_sandbox import WasmSandbox, example

pytestmark = pytest.mark.anyio

TOKENS = {"tokens": [{"token": "t-worker", "role": "worker"},
                     {"token": "t-acme-worker", "role": "worker", "realm": "acme"},
                     {"token": "t-acme", "role": "client", "realm": "acme"}]}
ALICE = {"agent_id": "alice"}
SPIN = """(module (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "execute") (param i32 i32) (result i64) (loop $spin (br $spin)) (i64.const 0)))"""


@dataclass
class Bus:
    client: Connection
    url: str
    data_dir: Path
    denied: set[str]

    async def tool(self, function_id: str, data: Any, metadata: dict[str, Any] | None = ALICE) -> Any:
        return await self.client.trigger(function_id, data, metadata=metadata, timeout=30)

    async def fails(self, code: str, function_id: str, data: Any,
                    metadata: dict[str, Any] | None = ALICE) -> str:
        with pytest.raises(InvocationError) as caught:
            await self.tool(function_id, data, metadata)
        assert caught.value.code == code, caught.value
        return caught.value.message


def security_worker(denied: set[str]) -> Worker:
    @function("security::check_capability")
    async def check(data: Any) -> Any:
        allowed = data["resource"] not in denied
        return {"allowed": allowed, "reason": None if allowed else "denied by policy"}

    return Worker("security-fake", functions=[check])


@asynccontextmanager
async def running(tmp_path: Path, *, security: bool = False) -> AsyncIterator[Bus]:
    tools = Tools(ToolsConfig(data_dir=tmp_path / "data"))
    core = AgentCore(AgentCoreConfig(agents_dir=None), templates=TemplateLibrary())
    denied: set[str] = set()
    extra = [security_worker(denied)] if security else []
    node_config = NodeConfig.model_validate({
        "engine": {"port": 0, "auth": TOKENS},
        "workers": [{"name": "iii-state", "config": {"adapter": {"name": "memory"}}},
                    {"name": "iii-pubsub", "config": {}}],
    })
    async with Node(node_config) as node, \
            connect(node.url, workers=[tools.worker()], token="t-worker"), \
            connect(node.url, workers=[WasmSandbox().worker()], token="t-worker"), \
            connect(node.url, workers=[core.worker(), *extra], token="t-worker"), \
            connect(node.url, workers=[], name="caller", token="t-acme-worker") as client:
        await client.trigger("agent::create", {
            "name": "alice", "capabilities": {"tools": ["tool::*"], "network_hosts": ["*.example.org"]}})
        yield Bus(client, node.url, tmp_path / "data", denied)


async def test_files_and_shell_in_the_agents_workspace(tmp_path: Path) -> None:
    async with running(tmp_path) as bus:
        await bus.tool("tool::file_write", {"path": "notes/todo.md", "content": "- ship it\n"})
        assert (bus.data_dir / "workspaces" / "acme" / "alice" / "notes" / "todo.md").exists()
        grep = await bus.tool("tool::shell_exec", {"argv": ["grep", "-c", "ship", "notes/todo.md"]})
        assert grep["stdout"] == "1\n"
        await bus.fails("path_forbidden", "tool::file_read", {"path": "../../../etc/passwd"})
        await bus.fails("no_agent_identity", "tool::file_list", {}, metadata=None)


async def test_a_client_credential_cannot_call_a_tool(tmp_path: Path) -> None:
    async with running(tmp_path) as bus, connect(bus.url, workers=[], name="client",
                                                 token="t-acme") as client:
        with pytest.raises(InvocationError) as caught:
            await client.trigger("tool::file_write", {"path": "x.md", "content": "x"},
                                 metadata=ALICE, timeout=30)
        assert caught.value.code == "forbidden" and "worker" in caught.value.message
        assert not (bus.data_dir / "workspaces" / "acme" / "alice" / "x.md").exists()
        listed = await client.trigger("engine::functions::list", {})
        assert not [f for f in listed["functions"] if f["function_id"].startswith("tool::")]


async def test_code_exec_runs_in_the_sandbox(tmp_path: Path) -> None:
    async with running(tmp_path) as bus:
        out = await bus.tool("tool::code_exec", {"wat": example("sum"), "input": [1, 2, 39]})
        assert out["output"] == {"sum": 42}
        await bus.fails("wasm_out_of_fuel", "tool::code_exec",
                        {"wat": SPIN, "fuel": 10_000})
        await bus.fails("invalid_module", "tool::code_exec", {"wat": "(module"})
        assert (await bus.tool("tool::code_exec", {"wat": example("sum"), "input": [1]}))["output"] == {"sum": 1}


async def test_spawn_through_the_real_agent_core(tmp_path: Path) -> None:
    async with running(tmp_path) as bus:
        out = await bus.tool("tool::agent_spawn", {"name": "helper", "capabilities": {
            "tools": ["tool::file_read", "*"], "network_hosts": ["docs.example.org", "*"]}})
        assert out["capabilities"]["tools"] == ["tool::file_read"]
        assert out["capabilities"]["network_hosts"] == ["docs.example.org"]
        helper = await bus.client.trigger("agent::get", {"agent_id": "helper"})
        assert helper["capabilities"]["tools"] == ["tool::file_read"]
        assert "depth:1" in helper["tags"] and "parent:alice" in helper["tags"]
        # the helper cannot use what it was not given, even by calling tools directly
        await bus.fails("forbidden", "tool::file_write", {"path": "x", "content": "y"},
                        metadata={"agent_id": "helper"})
        await bus.fails("agent_exists", "tool::agent_spawn", {"name": "helper"})


async def test_ssrf_and_hosts_over_the_bus(tmp_path: Path) -> None:
    async with running(tmp_path) as bus:
        await bus.fails("ssrf_blocked", "tool::web_fetch", {"url": "http://169.254.169.254/latest/"})
        await bus.fails("ssrf_blocked", "tool::http_request", {"url": "http://[::ffff:127.0.0.1]:1/"})
        await bus.fails("forbidden", "tool::web_fetch", {"url": "https://93.184.216.34/"})


async def test_the_security_worker_has_the_last_word(tmp_path: Path) -> None:
    async with running(tmp_path, security=True) as bus:
        await bus.tool("tool::file_write", {"path": "a", "content": "b"})
        bus.denied.add("tool::file_write")
        assert await bus.fails("forbidden", "tool::file_write", {"path": "a", "content": "c"}) == \
            "denied by policy"


async def test_a_tainted_run_taints_the_agents_it_spawns(tmp_path: Path) -> None:
    async with running(tmp_path) as bus:
        await bus.tool("tool::agent_spawn", {"name": "reader", "capabilities": {
            "tools": ["tool::shell_exec"]}}, metadata={**ALICE, "taint": ["untrusted"]})
        reader = await bus.client.trigger("agent::get", {"agent_id": "reader"})
        assert "taint:untrusted" in reader["tags"]
        # the label holds for the reader's runs even when a hop forgets to pass it on
        message = await bus.fails("tainted", "tool::shell_exec", {"argv": ["ls"]},
                                  metadata={"agent_id": "reader"})
        assert message == "shell is blocked: this run has read untrusted content (labels: untrusted)"
        await bus.tool("tool::shell_exec", {"argv": ["ls"]})  # alice's own record is clean
