"""Raw WebSocket clients throw bad input at the engine process; it must answer or close that one
connection, and keep serving everyone else.

Every test ends with :func:`assert_healthy`: a fresh client still gets ``engine::health::check``
answered and the engine process is alive.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

if TYPE_CHECKING:
    from conftest import EngineProcess

MSGPACK = "agentos.msgpack"
MAX_FRAME = 64 * 1024
DEADLINE_S = 5.0
"""Every single answer must come within this (one scaled unit); nothing here sleeps."""


@pytest.fixture
def engine(engine_factory: Callable[..., EngineProcess]) -> EngineProcess:
    return engine_factory(max_frame_bytes=MAX_FRAME)


# -- a raw client ---------------------------------------------------------------------------


class Raw:
    """A bare protocol client: JSON text frames, or msgpack binary frames once negotiated."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.msgpack = ws.subprotocol == MSGPACK

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> Raw:
        ws = await connect(url, **kwargs)
        raw = cls(ws)
        first = await raw.recv()
        assert first["type"] == "workerregistered", first
        return raw

    async def send(self, message: Any) -> None:
        await self.ws.send(msgpack.packb(message) if self.msgpack else json.dumps(message))

    async def recv(self) -> dict[str, Any]:
        with anyio.fail_after(DEADLINE_S):
            frame = await self.ws.recv()
        if self.msgpack:
            assert isinstance(frame, bytes), f"msgpack session got a text frame: {frame!r}"
            return msgpack.unpackb(frame)  # type: ignore[no-any-return]
        assert isinstance(frame, str), f"JSON session got a binary frame: {frame!r}"
        return json.loads(frame)  # type: ignore[no-any-return]

    async def call(self, function_id: str, data: Any = None, *, with_data: bool = True) -> dict[str, Any]:
        """Invoke and return the ``invocationresult``; it must be the very next frame, so anything
        the engine said about earlier frames fails here."""
        inv = str(uuid.uuid4())
        frame: dict[str, Any] = {"type": "invokefunction", "invocation_id": inv, "function_id": function_id}
        if with_data:
            frame["data"] = data
        await self.send(frame)
        answer = await self.recv()
        assert answer["type"] == "invocationresult" and answer["invocation_id"] == inv, answer
        return answer

    async def expect_error(self, code: str = "serialization_error") -> dict[str, Any]:
        answer = await self.recv()
        assert answer["type"] == "error", answer
        assert answer["error"]["code"] == code and answer["error"]["message"], answer
        return answer

    async def close(self) -> None:
        await self.ws.close()


@asynccontextmanager
async def raw_client(url: str, **kwargs: Any) -> AsyncIterator[Raw]:
    """A :class:`Raw` client that is closed (or aborted) however the block ends: a peer left
    open would hold the engine's graceful shutdown for its close timeout."""
    raw = await Raw.open(url, **kwargs)
    try:
        yield raw
    finally:
        with anyio.move_on_after(1):
            await raw.ws.close()
        raw.ws.transport.abort()


async def assert_healthy(engine: EngineProcess) -> None:
    """A fresh client gets ``engine::health::check`` answered, and the process is alive."""
    assert engine.alive(), "the engine process died"
    async with raw_client(engine.url) as raw:
        answer = await raw.call("engine::health::check", {})
        assert answer["result"]["status"] == "ok", answer
    assert engine.alive()


async def health(raw: Raw) -> dict[str, Any]:
    return (await raw.call("engine::health::check", {}))["result"]  # type: ignore[no-any-return]


async def register_metadata(raw: Raw, name: str) -> None:
    """What every iii SDK sends first: the void ``engine::workers::register`` call."""
    await raw.send({"type": "invokefunction", "function_id": "engine::workers::register",
                    "data": {"name": name, "runtime": "raw"}, "action": {"type": "void"}})


# -- frames that do not decode --------------------------------------------------------------


@pytest.mark.parametrize("frame", ["{not json", '{"type": "invokefunction"', "[1, 2, 3]", '"just a string"', "null",
                                   '{"type": 7}'], ids=["broken", "truncated", "array", "string", "null", "int-type"])
async def test_malformed_json_is_answered_and_connection_survives(engine: EngineProcess, frame: str) -> None:
    async with raw_client(engine.url) as raw:
        await raw.ws.send(frame)
        await raw.expect_error()
        assert (await health(raw))["status"] == "ok"  # same connection, still served
    await assert_healthy(engine)


