"""The socket boundary: codec negotiation and the translation of socket errors."""

from __future__ import annotations

import pytest
from websockets.asyncio.server import ServerConnection, serve

from engine.protocol import Message, Ping, encode_json
from workers.sdk import AuthenticationError, Worker, connect
from workers.sdk._session import Disconnected, Session, open_session

from .conftest import FAST
from .stub_engine import StubEngine

WORKER = Worker("plain")


class Recorder:
    """A session receiver that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lost = 0

    def message_received(self, session: Session, message: Message) -> None:
        self.messages.append(message)

    def session_lost(self, session: Session) -> None:
        self.lost += 1


async def test_msgpack_falls_back_to_json_when_the_engine_ignores_the_subprotocol() -> None:
    async with StubEngine(select_msgpack=False) as engine:
        async with connect(engine.url, workers=[WORKER], codec="msgpack", reconnect=FAST):
            stub = engine.connections[0]
            assert not stub.msgpack and set(stub.frame_kinds) == {str}


async def test_json_codec_offers_no_subprotocol(engine: StubEngine) -> None:
    async with connect(engine.url, workers=[WORKER], codec="json", reconnect=FAST):
        assert "Sec-WebSocket-Protocol" not in engine.connections[0].headers


async def test_refused_connections_are_disconnected() -> None:
    async with StubEngine() as probe:
        url = probe.url
    with pytest.raises(Disconnected):
        await open_session(url, codec="msgpack", token=None, open_timeout=1, receiver=Recorder())


async def test_other_http_refusals_are_disconnected() -> None:
    async with StubEngine(http_status=500) as engine:
        with pytest.raises(Disconnected, match="500"):
            await open_session(
                engine.url, codec="json", token=None, open_timeout=1, receiver=Recorder()
            )


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_refusals(status: int) -> None:
    async with StubEngine(http_status=status) as engine:
        with pytest.raises(AuthenticationError):
            await open_session(
                engine.url, codec="json", token="t", open_timeout=1, receiver=Recorder()
            )


@pytest.mark.parametrize("first", [encode_json(Ping()), "{not json", '{"type": "nosuch"}'])
async def test_hello_must_come_first(first: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(first)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        session = await open_session(
            f"ws://127.0.0.1:{port}", codec="json", token=None, open_timeout=1, receiver=Recorder()
        )
        try:
            with pytest.raises(Disconnected, match="first frame|workerregistered"):
                await session.hello()
        finally:
            await session.aclose()
        with pytest.raises(Disconnected):
            session.send_nowait(Ping())
