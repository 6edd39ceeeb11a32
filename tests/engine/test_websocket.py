"""The socket shell over loopback, driven by websockets' own client: handshake, batches, close
handshake and its timeout, keepalive, and both bounded buffers.

Runs on the default asyncio loop and on uvloop (what the engine runs on). Timers use one scaled
unit, ``MS``; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request, Response

from engine.websocket import Data, Flusher, Limits, State, WebSocket

pytestmark = pytest.mark.anyio

MS = float(os.environ.get("AGENTOS_TEST_MS", "0.001"))
"""One scaled millisecond: raise it on a slow machine."""
DEADLINE = 5.0
QUICK = 200 * MS
"""Close timeout of clients that stop reading (they would hold each test for websockets' 10 s)."""


@pytest.fixture(params=[pytest.param(False, id="asyncio"), pytest.param(True, id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return "asyncio", {"use_uvloop": request.param}


class Hub:
    """A listener: refuses ``/nope``; ``on_open`` plugs each socket in (default: echo)."""

    def __init__(self, on_open: Callable[[WebSocket], None] | None = None) -> None:
        self.sockets: list[WebSocket] = []
        self.on_open = on_open or echo
        self.arrived = anyio.Event()

    def handshake(self, ws: WebSocket, request: Request) -> Response:
        return ws.reject(404, "not found\n") if request.path == "/nope" else ws.accept(request)

    def opened(self, ws: WebSocket) -> None:
        self.sockets.append(ws)
        self.on_open(ws)
        self.arrived.set()

    def closed(self, ws: WebSocket) -> None:
        pass

    async def socket(self, n: int = 0) -> WebSocket:
        with anyio.fail_after(DEADLINE):
            while len(self.sockets) <= n:
                self.arrived = anyio.Event()
                await self.arrived.wait()
        return self.sockets[n]


def echo(ws: WebSocket) -> None:
    def on_messages(messages: list[Data]) -> None:
        for m in messages:
            ws.send_nowait(m)
    ws.on_messages = on_messages


@asynccontextmanager
async def listening(hub: Hub, **limits: Any) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    flusher = Flusher(loop)
    settings = Limits(**{"close_timeout": 200 * MS, "ping_interval": None, **limits})
    server = await loop.create_server(lambda: WebSocket(hub, flusher, settings, ["agentos.msgpack"]), "127.0.0.1", 0)
    port = next(iter(server.sockets)).getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.close()
        for ws in hub.sockets:
            ws.abort()


async def closed(ws: WebSocket) -> None:
    with anyio.fail_after(DEADLINE):
        await ws.wait_closed()
    assert ws.state is State.CLOSED


async def test_handshake_negotiates_msgpack_and_frames_keep_their_kind() -> None:
    hub = Hub()
    async with listening(hub) as url, connect(url, subprotocols=["agentos.msgpack"]) as client:  # type: ignore[list-item]
        assert client.subprotocol == "agentos.msgpack"
        for message in ("text é", b"\x00binary", "", b"", "x" * 70_000):
            await client.send(message)
            assert await client.recv() == message
        assert (await hub.socket()).subprotocol == "agentos.msgpack"
    async with listening(Hub()) as url, connect(url) as plain:
        assert plain.subprotocol is None


async def test_unknown_paths_are_refused_before_the_upgrade() -> None:
    async with listening(Hub()) as url:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "/nope"):
                pass
        assert refused.value.response.status_code == 404


async def test_inbox_iteration_ends_when_the_peer_closes_normally() -> None:
    hub = Hub(on_open=lambda ws: None)
    async with listening(hub) as url:
        async with connect(url) as client:
            for n in range(100):  # more than max_queue: the inbox holds the socket, then lets go
                await client.send(str(n))
            ws = await hub.socket()
            got = []
            with anyio.fail_after(DEADLINE):
                async for message in ws:
                    got.append(message)
                    if len(got) == 100:
                        await client.close()
        assert got == [str(n) for n in range(100)]
        assert client.close_code == 1000
        await closed(ws)
        assert ws.close_rcvd is not None and ws.close_rcvd.code == 1000


async def test_pings_are_answered() -> None:
    async with listening(Hub()) as url, connect(url) as client:
        with anyio.fail_after(DEADLINE):
            await (await client.ping(b"hello"))


async def test_an_oversized_message_closes_with_1009() -> None:
    hub = Hub()
    async with listening(hub, max_size=1000) as url, connect(url) as client:
        await client.send(b"x" * 1000)
        assert await client.recv() == b"x" * 1000
        await client.send(b"x" * 1001)
        with pytest.raises(ConnectionClosed) as info, anyio.fail_after(DEADLINE):
            await client.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        await closed(await hub.socket())


async def test_a_peer_that_never_answers_a_close_is_cut_off_after_the_close_timeout() -> None:
    hub = Hub()
    async with listening(hub) as url, connect(url, close_timeout=QUICK) as client:
        await client.send("hi")
        assert await client.recv() == "hi"
        client.transport.pause_reading()  # frozen: it will never see our close frame
        ws = await hub.socket()
        started = anyio.current_time()
        ws.close_nowait(1001, "going away")
        await closed(ws)
        assert 150 * MS <= anyio.current_time() - started < DEADLINE
        with pytest.raises(ConnectionClosed):
            ws.send_nowait("too late")


async def test_keepalive_closes_a_peer_that_does_not_answer_pings() -> None:
    hub = Hub()
    async with listening(hub, ping_interval=50 * MS, ping_timeout=50 * MS) as url, connect(url, close_timeout=QUICK) as client:
        await client.send("hi")
        assert await client.recv() == "hi"
        client.transport.pause_reading()
        ws = await hub.socket()
        await closed(ws)
        assert ws.close_sent is not None and ws.close_sent.code == 1011


async def test_a_peer_that_stops_reading_is_dropped_past_the_write_limit() -> None:
    hub = Hub(on_open=lambda ws: None)
    async with listening(hub, high_water=16 * 1024, write_limit=256 * 1024) as url, connect(url, close_timeout=QUICK) as client:
        client.transport.pause_reading()
        ws = await hub.socket()
        chunk, sent = b"x" * 65536, 0
        with anyio.fail_after(DEADLINE):
            while True:  # what a router relaying to this peer does: never waits
                try:
                    ws.send_nowait(chunk)
                except ConnectionClosed:
                    break
                sent += 1
                if sent % 8 == 0:
                    await anyio.lowlevel.checkpoint()  # let the flusher run
        await closed(ws)
        assert ws.close_sent is not None and ws.close_sent.code == 1008
        assert sent * len(chunk) < 64 * 2**20  # kernel buffers plus the limit, not without bound


async def test_a_target_that_falls_behind_pauses_its_sources_until_it_drains() -> None:
    hub = Hub(on_open=lambda ws: None)

    def relay(source: WebSocket, target: WebSocket) -> None:
        def on_messages(messages: list[Data]) -> None:
            for m in messages:
                target.send_nowait(m)
        source.on_messages = on_messages

    async with listening(hub, high_water=16 * 1024) as url, connect(url) as sender, connect(url, max_size=None) as receiver:
        src, dst = await hub.socket(0), await hub.socket(1)
        relay(src, dst)
        receiver.transport.pause_reading()
        payload, sent = b"y" * 16384, 0
        with anyio.fail_after(DEADLINE):
            while not src.statistics().reading_paused:  # the relay stopped reading the sender
                await sender.send(payload)
                sent += 1
                await anyio.lowlevel.checkpoint()
        assert dst.statistics().write_paused and dst.state is State.OPEN
        receiver.transport.resume_reading()
        with anyio.fail_after(DEADLINE):
            for _ in range(sent):
                assert await receiver.recv() == payload
        # All of it reached the receiver, so the relay's buffer drained and let the sender go.
        assert not src.statistics().reading_paused


async def test_a_connection_that_never_upgrades_is_dropped_after_the_handshake_timeout() -> None:
    async with listening(Hub(), handshake_timeout=100 * MS) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            assert await anyio.to_thread.run_sync(sock.recv, 100) == b""
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            assert await anyio.to_thread.run_sync(sock.recv, 100) == b""


async def test_frames_sent_right_behind_the_request_are_not_lost() -> None:
    hub = Hub()
    async with listening(hub) as url:
        port = int(url.rsplit(":", 1)[1])
        client_frame = bytes([0x81, 0x80 | 2]) + b"\x00\x00\x00\x00" + b"hi"  # masked with 0s
        request = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            sock.sendall(request + client_frame)
            received = b""
            while not received.endswith(b"\x81\x02hi"):
                chunk = await anyio.to_thread.run_sync(sock.recv, 4096)
                assert chunk, received
                received += chunk
            assert received.startswith(b"HTTP/1.1 101")