async def test_blank_text_frames_are_skipped(engine: EngineProcess) -> None:
    async with raw_client(engine.url) as raw:
        for frame in ("", "   ", "\n"):
            await raw.ws.send(frame)
        assert (await health(raw))["status"] == "ok"  # no answer came before this one
    await assert_healthy(engine)


GARBAGE = [b"\xc1\xff\x00garbage", b"\x92\x01", msgpack.packb([1, 2, 3]), msgpack.packb({"type": "nope"}),
           msgpack.packb({"function_id": "x"}), b"\xff" * 100]


@pytest.mark.parametrize("subprotocol", [None, MSGPACK], ids=["json-session", "msgpack-session"])
async def test_msgpack_garbage(engine: EngineProcess, subprotocol: str | None) -> None:
    kwargs: dict[str, Any] = {"subprotocols": [subprotocol]} if subprotocol else {}
    async with raw_client(engine.url, **kwargs) as raw:
        assert raw.msgpack is (subprotocol is not None)
        for frame in GARBAGE:
            await raw.ws.send(frame)
            await raw.expect_error()  # in the session's own encoding
        assert (await health(raw))["status"] == "ok"
    await assert_healthy(engine)


async def test_msgpack_session_round_trip(engine: EngineProcess) -> None:
    async with raw_client(engine.url, subprotocols=[MSGPACK]) as raw:
        answer = await raw.call("nope::missing", {"a": b"\x00\x01"})
        assert answer["error"]["code"] == "function_not_found"
        assert (await health(raw))["status"] == "ok"


async def test_telemetry_prefixed_binary_frames_are_ignored(engine: EngineProcess) -> None:
    async with raw_client(engine.url) as raw:
        for prefix in (b"OTLP", b"MTRC", b"LOGS"):
            await raw.ws.send(prefix + b'{"resourceSpans": []}')
            await raw.ws.send(prefix + b"\xff\xfe not even json")
        assert (await health(raw))["status"] == "ok"  # nothing was answered before this
    await assert_healthy(engine)


@pytest.mark.parametrize("message", [
    {"type": "frobnicate"},
    {"type": "INVOKEFUNCTION", "function_id": "engine::health::check", "data": {}},
    {"no_type": True},
    {"type": None},
], ids=["unknown", "wrong-case", "no-type", "null-type"])
async def test_unknown_type(engine: EngineProcess, message: dict[str, Any]) -> None:
    async with raw_client(engine.url) as raw:
        await raw.send(message)
        await raw.expect_error()
        assert (await health(raw))["status"] == "ok"
    await assert_healthy(engine)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", 42, "123e4567-e89b-12d3-a456-42661417400"],
                         ids=["word", "empty", "int", "short"])
async def test_non_uuid_invocation_id(engine: EngineProcess, bad_id: Any) -> None:
    async with raw_client(engine.url) as raw:
        await raw.send({"type": "invokefunction", "invocation_id": bad_id, "function_id": "engine::health::check",
                        "data": {}})
        await raw.expect_error()  # cannot be correlated, so not an invocationresult
        await raw.send({"type": "invocationresult", "invocation_id": bad_id, "function_id": "x", "result": 1})
        await raw.expect_error()
        assert (await health(raw))["status"] == "ok"
    await assert_healthy(engine)


async def test_missing_or_mistyped_fields(engine: EngineProcess) -> None:
    async with raw_client(engine.url) as raw:
        # An invocation that names its id is answered on that id.
        inv = str(uuid.uuid4())
        await raw.send({"type": "invokefunction", "invocation_id": inv, "data": {}})  # no function_id
        answer = await raw.recv()
        assert answer["type"] == "invocationresult" and answer["invocation_id"] == inv, answer
        assert answer["error"]["code"] == "serialization_error"

        for message in (
            {"type": "registerfunction"},
            {"type": "registerfunction", "id": 123},
            {"type": "registertrigger", "id": "t1", "trigger_type": "x"},
            {"type": "invocationresult", "function_id": "x", "result": 1},
            {"type": "invokefunction", "invocation_id": None, "function_id": ["not", "a", "string"]},
            {"type": "reattach"},
            {"type": "invokefunction", "function_id": "x", "action": {"type": "teleport"}},
        ):
            await raw.send(message)
            await raw.expect_error()

        # A call without `data` (what iii-sdk sends for a payload-less call) is a valid call.
        assert (await raw.call("engine::health::check", with_data=False))["result"]["status"] == "ok"
        missing = await raw.call("nope::x", with_data=False)
        assert missing["error"]["code"] == "function_not_found"
        # A result for a call nobody made is dropped without an answer.
        await raw.send({"type": "invocationresult", "invocation_id": str(uuid.uuid4()), "function_id": "x",
                        "result": 1})
        assert (await health(raw))["pending_calls"] == 0
    await assert_healthy(engine)


