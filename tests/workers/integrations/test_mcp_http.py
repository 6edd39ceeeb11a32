"""An MCP server over streamable HTTP: its tools as bus functions, a bearer token from our
environment, and the server missing at start, killed, or restarted behind the link's back."""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
import pytest

from workers.integrations import LinkStatus, McpLink
from workers.sdk import FunctionNotFound, InvocationError

from .conftest import BOUND, HTTP_TOKEN, http_config, http_server, running


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_TEST_TOKEN", HTTP_TOKEN)


async def up(link: McpLink, generation: int = 1) -> None:
    with anyio.fail_after(BOUND):
        await link.wait_for(lambda lk: lk.generation == generation and lk.status is LinkStatus.UP)


async def down(link: McpLink) -> None:
    with anyio.fail_after(BOUND):
        await link.wait_for(lambda lk: lk.status is LinkStatus.DOWN)


async def test_an_http_servers_tools_are_engine_functions(http_script: Path) -> None:
    async with http_server(http_script) as server, running([http_config(server.url)]) as stack:
        link = stack.integrations.links["geo"]
        await up(link)

        assert sorted(link.functions) == ["mcp::geo::capital", "mcp::geo::pid"]  # allowlist
        listing = await stack.client.trigger("engine::functions::list", {"include_schemas": True})
        [capital] = [f for f in listing["functions"] if f["function_id"] == "mcp::geo::capital"]
        assert capital["request_format"]["required"] == ["country"]
        result = await stack.client.trigger("mcp::geo::capital", {"country": "France"})
        assert result["text"] == "Paris-from-MCP"
        pid = await stack.client.trigger("mcp::geo::pid", {})
        assert pid["structured"]["result"] == server.process.pid  # that server, no stand-in
        status = await stack.client.trigger("mcp::status", {"id": "geo"})
        assert (status["transport"], status["url"], status["status"], status["calls"]) == (
            "http", server.url, "up", 2)


async def test_a_refused_token_keeps_the_link_down_and_says_so(http_script: Path) -> None:
    async with http_server(http_script, token="another") as server, \
            running([http_config(server.url)]) as stack:
        link = stack.integrations.links["geo"]
        await down(link)

        assert link.functions == {} and link.generation == 0
        assert "refused our headers (HTTP 401)" in (link.last_error or "")
        with pytest.raises(FunctionNotFound):
            await stack.client.trigger("mcp::geo::capital", {"country": "France"})


async def test_a_server_missing_at_start_is_retried_until_it_comes(http_script: Path) -> None:
    with socket.socket() as placeholder:  # bound, never listening: connections are refused
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        async with running([http_config(f"http://127.0.0.1:{port}/mcp")]) as stack:
            link = stack.integrations.links["geo"]
            await down(link)
            assert "ConnectError" in (link.last_error or "") and link.generation == 0
            status = await stack.client.trigger("mcp::status", {"id": "geo"})
            assert status["status"] == "down" and status["last_error"] == link.last_error
            with pytest.raises(FunctionNotFound):
                await stack.client.trigger("mcp::geo::capital", {"country": "France"})

            placeholder.close()
            async with http_server(http_script, port):
                await up(link)
                result = await stack.client.trigger("mcp::geo::capital", {"country": "Peru"})
                assert result["text"] == "Lima-from-MCP"
                assert link.last_error is None


async def test_a_server_that_goes_away_is_noticed_by_the_ping(http_script: Path) -> None:
    async with http_server(http_script) as server, \
            running([http_config(server.url, ping_interval_s=0.05)]) as stack:
        link = stack.integrations.links["geo"]
        await up(link)
        first = (await stack.client.trigger("mcp::geo::pid", {}))["structured"]["result"]

        await server.kill()  # no call is made: only the ping can tell
        await down(link)
        assert link.functions == {} and link.last_error
        with pytest.raises(FunctionNotFound):
            await stack.client.trigger("mcp::geo::capital", {"country": "France"})

        async with http_server(server.script, server.port):
            await up(link, generation=2)
            again = (await stack.client.trigger("mcp::geo::pid", {}))["structured"]["result"]
            assert again != first


async def test_a_call_to_a_server_that_went_away_fails_and_restarts_the_link(http_script: Path) -> None:
    async with http_server(http_script) as server, \
            running([http_config(server.url, ping_interval_s=0)]) as stack:
        link = stack.integrations.links["geo"]
        await up(link)

        await server.kill()
        with pytest.raises(InvocationError) as info:
            await stack.client.trigger("mcp::geo::capital", {"country": "France"})
        assert info.value.code == "integration_down"
        await down(link)

        async with http_server(server.script, server.port):
            await up(link, generation=2)
            result = await stack.client.trigger("mcp::geo::capital", {"country": "France"})
            assert result["text"] == "Paris-from-MCP"


async def test_a_restarted_server_that_forgot_the_session_is_reconnected(http_script: Path) -> None:
    async with http_server(http_script) as server, \
            running([http_config(server.url, ping_interval_s=0)]) as stack:
        link = stack.integrations.links["geo"]
        await up(link)
        await server.kill()

        async with http_server(server.script, server.port):
            # the link has not noticed: the new server answers its old session id with 404
            assert link.status is LinkStatus.UP and link.generation == 1
            with pytest.raises(InvocationError) as info:
                await stack.client.trigger("mcp::geo::capital", {"country": "France"})
            assert info.value.code == "mcp_error" and "Session not found" in info.value.message
            await up(link, generation=2)  # the failed call made the link ping, and restart
            result = await stack.client.trigger("mcp::geo::capital", {"country": "France"})
            assert result["text"] == "Paris-from-MCP"
