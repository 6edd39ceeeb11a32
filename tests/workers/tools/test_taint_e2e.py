"""Taint at the sinks, end to end: a real engine, the real security worker (or none: the local
policy), the real tools worker and WASM sandbox, and a client calling tools as agent-core does
(the run's labels in the call's metadata ``taint``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import Connection, InvocationError, Worker, connect, function
from workers.security import SecurityConfig, SecurityService
from workers.tools import StaticResolver, Tools, ToolsConfig
from workers.tools.config import DEFAULT_SHELL_ALLOWLIST
from workers.wasm_sandbox import WasmSandbox, example

from .site import LocalSite

pytestmark = pytest.mark.anyio

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
CLEAN = {"agent_id": "alice", "agent_depth": 0, "taint": []}
UNTRUSTED = {**CLEAN, "taint": ["untrusted"]}


@dataclass
class Bus:
    client: Connection
    workspace: Path

    async def tool(self, function_id: str, data: Any, metadata: dict[str, Any] = CLEAN) -> Any:
        return await self.client.trigger(function_id, data, metadata=metadata, timeout=30)

    async def fails(self, code: str, function_id: str, data: Any,
                    metadata: dict[str, Any] = CLEAN) -> str:
        with pytest.raises(InvocationError) as caught:
            await self.tool(function_id, data, metadata)
        assert caught.value.code == code, caught.value
        return caught.value.message


def broken_security() -> Worker:
    @function("taint::enforce")
    async def enforce(data: Any) -> Any:
        raise InvocationError("internal_error", "the taint store is down")

    return Worker("security-broken", functions=[enforce])


@asynccontextmanager
async def running(tmp_path: Path, security: str) -> AsyncIterator[Bus]:
    """``security``: ``real`` (the security worker), ``none`` (local policy) or ``broken``."""
    config = ToolsConfig.model_validate({
        "data_dir": str(tmp_path / "data"),
        "shell": {"allowlist": [*DEFAULT_SHELL_ALLOWLIST, "touch"]},
        "net": {"allow_private": ["127.0.0.1/32"], "default_hosts": ["127.0.0.1", "site.test"]},
    })
    tools = Tools(config, resolver=StaticResolver({"site.test": ["127.0.0.1"]}))
    node_config = NodeConfig.model_validate({
        "engine": {"port": 0},
        "workers": [{"name": "iii-state", "config": {"adapter": {"name": "memory"}}},
                    {"name": "iii-pubsub", "config": {}}],
    })
    extra = {"real": [SecurityService(SecurityConfig(data_dir=tmp_path / "security")).worker()],
             "none": [], "broken": [broken_security()]}[security]
    async with Node(node_config) as node, AsyncExitStack() as stack:
        for workers in ([tools.worker()], [WasmSandbox().worker()], extra):
            if workers:
                await stack.enter_async_context(connect(node.url, workers=workers))
        client = await stack.enter_async_context(connect(node.url, workers=[], name="client"))
        if security == "real":
            await client.trigger("security::set_capabilities", {"agent_id": "alice", "capabilities": {
                "tools": ["tool::*"], "network_hosts": ["127.0.0.1", "site.test"]}})
        yield Bus(client, tmp_path / "data" / "workspaces" / "default" / "alice")


@pytest.mark.parametrize("security", ["real", "none"])
async def test_an_untrusted_run_cannot_run_commands_or_code(tmp_path: Path, security: str) -> None:
    async with running(tmp_path, security) as bus:
        message = await bus.fails("tainted", "tool::shell_exec", {"argv": ["touch", "proof"]},
                                  UNTRUSTED)
        assert message == "shell is blocked: this run has read untrusted content (labels: untrusted)"
        assert not (bus.workspace / "proof").exists()
        message = await bus.fails("tainted", "tool::code_exec",
                                  {"wat": example("sum"), "input": [1, 2]}, UNTRUSTED)
        assert message == "exec is blocked: this run has read untrusted content (labels: untrusted)"
        assert (await bus.client.trigger("wasm::list_modules", {}))["modules"] == []
        # the run may still write down what it read
        await bus.tool("tool::file_write", {"path": "page.md", "content": "read it"}, UNTRUSTED)

        await bus.tool("tool::shell_exec", {"argv": ["touch", "proof"]})
        assert (bus.workspace / "proof").exists()
        out = await bus.tool("tool::code_exec", {"wat": example("sum"), "input": [1, 2]})
        assert out["output"] == {"sum": 3}


@pytest.mark.parametrize("security", ["real", "none"])
async def test_secrets_leave_through_no_sink(tmp_path: Path, security: str) -> None:
    async with LocalSite() as site, running(tmp_path, security) as bus:
        url = site.url("/echo", "site.test")
        message = await bus.fails("tainted", "tool::http_request", {
            "method": "POST", "url": url, "body": f"aws_access_key_id = {AWS_KEY}"})
        assert message == ("http is blocked: the request contains a secret (api_key) "
                           "(labels: secret)")
        await bus.fails("tainted", "tool::http_request", {
            "url": url, "headers": {"Authorization": "Bearer abcDEF0123456789ghiJKL"}})
        await bus.fails("tainted", "tool::http_request", {
            "method": "POST", "url": url, "body": "card 4111 1111 1111 1111"})
        await bus.fails("tainted", "tool::web_fetch", {"url": f"{url}?email=jane@example.org"})
        assert site.requests == []  # nothing was sent, not even a connection made
        answer = await bus.tool("tool::http_request", {"method": "POST", "url": url,
                                                       "body": "hello"}, UNTRUSTED)
        assert answer["status"] == 200 and len(site.requests) == 1

        await bus.fails("tainted", "tool::file_write", {"path": "k.env", "content": AWS_KEY})
        assert not (bus.workspace / "k.env").exists()
        await bus.tool("tool::file_write", {"path": "people.md", "content": "jane@example.org"})
        assert (bus.workspace / "people.md").read_text() == "jane@example.org"
        await bus.fails("tainted", "tool::shell_exec", {"argv": ["echo", AWS_KEY]})


async def test_a_security_worker_that_fails_refuses(tmp_path: Path) -> None:
    async with running(tmp_path, "broken") as bus:
        message = await bus.fails("forbidden", "tool::shell_exec", {"argv": ["touch", "proof"]})
        assert message == "the taint check failed (internal_error); shell refused"
        assert not (bus.workspace / "proof").exists()


async def test_the_web_tools_declare_untrusted_output(tmp_path: Path) -> None:
    async with running(tmp_path, "none") as bus:
        listed = await bus.client.trigger("engine::functions::list", {"prefix": "tool::"})
        metadata = {f["function_id"]: f["metadata"] for f in listed["functions"]}
        for fid in ("tool::web_fetch", "tool::http_request", "tool::web_search"):
            assert metadata[fid]["output_taint"] == ["untrusted"]
        assert metadata["tool::shell_exec"] == {"taint_sink": "shell", "min_role": "worker"}
        assert not (metadata["tool::file_read"] or {}).get("output_taint")