# -- frames that end a connection -----------------------------------------------------------


async def test_oversized_frame_closes_only_that_connection(engine: EngineProcess) -> None:
    async with raw_client(engine.url) as bystander, raw_client(engine.url) as big:
        # Just under the limit is fine.
        ok = await big.call("engine::health::check", {"pad": "x" * (MAX_FRAME - 1024)})
        assert ok["result"]["status"] == "ok"

        await big.ws.send(json.dumps({"type": "invokefunction", "invocation_id": str(uuid.uuid4()),
                                      "function_id": "engine::health::check",
                                      "data": {"pad": "x" * (MAX_FRAME + 1)}}))
        with pytest.raises(ConnectionClosed) as closed:
            await big.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

        assert (await health(bystander))["status"] == "ok"
    await assert_healthy(engine)


async def test_registration_flood_is_capped_while_others_are_served(engine: EngineProcess) -> None:
    async with raw_client(engine.url) as prober, raw_client(engine.url) as flooder:
        await register_metadata(flooder, "flooder")
        closed = anyio.Event()
        sent = answered = 0
        slowest = 0.0

        async def flood() -> None:
            nonlocal sent
            try:
                for n in range(20_000):
                    await flooder.ws.send(json.dumps({"type": "registerfunction", "id": f"flood::{n}"}))
                    sent += 1
            except ConnectionClosed:
                pass
            await flooder.ws.wait_closed()  # the engine works through the frames, then closes
            closed.set()

        async def probe() -> None:
            nonlocal answered, slowest
            while not closed.is_set():
                started = anyio.current_time()
                assert (await health(prober))["status"] == "ok"  # each within DEADLINE_S
                slowest = max(slowest, anyio.current_time() - started)
                answered += 1

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(flood)
                tg.start_soon(probe)
        assert flooder.ws.close_code == 1008, (flooder.ws.close_code, flooder.ws.close_reason)
        assert sent > 10_000
        assert answered >= 1 and slowest < 2.0, (answered, slowest)

        listed = (await prober.call("engine::functions::list", {"prefix": "flood::"}))["result"]["functions"]
        assert len(listed) <= 10_000
    await assert_healthy(engine)


async def test_registration_cap_counts_live_registrations_not_frames(engine: EngineProcess) -> None:
    """A long-lived worker that binds and unbinds (or re-registers) over time stays connected.

    12,000 registration frames, but never more than one live function: far under the cap.
    """
    async with raw_client(engine.url) as worker:
        await register_metadata(worker, "churner")
        try:
            with anyio.fail_after(60):
                for _ in range(6_000):
                    await worker.send({"type": "registerfunction", "id": "churn::f"})
                    await worker.send({"type": "unregisterfunction", "id": "churn::f"})
                await worker.send({"type": "registerfunction", "id": "churn::f"})
            answer = await worker.call("engine::functions::info", {"function_id": "churn::f"})
        except (ConnectionClosed, TimeoutError):
            with anyio.move_on_after(15):  # only to report how it ended
                await worker.ws.wait_closed()
            pytest.fail("the engine dropped a worker that never held more than one function "
                        f"(close code {worker.ws.close_code}, reason {worker.ws.close_reason!r})")
        assert answer["result"]["function"]["worker_name"] == "churner"
    await assert_healthy(engine)


