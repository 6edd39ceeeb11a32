"""The bus listener with a real router: auth on upgrade, the three routes, frame order, shutdown."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from engine.auth import Authenticator
from engine.builtins import install_builtins
from engine.router import Router
from engine.server import BusServer

pytestmark = pytest.mark.anyio

DEADLINE = 5.0
TOKEN = "s3cret-worker-token"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def bus() -> AsyncIterator[BusServer]:
    async with Router() as router:
        await install_builtins(router)
        auth = Authenticator([(TOKEN, "worker", None, "w")])
        async with BusServer(router, auth, host="127.0.0.1", port=0, max_frame_bytes=1 << 20,
                             handshake_timeout_s=5, grace_s=5) as server:
            yield server


def url(bus: BusServer, path: str = "/") -> str:
    return f"ws://127.0.0.1:{bus.port}{path}"


async def recv_json(ws: ClientConnection) -> Any:
    with anyio.fail_after(DEADLINE):
        frame = await ws.recv()
    return msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)


@pytest.mark.parametrize("path", ["/", "/otel"])
async def test_a_bad_token_is_answered_with_an_error_frame_then_1008(bus: BusServer, path: str) -> None:
    async with connect(url(bus, path), additional_headers={"Authorization": "Bearer nope"}) as ws:
        answer = await recv_json(ws)
        assert answer["type"] == "error" and answer["error"]["code"] == "UNAUTHORIZED"
        with pytest.raises(ConnectionClosed), anyio.fail_after(DEADLINE):
            await ws.recv()
        assert ws.close_code == 1008
    assert bus.router.statistics().workers == 0


async def test_otel_frames_are_read_and_dropped(bus: BusServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(url(bus, "/otel"), additional_headers=headers) as otel:
        for _ in range(10):
            await otel.send(b"OTLP" + b"x" * 1000)
        with anyio.fail_after(DEADLINE):
            await (await otel.ping())  # every frame before the ping was read
    assert bus.router.statistics().workers == 0


async def test_frames_of_one_batch_are_applied_in_order(bus: BusServer) -> None:
    """Metadata, a registration and a call that needs it, written at once: the registration and
    the metadata go through the connection's backlog, and the call must wait its turn there."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(url(bus), subprotocols=["agentos.msgpack"], additional_headers=headers) as ws:  # type: ignore[list-item]
        assert (await recv_json(ws))["type"] == "workerregistered"
        inv = str(uuid.uuid4())
        frames = [
            {"type": "invokefunction", "function_id": "engine::workers::register", "data": {"name": "w1"},
             "action": {"type": "void"}},
            {"type": "registerfunction", "id": "order::f"},
            {"type": "invokefunction", "invocation_id": inv, "function_id": "engine::functions::info",
             "data": {"function_id": "order::f"}},
        ]
        for frame in frames:  # websockets writes each frame at once: queue them, write them together
            ws.protocol.send_binary(msgpack.packb(frame))
        ws.transport.write(b"".join(ws.protocol.data_to_send()))
        answer = await recv_json(ws)
        assert answer["type"] == "invocationresult" and answer["invocation_id"] == inv, answer
        assert answer["result"]["function"]["worker_name"] == "w1"


async def test_a_call_between_workers_relays_the_result_frame(bus: BusServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(url(bus), subprotocols=["agentos.msgpack"], additional_headers=headers) as callee, \
            connect(url(bus), additional_headers=headers) as caller:  # type: ignore[list-item]
        await recv_json(callee), await recv_json(caller)
        await callee.send(msgpack.packb({"type": "registerfunction", "id": "echo::f"}))
        await callee.send(msgpack.packb({"type": "invokefunction", "invocation_id": str(uuid.uuid4()),
                                         "function_id": "engine::workers::register", "data": {"name": "callee"}}))
        assert (await recv_json(callee))["result"] == {"success": True}  # registration applied before it
        inv = str(uuid.uuid4())
        await caller.send(json.dumps({"type": "invokefunction", "invocation_id": inv, "function_id": "echo::f",
                                      "data": {"b": "x"}}))
        call = await recv_json(callee)
        assert call["invocation_id"] == inv and call["data"]["b"] == "x" and call["data"]["_caller_worker_id"]
        # The callee (msgpack) answers a JSON caller: re-encoded, not forwarded as bytes.
        await callee.send(msgpack.packb({"type": "invocationresult", "invocation_id": inv, "function_id": "echo::f",
                                         "result": {"ok": True}}))
        with anyio.fail_after(DEADLINE):
            frame = await caller.recv()
        assert isinstance(frame, str) and json.loads(frame)["result"] == {"ok": True}
    assert bus.router.statistics().pending_calls == 0


async def test_leaving_the_server_closes_every_client_with_1001() -> None:
    async with Router() as router:
        server = BusServer(router, Authenticator(), host="127.0.0.1", port=0, max_frame_bytes=1 << 20,
                           handshake_timeout_s=5, grace_s=5)
        async with server:
            client = await connect(url(server))
            assert (await recv_json(client))["type"] == "workerregistered"
            started = anyio.current_time()
        assert anyio.current_time() - started < DEADLINE
        with pytest.raises(ConnectionClosed), anyio.fail_after(DEADLINE):
            await client.recv()
        assert client.close_code == 1001
        assert router.statistics().workers == 0
