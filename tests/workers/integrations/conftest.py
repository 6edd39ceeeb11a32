"""Fixtures of the integrations tests: a real engine, llm-router, agent-core and MCP servers.

The MCP server under test is a tiny server written here with the ``mcp`` SDK's ``MCPServer``
(FastMCP), run as a subprocess: over stdio (:data:`SERVER`) or as its streamable HTTP app under
uvicorn on a loopback port, behind a bearer token (:data:`HTTP_SERVER`, :func:`http_server`).
The agent side is the same stack as agent-core's tests, with the model played by
:class:`tests.fakes.FakeUpstream`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anyio  # noqa: E402
import pytest  # noqa: E402
from anyio.abc import Process  # noqa: E402
from anyio.streams.buffered import BufferedByteReceiveStream  # noqa: E402

from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import FakeUpstream  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.integrations import IntegrationConfig, Integrations  # noqa: E402
from workers.llm_router import LlmConfig, LlmRouter  # noqa: E402
from workers.sdk import Backoff, Connection, Worker, connect  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
BOUND = 30.0
"""A bound on waits for a server process to start (never a synchronisation)."""
HTTP_TOKEN = "geo-http-token"
FAST = Backoff(initial=0.01, maximum=0.05, jitter=0)
"""Restart at once: tests wait on the link's status, never on the delay."""

TOOLS = '''
import os
from mcp.server.mcpserver import MCPServer

app = MCPServer("geo")

@app.tool()
def capital(country: str) -> str:
    """The capital city of a country."""
    return {"France": "Paris-from-MCP", "Peru": "Lima-from-MCP"}.get(country, "unknown")

@app.tool()
def pid() -> int:
    """This server's process id."""
    return os.getpid()

@app.tool()
def hidden() -> str:
    """Not in the allowlist."""
    return "secret"
'''

SERVER = TOOLS + '''
if __name__ == "__main__":
    app.run()
'''

HTTP_SERVER = TOOLS + '''
import socket
import sys

import uvicorn
from starlette.responses import JSONResponse

inner = app.streamable_http_app()
expected = ("Bearer " + os.environ["GEO_TOKEN"]).encode()


async def guarded(scope, receive, send):
    if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
        await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
        return
    await inner(scope, receive, send)


if __name__ == "__main__":
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    sock.listen(64)
    config = uvicorn.Config(guarded, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    # the socket listens before the port is told: a client never finds it closed
    sys.stdout.write(f"{sock.getsockname()[1]}\\n")
    sys.stdout.flush()
    server.run(sockets=[sock])
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # litellm runs on asyncio only


@pytest.fixture
def server_script(tmp_path: Path) -> Path:
    path = tmp_path / "geo_server.py"
    path.write_text(SERVER)
    return path


@pytest.fixture
def http_script(tmp_path: Path) -> Path:
    path = tmp_path / "geo_http_server.py"
    path.write_text(HTTP_SERVER)
    return path


@dataclass
class HttpServer:
    process: Process
    script: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    async def kill(self) -> None:
        """SIGKILL: the server goes away without a word."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@asynccontextmanager
async def http_server(script: Path, port: int = 0, *, token: str = HTTP_TOKEN) -> AsyncIterator[HttpServer]:
    """The HTTP server as a process on ``port`` (0: a free one), listening once this yields."""
    process = await anyio.open_process([sys.executable, str(script), str(port)],
                                       env={**os.environ, "GEO_TOKEN": token}, stderr=None)
    server = HttpServer(process, script, port)
    try:
        assert process.stdout is not None
        with anyio.fail_after(BOUND):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 16)
        server.port = int(line)
        yield server
    finally:
        with anyio.CancelScope(shield=True):
            await server.kill()
            await process.aclose()


def http_config(url: str, **extra: Any) -> IntegrationConfig:
    """The HTTP server as an integration; the token comes from ``$GEO_TEST_TOKEN``."""
    return IntegrationConfig.model_validate({
        "id": "geo", "name": "Geo", "transport": "http", "url": url,
        "headers": {"Authorization": "Bearer ${GEO_TEST_TOKEN}"},
        "tools": ["capital", "pid"], "call_timeout_s": 20, **extra})


def geo_config(script: Path, **extra: Any) -> IntegrationConfig:
    return IntegrationConfig.model_validate({
        "id": "geo", "name": "Geo", "transport": "stdio", "command": sys.executable,
        "args": [str(script)], "tools": ["capital", "pid"], "call_timeout_s": 20, **extra})


@dataclass
class Stack:
    node: Node
    client: Connection
    fake: FakeUpstream
    integrations: Integrations


@asynccontextmanager
async def running(configs: list[IntegrationConfig]) -> AsyncIterator[Stack]:
    """Engine + llm-router (fake upstream) + agent-core + integrations, and a client."""
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [
        {"name": "iii-state", "config": {"adapter": {"name": "memory"}}},
        {"name": "iii-pubsub", "config": {}}]})
    service = Integrations(configs, backoff=FAST)
    async with FakeUpstream() as fake:
        router = LlmRouter(LlmConfig.model_validate({
            "aliases": {"default": [{"model": "openai/gpt-4o-mini", "api_base": fake.base_url,
                                     "api_key": "sk-test", "max_retries": 0}]},
            "ollama": {"autodetect": False}, "defaults": {"timeout_s": 10}}))
        core = AgentCore(AgentCoreConfig(agents_dir=None, tool_timeout_s=20.0),
                         templates=TemplateLibrary())
        async with Node(config) as node, \
                connect(node.url, workers=[router.worker()]), \
                connect(node.url, workers=[core.worker()]), \
                connect(node.url, workers=[service.worker()]) as conn, \
                connect(node.url, workers=[], name="client") as client, \
                anyio.create_task_group() as tg:
            await tg.start(service.run, conn)
            yield Stack(node, client, fake, service)
            tg.cancel_scope.cancel()


def worker(*functions: Any) -> Worker:
    return Worker("demo", functions=list(functions))
