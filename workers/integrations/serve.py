"""The reverse direction: selected engine functions served as an MCP server.

``python -m workers.integrations.serve --allow 'tool::*' --allow 'kb::search'`` speaks MCP on
stdin/stdout. ``--transport http --port 8765`` serves streamable HTTP at ``/mcp`` instead: once
it listens it writes its URL (``http://127.0.0.1:8765/mcp``) as one line on stdout (``--port 0``
picks a free port), and when ``AGENTOS_MCP_SERVE_TOKEN`` is set every request must carry
``Authorization: Bearer <that token>`` (401 otherwise). It connects to the bus as a client
(``AGENTOS_URL``/``AGENTOS_TOKEN`` or ``--url``/``--token``).

``tools/list`` asks ``engine::functions::list`` (with schemas) and offers every function whose
id matches an ``--allow`` glob, named by agent-core's sanitiser (``kb::search`` → ``kb__search``)
with its ``request_format`` as ``inputSchema``. ``tools/call`` maps the name back (a table, never
a string transform) and calls the function through the bus; the result is JSON text plus, when it
is an object, ``structuredContent``. A failed call is answered as a tool error (``isError``) with
the engine's code and message. Nothing is allowed by default.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any, Protocol

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from workers.agent_core.tools import ToolNames
from workers.sdk import InvocationError, connect

__all__ = ["TOKEN_ENV", "Caller", "EngineTools", "build_server", "main", "require_bearer"]

log = logging.getLogger(__name__)

TOKEN_ENV = "AGENTOS_MCP_SERVE_TOKEN"


class Caller(Protocol):
    """What the server calls through: :class:`workers.sdk.Connection` fits."""

    async def trigger(self, function_id: str, data: Any = None, *,
                      timeout: float | None = None) -> Any: ...


class EngineTools:
    """The allowlisted engine functions, as MCP tools."""

    def __init__(self, caller: Caller, allow: Sequence[str], *, timeout: float = 60.0) -> None:
        self._caller = caller
        self._allow = list(allow)
        self._timeout = timeout
        self._names: ToolNames | None = None

    def allowed(self, function_id: str) -> bool:
        return any(fnmatchcase(function_id, g) for g in self._allow)

    async def list_tools(self) -> list[types.Tool]:
        listing = await self._caller.trigger("engine::functions::list", {"include_schemas": True})
        found = [f for f in (listing or {}).get("functions", [])
                 if self.allowed(f.get("function_id", ""))]
        self._names = names = ToolNames(f["function_id"] for f in found)
        tools = []
        for f in found:
            schema = f.get("request_format")
            if not (isinstance(schema, dict) and schema.get("type") == "object"):
                schema = {"type": "object", "additionalProperties": True}
            tools.append(types.Tool(name=names.name_of(f["function_id"]),
                                    description=f.get("description") or f["function_id"],
                                    input_schema=schema))
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        if self._names is None:
            await self.list_tools()
        assert self._names is not None
        function_id = self._names.id_of(name)
        if function_id is None or not self.allowed(function_id):
            return _error(f"unknown tool {name!r}")
        try:
            result = await self._caller.trigger(function_id, arguments or {}, timeout=self._timeout)
        except InvocationError as exc:
            return _error(f"{exc.code}: {exc.message}")
        text = json.dumps(result, ensure_ascii=False, default=str)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structured_content=result if isinstance(result, dict) else None)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)],
                                is_error=True)


def build_server(tools: EngineTools, name: str = "agentos") -> Server[Any]:
    """A low-level MCP server whose tools are ``tools``."""

    async def on_list_tools(ctx: ServerRequestContext[Any],
                            params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=await tools.list_tools())

    async def on_call_tool(ctx: ServerRequestContext[Any],
                           params: types.CallToolRequestParams) -> types.CallToolResult:
        return await tools.call_tool(params.name, params.arguments)

    return Server(name, on_list_tools=on_list_tools, on_call_tool=on_call_tool)


def require_bearer(app: Any, token: str) -> Any:
    """``app`` (ASGI) answering 401 to HTTP requests without ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
                return
        await app(scope, receive, send)

    return guarded


async def _serve_http(server: Server[Any], host: str, port: int) -> None:
    import uvicorn

    app = server.streamable_http_app(host=host)
    token = os.environ.get(TOKEN_ENV)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family) as sock:
        config = uvicorn.Config(require_bearer(app, token) if token else app, lifespan="on",
                                log_level="warning")
        bound = sock.getsockname()[1]
        # The socket listens already: whoever reads the URL can connect at once.
        sys.stdout.write(f"http://{f'[{host}]' if ':' in host else host}:{bound}/mcp\n")
        sys.stdout.flush()
        await uvicorn.Server(config).serve(sockets=[sock])


async def _serve(args: argparse.Namespace) -> None:
    async with connect(args.url, workers=[], name="mcp-serve", token=args.token) as conn:
        server = build_server(EngineTools(conn, args.allow, timeout=args.timeout))
        if args.transport == "stdio":
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
            return
        await _serve_http(server, args.host, args.port)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until stdin closes (stdio) or SIGINT/SIGTERM (http)."""
    parser = argparse.ArgumentParser(prog="python -m workers.integrations.serve")
    parser.add_argument("--allow", action="append", default=[], help="function id glob (repeat)")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="http: the port (0: any free one)")
    parser.add_argument("--url", default=None, help="the engine (default AGENTOS_URL)")
    parser.add_argument("--token", default=None, help="bearer token (default AGENTOS_TOKEN)")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    # stdout is the MCP channel under stdio: logs go to stderr only.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    anyio.run(_serve, args)


if __name__ == "__main__":
    main()
