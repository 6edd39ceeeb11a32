"""The reverse server: an MCP client (the ``mcp`` SDK) lists and calls our engine functions,
over stdio and over streamable HTTP."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import Worker, connect, function

REPO = Path(__file__).resolve().parents[3]


@function("demo::double", description="Double n",
          request_format={"type": "object", "required": ["n"],
                          "properties": {"n": {"type": "number"}}})
async def double(data: Any) -> dict[str, Any]:
    return {"value": data["n"] * 2}


@function("secret::thing", description="Not exported")
async def secret(data: Any) -> str:
    return "secret"


async def test_an_mcp_client_calls_an_allowlisted_engine_function() -> None:
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": []})
    async with Node(config) as node, \
            connect(node.url, workers=[Worker("demo", functions=[double, secret])]):
        params = StdioServerParameters(
            command=sys.executable, cwd=str(REPO),
            args=["-m", "workers.integrations.serve", "--url", node.url, "--allow", "demo::*"])
        with anyio.fail_after(30):  # a bound on the subprocess starting, not a synchronisation
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                assert [t.name for t in tools] == ["demo__double"]
                assert tools[0].input_schema["required"] == ["n"]
                result = await session.call_tool("demo__double", {"n": 21})
                assert result.structured_content == {"value": 42} and not result.is_error
                refused = await session.call_tool("secret__thing", {})
                assert refused.is_error
                failed = await session.call_tool("demo__double", {})
                assert failed.is_error and failed.content[0].text.startswith("invocation_failed")


async def test_an_mcp_client_calls_engine_functions_over_streamable_http() -> None:
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": []})
    async with Node(config) as node, \
            connect(node.url, workers=[Worker("demo", functions=[double, secret])]):
        process = await anyio.open_process(
            [sys.executable, "-m", "workers.integrations.serve", "--transport", "http", "--port", "0",
             "--url", node.url, "--allow", "demo::*"],
            cwd=str(REPO), env={**os.environ, "AGENTOS_MCP_SERVE_TOKEN": "serve-token"}, stderr=None)
        try:
            assert process.stdout is not None
            with anyio.fail_after(30):  # a bound on the subprocess starting
                url = (await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 200)).decode()
            assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
            async with httpx2.AsyncClient(headers={"Authorization": "Bearer serve-token"}) as http, \
                    streamable_http_client(url, http_client=http) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                assert [t.name for t in (await session.list_tools()).tools] == ["demo__double"]
                result = await session.call_tool("demo__double", {"n": 21})
                assert result.structured_content == {"value": 42} and not result.is_error
                assert (await session.call_tool("secret__thing", {})).is_error
            async with httpx2.AsyncClient() as bare:
                refused = await bare.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                          headers={"Authorization": "Bearer wrong"})
            assert refused.status_code == 401
        finally:
            process.terminate()
            with anyio.CancelScope(shield=True):
                await process.wait()
                await process.aclose()
