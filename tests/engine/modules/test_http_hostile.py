"""The HTTP listener under hostile or heavy input: it answers or hangs up, and keeps serving others."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import Worker, connect, function

pytestmark = pytest.mark.anyio

DEADLINE = 10.0
"""Bound on any wait for the server's answer (one unit of patience, never a synchronisation)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@function("h::echo")
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return {"body": {"n": data["query_params"].get("n"), "body": data["body"]}}


@asynccontextmanager
async def serving(**http: Any) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [{"name": "iii-http", "config": {"port": 0, **http}}]})
    async with Node(config) as node, connect(node.url, workers=[Worker("h", functions=[echo])]) as conn:
        await conn.bind("http", "h::echo", {"api_path": "echo", "http_method": "POST"})
        await conn.trigger("engine::health::check")
        limits = httpx.Limits(max_connections=500)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.ports['http']}", timeout=DEADLINE, limits=limits) as client:
            yield node, client


async def still_serving(client: httpx.AsyncClient) -> None:
    r = await client.post("/echo", json={"ok": 1})
    assert r.status_code == 200 and r.json()["body"] == {"ok": 1}


async def raw(node: Node, data: bytes) -> bytes:
    """Send raw bytes and read until the server closes (or the deadline fails the test)."""
    async with await anyio.connect_tcp("127.0.0.1", node.ports["http"]) as stream:
        await stream.send(data)
        return await read_until_close(stream)


async def read_until_close(stream: SocketStream) -> bytes:
    received = b""
    with anyio.fail_after(DEADLINE):
        while True:
            try:
                received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                return received


async def test_malformed_http_is_refused_and_the_server_keeps_serving() -> None:
    async with serving() as (node, client):
        for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", b"GET\r\n\r\n",
                        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
                        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                        b"\x00" * 4096):
            answer = await raw(node, garbage)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:80]
        await still_serving(client)


async def test_huge_headers_are_refused() -> None:
    async with serving() as (node, client):
        answer = await raw(node, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n")
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:80]
        r = await client.post("/echo", json={}, headers={f"x-h{i}": "v" * 100 for i in range(300)})  # 30 KB: fine
        assert r.status_code == 200
        await still_serving(client)


async def test_a_trickling_body_times_out_while_others_are_served() -> None:
    async with serving(default_timeout=300) as (node, client):
        async with await anyio.connect_tcp("127.0.0.1", node.ports["http"]) as slow:
            await slow.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
            await still_serving(client)  # while the slow body is pending
            answer = await read_until_close(slow)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert b'"REQUEST_TIMEOUT"' in answer
        await still_serving(client)


async def test_many_idle_half_open_connections_do_not_block_others() -> None:
    async with serving() as (node, client), AsyncExitStack() as stack:
        for _ in range(50):
            stream = await stack.enter_async_context(await anyio.connect_tcp("127.0.0.1", node.ports["http"]))
            await stream.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n")  # headers never finish
        await still_serving(client)


async def test_a_long_path_and_odd_encodings_get_envelopes() -> None:
    async with serving() as (node, client):
        r = await client.get("/" + "a/" * 3000)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
        answer = await raw(node, b"POST /echo?n=%ZZ HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9\r\nContent-Length: 2\r\n"
                                 b"Content-Type: application/json\r\nConnection: close\r\n\r\n{}")
        assert answer.startswith(b"HTTP/1.1 200") and b'"n":"%ZZ"' in answer


async def test_a_burst_of_concurrent_requests_all_complete_and_leave_no_channels() -> None:
    async with serving() as (node, client):
        results: dict[int, Any] = {}

        async def one(n: int) -> None:
            r = await client.post(f"/echo?n={n}", json={"i": n})
            results[n] = (r.status_code, r.json()["body"])

        async with anyio.create_task_group() as tg:
            for n in range(200):
                tg.start_soon(one, n)
        assert results == {n: (200, {"i": n}) for n in range(200)}
        assert len(node.modules["channels"].channels) == 0
        assert node.modules["http"].statistics().in_flight == 0
