"""The official iii-sdk 0.25 against our engine process with ``iii-http``: scenarios 10 and 19.

The engine runs as a subprocess with the HTTP module on a fixed free port; handlers are
registered by in-process iii clients (``sdk`` fixture) and called with httpx.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from iii.helpers import create_channel
from iii.iii import III
from iii_helpers.http import http

Sdk = Callable[..., III]
TIMEOUT_MS = 1000
"""The engine's ``default_timeout`` here: a handler slower than this answers 504."""


@pytest.fixture
def http_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An engine process with ``iii-http`` on a free port: ``(bus url, http base url)``."""
    conftest: Any = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    port = conftest.free_port()
    config = conftest.engine_config()
    config["workers"] = [{"name": "iii-http", "config": {"host": "127.0.0.1", "port": port, "default_timeout": TIMEOUT_MS}}]
    config["data_dir"] = str(tmp_path / "data")
    engine = conftest.EngineProcess(tmp_path, config, name="http-engine")
    try:
        engine.start()
        yield engine.url, f"http://127.0.0.1:{port}"
    finally:
        if engine.alive():
            stderr = engine.proc.stderr_tail()
            assert engine.stop() == 0, stderr
        elif engine.proc is not None:
            engine.proc.kill()  # it never got ready (the test has failed already): close its pipes


def applied(client: III) -> None:
    """One round trip: the engine applies a connection's frames in order, so the routes are live."""
    client.trigger({"function_id": "engine::health::check", "timeout_ms": 5000})


def bind(client: III, function_id: str, api_path: str, method: str) -> None:
    client.register_trigger({"type": "http", "function_id": function_id,
                             "config": {"api_path": api_path, "http_method": method}})


def test_http_trigger_round_trip(http_engine: tuple[str, str], sdk: Sdk) -> None:
    """Scenario 10: the handler sees body/method/headers/query_params and its status, headers and
    body come back; ``:id`` params; the 404, 500 and 504 envelopes."""
    url, base = http_engine
    client = sdk(url, "web")
    release = threading.Event()

    async def create(data: dict[str, Any]) -> dict[str, Any]:
        seen = {k: data[k] for k in ("body", "method", "query_params", "path", "path_params")}
        return {"status_code": 201, "body": {**seen, "agent": data["headers"].get("x-agent")}, "headers": {"x-made-by": "iii"}}

    async def user(data: dict[str, Any]) -> dict[str, Any]:
        return {"body": {"id": data["path_params"]["id"], "trigger": data["trigger"]}}

    async def fail(data: dict[str, Any]) -> None:
        raise ValueError("x")

    def slow(data: dict[str, Any]) -> dict[str, Any]:
        release.wait(10)  # sync handlers run in a thread: this one outlives the engine's timeout
        return {"body": "late"}

    for function_id, handler in [("t::create", create), ("t::user", user), ("t::fail", fail), ("t::slow", slow)]:
        client.register_function(function_id, handler)
    bind(client, "t::create", "t/x", "POST")
    bind(client, "t::user", "users/:id", "get")
    bind(client, "t::fail", "/t/fail", "GET")
    bind(client, "t::slow", "/t/slow", "GET")
    applied(client)
    try:
        with httpx.Client(base_url=base, timeout=10) as web:
            r = web.post("/t/x", params={"q": "1"}, json={"a": [1, 2]}, headers={"X-Agent": "007"})
            assert r.status_code == 201 and r.headers["x-made-by"] == "iii"
            assert r.headers["content-type"] == "application/json"
            assert r.json() == {"body": {"a": [1, 2]}, "method": "POST", "query_params": {"q": "1"}, "path": "/t/x",
                                "path_params": {}, "agent": "007"}
            r = web.get("/users/42")
            assert r.json() == {"id": "42", "trigger": {"type": "http", "path": "/users/:id", "method": "GET"}}
            r = web.get("/t/none")
            assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
            r = web.get("/t/fail")
            assert r.status_code == 500
            assert r.json()["error"]["code"] == "invocation_failed" and r.json()["error"]["message"] == "x"
            assert "Traceback" not in r.text
            r = web.get("/t/slow")
            assert r.status_code == 504 and r.json()["error"]["code"] == "TIMEOUT"
    finally:
        release.set()


def test_streaming_response_and_request_body_through_iii_helpers(http_engine: tuple[str, str], sdk: Sdk) -> None:
    """Scenario 19 (HTTP half): ``iii_helpers.http.http`` handlers read the request body from its
    channel and stream the response with ``status``/``headers`` + binary chunks."""
    url, base = http_engine
    client = sdk(url, "streamer")

    async def stream(req: Any, res: Any) -> None:
        body = await req.request_body.read_all()
        await res.status(202)
        await res.headers({"content-type": "text/event-stream", "x-len": str(len(body))})
        for n in range(3):
            await res.writer.write(f"data: {n}\n\n".encode())
        await res.writer.write(hashlib.sha256(body).hexdigest().encode())
        await res.writer.close_async()

    client.register_function("t::stream", http(stream))
    bind(client, "t::stream", "t/stream", "POST")
    applied(client)
    payload = os.urandom(200_000)
    with httpx.Client(base_url=base, timeout=10) as web, web.stream(
            "POST", "/t/stream", content=payload, headers={"content-type": "application/octet-stream"}) as r:
        assert r.status_code == 202
        assert r.headers["content-type"] == "text/event-stream" and r.headers["x-len"] == str(len(payload))
        text = r.read().decode()
    assert text == "data: 0\n\ndata: 1\n\ndata: 2\n\n" + hashlib.sha256(payload).hexdigest()


def test_channel_bytes_from_one_worker_read_intact_by_another(http_engine: tuple[str, str], sdk: Sdk) -> None:
    """Scenario 19: ``create_channel`` bytes written by worker A are read intact by worker B."""
    url, _ = http_engine
    a, b = sdk(url, "writer-a"), sdk(url, "reader-b")

    async def digest(data: dict[str, Any]) -> dict[str, Any]:
        body = await data["reader"].read_all()  # the SDK turned the reference into a ChannelReader
        return {"sha": hashlib.sha256(body).hexdigest(), "len": len(body)}

    b.register_function("b::digest", digest)
    applied(b)
    payload = os.urandom(1024 * 1024)
    channel = create_channel(a)

    async def write() -> None:
        await channel.writer.write(payload)
        await channel.writer.close_async()

    asyncio.run(write())  # the engine buffers the frames until B attaches
    result = a.trigger({"function_id": "b::digest", "payload": {"reader": channel.reader_ref.model_dump()},
                        "timeout_ms": 10_000})
    assert result == {"sha": hashlib.sha256(payload).hexdigest(), "len": len(payload)}
