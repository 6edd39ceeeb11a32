"""The WebSocket shell against a scripted peer: no socket, websockets' server protocol plays the
engine, and a fake transport records what the client writes."""

from __future__ import annotations

import asyncio
import os
from typing import Any, cast

import anyio
import anyio.lowlevel
import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from workers.sdk._socket import Disconnected, WebSocket


class FakeTransport:
    """Records what the socket writes; flow control and closing are driven by the test."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.writes = 0
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data
        self.writes += 1

    def writelines(self, chunks: list[bytes]) -> None:
        self.written += b"".join(chunks)
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = self.aborted = True

    def close(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0


class Peer:
    """One socket after its opening handshake, and the engine's side of it."""

    def __init__(self, max_size: int = 2**26) -> None:
        self.messages: list[tuple[bytes, bool]] = []
        self.lost = 0
        self.ws = WebSocket(
            parse_uri("ws://engine.test:1"),
            loop=asyncio.get_running_loop(),
            on_message=lambda data, text: self.messages.append((data, text)),
            on_lost=self._lost,
            subprotocols=["agentos.msgpack"],
            headers={"Authorization": "Bearer tok"},
            max_size=max_size,
        )
        self.transport = FakeTransport()
        self.protocol = ServerProtocol(subprotocols=[Subprotocol("agentos.msgpack")])
        self.ws.connection_made(cast(Any, self.transport))
        (request,) = self._received()
        assert isinstance(request, Request) and request.headers["Authorization"] == "Bearer tok"
        self.protocol.send_response(self.protocol.accept(request))
        self.ws.data_received(self.wire())
        assert self.ws.subprotocol == "agentos.msgpack" and self.ws._opened.done()

    def _lost(self) -> None:
        self.lost += 1

    def _received(self) -> list[Any]:
        self.protocol.receive_data(bytes(self.transport.written))
        self.transport.written.clear()
        return self.protocol.events_received()

    def frames(self) -> list[Frame]:
        """Frames the client wrote since the last call."""
        return [e for e in self._received() if isinstance(e, Frame)]

    def wire(self, *frames: Frame | bytes) -> bytes:
        """What the engine writes: its pending output, then these frames (bytes: binary)."""
        for frame in frames:
            if isinstance(frame, Frame):
                self.protocol.send_frame(frame)
            else:
                self.protocol.send_binary(frame)
        return b"".join(self.protocol.data_to_send())


def payloads(n: int, step: int = 10) -> list[bytes]:
    return [os.urandom(step * i) for i in range(n)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100, 1000, 100_000])
async def test_frames_cut_anywhere_arrive_whole_and_in_order(chunk: int) -> None:
    peer = Peer()
    sent = payloads(6, step=20_000)  # 0 B to 100 KB: every header length class
    wire = peer.wire(*sent, Frame(Opcode.TEXT, b'{"t": 1}'))
    for i in range(0, len(wire), chunk):
        peer.ws.data_received(wire[i : i + chunk])
    assert peer.messages == [(p, False) for p in sent] + [(b'{"t": 1}', True)]


async def test_pings_fragments_and_plain_frames_mix() -> None:
    peer = Peer()
    peer.ws.data_received(
        peer.wire(
            b"one",
            Frame(Opcode.PING, b"are you there"),
            Frame(Opcode.BINARY, b"tw", fin=False),
            Frame(Opcode.CONT, b"o ", fin=False),
            Frame(Opcode.CONT, b"parts"),
            b"three",
        )
    )
    assert [m for m, _ in peer.messages] == [b"one", b"two parts", b"three"]
    (pong,) = peer.frames()
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"are you there")


async def test_a_masked_frame_from_the_server_fails_the_connection() -> None:
    peer = Peer()
    peer.ws.data_received(Frame(Opcode.BINARY, b"masked").serialize(mask=True))
    assert peer.messages == []
    (close,) = peer.frames()
    assert close.opcode is Opcode.CLOSE and Close.parse(close.data).code == 1002
    with pytest.raises(Disconnected):
        peer.ws.send_nowait(b"too late")


