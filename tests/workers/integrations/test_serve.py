"""The reverse server: an MCP client (the ``mcp`` SDK) lists and calls our engine functions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

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