async def test_registration_cap_closes_promptly_and_stops_reading(engine: EngineProcess) -> None:
    """Once the engine decides to close a flooding connection it must close it at once and stop
    handling its frames. (Closing from inside the read loop stalls: the peer's close frame
    queues behind frames nobody reads, so the close waits out the 10 s close timeout, and every
    frame read meanwhile logs the warning again.)"""
    async with raw_client(engine.url) as flooder:
        await register_metadata(flooder, "flooder")
        started = anyio.current_time()
        with anyio.fail_after(60):
            try:
                for n in range(20_000):
                    await flooder.ws.send(json.dumps({"type": "registerfunction", "id": f"flood::{n}"}))
            except ConnectionClosed:
                pass
            await flooder.ws.wait_closed()
        elapsed = anyio.current_time() - started
        assert flooder.ws.close_code == 1008
    await assert_healthy(engine)  # a round trip after the flood was handled
    assert engine.proc is not None
    log = engine.proc.stderr_path.read_text(errors="replace")
    warnings = log.count("exceeded 10000 registrations")
    assert (warnings, elapsed < 5.0) == (1, True), (
        f"{warnings} 'exceeded 10000 registrations' warnings for one connection; "
        f"closed {elapsed:.1f}s after the flood began")


async def test_reattach_over_a_half_open_connection_is_prompt(engine: EngineProcess) -> None:
    """A worker whose old connection is half-open (the engine has not noticed it is gone)
    reconnects with ``reattach``: the new connection must be served at once, not after the old
    one's close handshake times out."""
    ws = await connect(engine.url)  # by hand: Raw.open would swallow workerregistered's ids
    try:
        registered = json.loads(await ws.recv())
        old = Raw(ws)
        await register_metadata(old, "ghost")
        await old.send({"type": "registerfunction", "id": "ghost::f"})
        assert (await health(old))["workers"] == 1
        ws.transport.pause_reading()  # frozen: it will never answer a close frame

        async with raw_client(engine.url) as new:
            started = anyio.current_time()
            await new.send({"type": "reattach", "previous_worker_id": registered["worker_id"],
                            "reattach_token": registered["reattach_token"]})
            await new.send({"type": "registerfunction", "id": "ghost::f"})
            await register_metadata(new, "ghost")
            try:
                info = (await new.call("engine::functions::info", {"function_id": "ghost::f"}))["result"]
            except TimeoutError:
                pytest.fail(f"the reattached connection was not served within {DEADLINE_S}s")
            elapsed = anyio.current_time() - started
            assert info["function"]["worker_name"] == "ghost"
            assert info["function"]["worker_id"] != registered["worker_id"]
            assert elapsed < 2.0, f"reattach took {elapsed:.1f}s"
    finally:
        ws.transport.abort()
    await assert_healthy(engine)


async def test_many_connections_dropped_abruptly(engine: EngineProcess) -> None:
    limit = anyio.Semaphore(100)

    async def open_and_drop(n: int) -> None:
        async with limit:
            raw = await Raw.open(engine.url)
            if n % 2:  # half of them also hold a worker-name lease and a function
                await register_metadata(raw, f"dropped-{n}")
                await raw.send({"type": "registerfunction", "id": f"dropped::{n}"})
                await raw.call("engine::health::check", {})  # both frames were applied before this
            raw.ws.transport.abort()  # no close frame: a reset connection

    def half_open() -> None:
        # TCP connects that never finish (or even start) the WebSocket upgrade.
        for n in range(20):
            with socket.create_connection(("127.0.0.1", engine.port), timeout=DEADLINE_S) as sock:
                if n % 2:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")

    async with raw_client(engine.url) as observer:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for n in range(500):
                    tg.start_soon(open_and_drop, n)
            await anyio.to_thread.run_sync(half_open)

        # Every dropped session must be cleaned up. Each check is a round trip, not a sleep.
        with anyio.fail_after(20):
            while (stats := await health(observer))["workers"] != 1:
                pass
        assert stats["pending_calls"] == 0
        listed = (await observer.call("engine::functions::list", {"prefix": "dropped::"}))["result"]["functions"]
        assert listed == []

        # Their name leases are gone too: a new worker may take one.
        async with raw_client(engine.url) as again:
            await register_metadata(again, "dropped-1")
            listed = (await again.call("engine::workers::list", {}))["result"]["workers"]
            assert [w["name"] for w in listed if w["name"] == "dropped-1"] == ["dropped-1"]
    await assert_healthy(engine)


async def test_unknown_paths_are_refused_before_upgrade(engine: EngineProcess) -> None:
    for path in ("/nope", "/ws/channels/not-a-channel?key=x&dir=read"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(engine.url + path):
                pass
        assert refused.value.response.status_code == 404
    await assert_healthy(engine)