async def test_an_oversized_message_fails_the_connection() -> None:
    peer = Peer(max_size=1000)
    peer.ws.data_received(peer.wire(b"small", os.urandom(2000))[:1500])
    (close,) = peer.frames()
    assert Close.parse(close.data).code == 1009 and peer.messages == [(b"small", False)]


async def test_the_closing_handshake() -> None:
    peer = Peer()
    peer.ws.send_nowait(b"last words")
    peer.ws.close_nowait()  # the queued frame goes out before the close frame
    data, close = peer.frames()
    assert data.data == b"last words" and Close.parse(close.data).code == 1000
    with pytest.raises(Disconnected):
        peer.ws.send_nowait(b"after close")
    peer.ws.data_received(peer.wire())  # the engine's close frame
    peer.ws.eof_received()
    peer.ws.connection_lost(None)
    assert peer.lost == 1 and "1000" in (peer.ws.lost_reason or "")
    await peer.ws.wait_closed()


async def test_writes_in_one_loop_iteration_go_out_in_one_write() -> None:
    peer = Peer()
    before = peer.transport.writes
    sent = payloads(5)
    for payload in sent:
        peer.ws.send_nowait(payload)
    peer.ws.send_nowait('{"text": true}')
    assert peer.transport.writes == before  # queued until the loop iteration ends
    await anyio.lowlevel.checkpoint()
    assert peer.transport.writes == before + 1
    frames = peer.frames()
    assert [f.data for f in frames] == [*sent, b'{"text": true}']
    assert frames[-1].opcode is Opcode.TEXT


async def test_a_full_outbox_is_written_at_once() -> None:
    peer = Peer()
    before = peer.transport.writes
    peer.ws.send_nowait(os.urandom(70_000))
    assert peer.transport.writes == before + 1
    assert peer.ws.statistics().write_buffer_size == 0
    sent = payloads(10)
    for payload in sent:
        peer.ws.send_nowait(payload)
    assert peer.transport.writes == before + 2  # a batch of 8 frames goes at once
    await anyio.lowlevel.checkpoint()
    assert peer.transport.writes == before + 3  # the rest at the end of the iteration
    assert [f.data for f in peer.frames()][1:] == sent


async def test_drain_waits_while_the_transport_is_paused() -> None:
    peer = Peer()
    ws = peer.ws
    ws.pause_writing()
    assert ws.writing_paused and ws.statistics().writing_paused
    drained = anyio.Event()

    async def drain() -> None:
        await ws.drain()
        drained.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        await anyio.wait_all_tasks_blocked()
        assert not drained.is_set()
        ws.resume_writing()
    assert drained.is_set() and not ws.writing_paused


async def test_losing_the_socket_wakes_everything_and_tells_the_owner_once() -> None:
    peer = Peer()
    ws = peer.ws
    ws.pause_writing()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.drain)
        tg.start_soon(ws.wait_closed)
        await anyio.wait_all_tasks_blocked()
        ws.connection_lost(ConnectionResetError("reset"))
    assert peer.lost == 1
    with pytest.raises(Disconnected, match="reset"):
        ws.send_nowait(b"x")


async def test_an_unanswered_keepalive_ping_drops_the_socket() -> None:
    peer = Peer()
    ws = peer.ws
    ws._keepalive_tick()
    (ping,) = peer.frames()
    assert ping.opcode is Opcode.PING
    ws.data_received(peer.wire(Frame(Opcode.PONG, ping.data)))
    ws._keepalive_tick()  # answered: ping again
    assert [f.opcode for f in peer.frames()] == [Opcode.PING] and not peer.transport.aborted
    ws._keepalive_tick()  # not answered
    assert peer.transport.aborted
