"""The ``iii-http`` module through a real node and our SDK: a worker binds routes, httpx calls them."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest

from engine.config import NodeConfig
from engine.node import Node
from engine.registry import TriggerEntry
from workers.sdk import (
    ChannelError,
    ChannelReader,
    ChannelWriter,
    Connection,
    Context,
    InvocationError,
    Worker,
    connect,
    function,
    http_response,
)

pytestmark = pytest.mark.anyio

Route = tuple[str, str, str] | tuple[str, str, str, dict[str, Any]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Rig:
    node: Node
    conn: Connection
    client: httpx.AsyncClient

    @property
    def open_channels(self) -> int:
        return len(self.node.modules["channels"].channels)


@asynccontextmanager
async def serving(*functions: Any, routes: Sequence[Route] = (), tokens: list[dict[str, Any]] | None = None,
                  worker_token: str | None = None, **http: Any) -> AsyncIterator[Rig]:
    """A node with ``iii-http`` on a free port, a worker serving ``functions`` with ``routes``
    (``(function_id, method, api_path[, extra config])``) bound, and an httpx client."""
    engine: dict[str, Any] = {"port": 0}
    if tokens:
        engine["auth"] = {"tokens": tokens}
    config = NodeConfig.model_validate({"engine": engine, "workers": [{"name": "iii-http", "config": {"port": 0, **http}}]})
    async with Node(config) as node:
        async with connect(node.url, workers=[Worker("web", functions=list(functions))], token=worker_token) as conn:
            for function_id, method, path, *extra in routes:
                await conn.bind("http", function_id, {"api_path": path, "http_method": method, **(extra[0] if extra else {})})
            await applied(conn)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.ports['http']}", timeout=10) as client:
                yield Rig(node, conn, client)


async def applied(conn: Connection) -> None:
    """A round trip: the engine applies a connection's frames in order, so the bindings are live."""
    await conn.trigger("engine::health::check")


@function("t::echo")
async def echo(data: dict[str, Any], ctx: Context) -> dict[str, Any]:
    keep = ("query_params", "path_params", "headers", "path", "method", "body", "raw_body", "trigger")
    return {"body": {**{k: data[k] for k in keep}, "metadata": dict(ctx.metadata), "realm": ctx.realm}}


@function("t::boom")
async def boom(data: dict[str, Any]) -> None:
    raise ValueError("boom")


@function("t::coded")
async def coded(data: dict[str, Any]) -> None:
    raise InvocationError("VALUE_TOO_LARGE", "too large")


# -- requests in, responses out ----------------------------------------------------------------------

async def test_handler_input_matches_iii() -> None:
    async with serving(echo, routes=[("t::echo", "post", "users/:id", {})]) as rig:
        await rig.conn.bind("http", "t::echo", {"api_path": "/meta", "http_method": "GET"}, metadata={"k": 1})
        await applied(rig.conn)
        r = await rig.client.post("/users/a%20b?x=1&y=", json={"n": 1}, headers={"X-Thing": "v"})
        assert r.status_code == 200, r.text
        seen = r.json()
        assert seen["path_params"] == {"id": "a b"}
        assert seen["query_params"] == {"x": "1", "y": ""}
        assert seen["headers"]["x-thing"] == "v" and seen["headers"]["content-type"] == "application/json"
        assert seen["path"] == "/users/:id" and seen["method"] == "POST"
        assert seen["body"] == {"n": 1} and seen["raw_body"] is None
        assert seen["trigger"] == {"type": "http", "path": "/users/:id", "method": "POST"}
        assert seen["realm"] is None
        meta = (await rig.client.get("/meta")).json()
        assert meta["metadata"] == {"k": 1} and meta["body"] is None
        assert rig.open_channels == 0  # nobody touched them: both were dropped with the request


@function("t::raw")
async def raw(data: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body = await ChannelReader.from_ref(ctx, data["request_body"]).read_all()
    return {"body": {"raw_body": data["raw_body"], "body": data["body"], "sha": hashlib.sha256(body).hexdigest(), "len": len(body)}}


async def test_non_json_body_is_raw_text_and_on_the_request_channel() -> None:
    async with serving(raw, routes=[("t::raw", "POST", "raw")]) as rig:
        r = await rig.client.post("/raw", content="héllo", headers={"content-type": "text/plain"})
        assert r.json() == {"raw_body": "héllo", "body": None, "sha": hashlib.sha256("héllo".encode()).hexdigest(), "len": 6}
        r = await rig.client.post("/raw", content=b"\xff\xfe", headers={"content-type": "application/octet-stream"})
        assert r.json()["raw_body"] is None and r.json()["len"] == 2
        r = await rig.client.post("/raw", json={"a": 1})  # JSON bodies are on the channel too
        assert r.json()["body"] == {"a": 1} and r.json()["len"] == len(b'{"a":1}')


@function("t::shaped")
async def shaped(data: dict[str, Any]) -> Any:
    kind = data["query_params"]["kind"]
    if kind == "list-headers":
        return {"status_code": 201, "headers": ["X-One: 1", "Content-Type: text/plain"], "body": "plain"}
    if kind == "injection":
        return {"headers": {"x-bad": "a\r\nset-cookie: x=1", "x-request-id": "mine"}, "body": {}}
    if kind == "bare":
        return ["not", "an", "object"]
    return {"status_code": 418, "headers": {"X-Tea": "pot"}, "body": {"ok": True}}


async def test_status_headers_and_body_out() -> None:
    async with serving(shaped, routes=[("t::shaped", "GET", "shaped")]) as rig:
        r = await rig.client.get("/shaped", params={"kind": "dict"})
        assert (r.status_code, r.headers["x-tea"], r.json()) == (418, "pot", {"ok": True})
        assert r.headers["content-type"] == "application/json"
        r = await rig.client.get("/shaped", params={"kind": "list-headers"})
        assert (r.status_code, r.headers["x-one"], r.headers["content-type"], r.text) == (201, "1", "text/plain", "plain")
        r = await rig.client.get("/shaped", params={"kind": "injection"})
        assert "x-bad" not in r.headers and "set-cookie" not in r.headers
        assert r.headers["x-request-id"] != "mine"  # ours wins
        r = await rig.client.get("/shaped", params={"kind": "bare"})
        assert r.json() == ["not", "an", "object"]
        r = await rig.client.head("/shaped", params={"kind": "dict"})
        assert r.status_code == 418 and r.content == b""


async def test_unknown_route_and_wrong_method() -> None:
    async with serving(echo, routes=[("t::echo", "POST", "only-post")]) as rig:
        r = await rig.client.get("/nowhere")
        assert r.status_code == 404
        assert r.json() == {"error": {"code": "NOT_FOUND", "message": "no route for GET /nowhere"}}
        r = await rig.client.get("/only-post")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_handler_errors_are_500_with_the_handler_code_and_no_stacktrace() -> None:
    async with serving(boom, coded, routes=[("t::boom", "GET", "boom"), ("t::coded", "GET", "coded")]) as rig:
        r = await rig.client.get("/boom")
        assert r.status_code == 500
        error = r.json()["error"]
        assert error["code"] == "invocation_failed" and error["message"] == "boom" and error["error_id"]
        assert "Traceback" not in r.text and "stacktrace" not in r.text
        r = await rig.client.get("/coded")
        assert r.status_code == 500 and r.json()["error"]["code"] == "VALUE_TOO_LARGE"


async def test_a_slow_handler_is_a_504() -> None:
    never = anyio.Event()

    @function("t::slow")
    async def slow(data: dict[str, Any]) -> None:
        await never.wait()

    async with serving(slow, routes=[("t::slow", "GET", "slow")], default_timeout=200) as rig:
        r = await rig.client.get("/slow")
        assert r.status_code == 504 and r.json()["error"]["code"] == "TIMEOUT"
        assert rig.node.router.statistics().pending_calls == 0  # the call was given up, not leaked


async def test_too_large_and_invalid_json() -> None:
    async with serving(echo, routes=[("t::echo", "POST", "in")], max_body_bytes=1000) as rig:
        r = await rig.client.post("/in", content=b"x" * 1001)
        assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunked() -> AsyncIterator[bytes]:  # no content-length: stopped while reading
            for _ in range(100):
                yield b"y" * 100

        r = await rig.client.post("/in", content=chunked())
        assert r.status_code == 413
        r = await rig.client.post("/in", content=b"{nope", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_JSON"
        r = await rig.client.post("/in", content=b"", headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json()["body"] is None


async def test_cors_preflight_and_simple_requests() -> None:
    cors = {"allowed_origins": ["https://app.example"], "allowed_methods": ["GET", "POST"]}
    async with serving(echo, routes=[("t::echo", "POST", "c")], cors=cors) as rig:
        pre = {"origin": "https://app.example", "access-control-request-method": "POST",
               "access-control-request-headers": "content-type"}
        r = await rig.client.options("/c", headers=pre)
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert r.headers["access-control-allow-methods"] == "GET, POST"
        assert r.headers["access-control-allow-headers"] == "content-type"
        r = await rig.client.options("/c", headers={**pre, "origin": "https://evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "CORS_REJECTED"
        r = await rig.client.options("/c", headers={**pre, "access-control-request-method": "DELETE"})
        assert r.status_code == 403
        r = await rig.client.post("/c", json={}, headers={"origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example" and r.headers["vary"] == "origin"
        r = await rig.client.post("/c", json={}, headers={"origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_request_id_and_security_headers_on_every_response() -> None:
    async with serving(echo, routes=[("t::echo", "GET", "e")]) as rig:
        r = await rig.client.get("/e", headers={"x-request-id": "req-123"})
        assert r.headers["x-request-id"] == "req-123" and r.headers["x-content-type-options"] == "nosniff"
        made = [await rig.client.get("/nope", headers={"x-request-id": "bad id!"}), await rig.client.get("/e")]
        ids = {r.headers["x-request-id"] for r in made}
        assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{24,}", i) for i in ids)
        assert all(r.headers["x-content-type-options"] == "nosniff" for r in made)


# -- streaming ------------------------------------------------------------------------------------------

async def test_sse_events_reach_the_client_while_the_handler_runs() -> None:
    first_seen, wrote_last = anyio.Event(), anyio.Event()

    @function("t::sse")
    async def sse(data: dict[str, Any], ctx: Context) -> None:
        async with http_response(ChannelWriter.from_ref(ctx, data["response"])) as res:
            await res.set_status(201)
            await res.set_headers({"x-stream": "yes"})
            await res.sse("tick", {"n": 1})
            await res.sse("tick", {"n": 2}, id="2")
            await first_seen.wait()  # the client must have the first event before the last is written
            wrote_last.set()
            await res.sse(None, "line one\nline two")

    async with serving(sse, routes=[("t::sse", "GET", "events")]) as rig:
        async with rig.client.stream("GET", "/events") as r:
            assert r.status_code == 201
            assert r.headers["content-type"] == "text/event-stream" and r.headers["x-stream"] == "yes"
            assert "content-length" not in r.headers and r.headers["x-request-id"]
            text = ""
            async for chunk in r.aiter_text():
                text += chunk
                if not first_seen.is_set() and text.startswith('event: tick\ndata: {"n":1}\n\n'):
                    assert not wrote_last.is_set()
                    first_seen.set()
        assert text == ('event: tick\ndata: {"n":1}\n\n' 'event: tick\nid: 2\ndata: {"n":2}\n\n'
                        'data: line one\ndata: line two\n\n')
        assert rig.open_channels == 0


async def test_random_megabyte_is_intact_both_ways() -> None:
    @function("t::mirror")
    async def mirror(data: dict[str, Any], ctx: Context) -> None:
        body = await ChannelReader.from_ref(ctx, data["request_body"]).read_all()
        async with http_response(ChannelWriter.from_ref(ctx, data["response"])) as res:
            await res.set_headers({"content-type": "application/octet-stream", "x-sha": hashlib.sha256(body).hexdigest()})
            await res.write(body)

    payload = os.urandom(1024 * 1024)
    async with serving(mirror, routes=[("t::mirror", "PUT", "mirror")]) as rig:
        r = await rig.client.put("/mirror", content=payload)
        assert r.status_code == 200
        assert r.headers["x-sha"] == hashlib.sha256(payload).hexdigest()
        assert r.content == payload


async def test_streamed_head_without_body_and_result_after_close() -> None:
    @function("t::headonly")
    async def headonly(data: dict[str, Any], ctx: Context) -> Any:
        async with http_response(ChannelWriter.from_ref(ctx, data["response"])) as res:
            await res.set_status(202)
            await res.set_headers({"x-only": "head"})
        return None if data["query_params"].get("result") is None else {"status_code": 203, "body": "won"}

    async with serving(headonly, routes=[("t::headonly", "GET", "h")]) as rig:
        r = await rig.client.get("/h")
        assert (r.status_code, r.headers["x-only"], r.content) == (202, "head", b"")
        r = await rig.client.get("/h", params={"result": "1"})
        assert (r.status_code, r.json()) == (203, "won")


async def test_returning_nothing_without_streaming_is_an_empty_200() -> None:
    @function("t::quiet")
    async def quiet(data: dict[str, Any]) -> None:
        return None

    async with serving(quiet, routes=[("t::quiet", "POST", "hook")]) as rig:
        rig.node.modules["http"].app.exchange.no_stream_grace = 0.05  # no writer will come
        r = await rig.client.post("/hook", json={"event": "x"})
        assert (r.status_code, r.content) == (200, b"")
        assert rig.open_channels == 0


async def test_client_disconnect_ends_the_stream_for_the_writer() -> None:
    outcome: list[str] = []
    hung_up, ended = anyio.Event(), anyio.Event()

    @function("t::forever")
    async def forever(data: dict[str, Any], ctx: Context) -> None:
        res = http_response(ChannelWriter.from_ref(ctx, data["response"]))
        try:
            await res.write("first\n")
            await hung_up.wait()
            for _ in range(100_000):  # far more than socket buffers hold: the engine hangs up first
                await res.write(b"x" * 1024)
        except ChannelError:
            outcome.append("reader gone")
        finally:
            ended.set()

    async with serving(forever, routes=[("t::forever", "GET", "f")]) as rig:
        async with rig.client.stream("GET", "/f") as r:
            async for chunk in r.aiter_bytes():
                assert chunk == b"first\n"
                break  # hang up after the first chunk
        hung_up.set()
        with anyio.fail_after(10):
            await ended.wait()
        assert outcome == ["reader gone"]
        assert rig.node.modules["http"].statistics().in_flight == 0


async def test_stopping_the_module_ends_open_streams_and_waiting_requests() -> None:
    forever, plain_entered = anyio.Event(), anyio.Event()

    @function("t::stuck")
    async def stuck(data: dict[str, Any], ctx: Context) -> None:
        if data["query_params"].get("stream"):
            await http_response(ChannelWriter.from_ref(ctx, data["response"])).write("hello\n")
        else:
            plain_entered.set()
        await forever.wait()

    async with serving(stuck, routes=[("t::stuck", "GET", "stuck")]) as rig:
        app = rig.node.modules["http"].app
        async with rig.client.stream("GET", "/stuck", params={"stream": "1"}) as r:
            chunks = r.aiter_bytes()
            assert await chunks.__anext__() == b"hello\n"
            answers: list[httpx.Response] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: _append(answers, rig.client.get("/stuck")))
                await plain_entered.wait()
                assert len(app.active) == 2  # both requests are in flight
                app.close()
            assert [c async for c in chunks] == []  # the stream ended cleanly
        assert answers[0].status_code == 503 and answers[0].json()["error"]["code"] == "SHUTTING_DOWN"


async def _append(into: list[httpx.Response], request: Any) -> None:
    into.append(await request)


# -- bindings, auth, conditions -------------------------------------------------------------------------

async def test_bad_and_conflicting_bindings_are_refused() -> None:
    async with serving(echo, routes=[("t::echo", "GET", "users/:id")]) as rig:
        router = rig.node.router
        for trigger_id, config in [("bad1", {"http_method": "GET"}), ("bad2", {"api_path": "x", "http_method": "FETCH"}),
                                   ("dup", {"api_path": "/users/:uid", "http_method": "get"})]:
            await router.add_trigger(TriggerEntry(trigger_id, "http", "t::echo", config, None))
            assert trigger_id not in router.registry.triggers
        assert (await rig.client.get("/users/7")).json()["body"] is None  # the first binding still serves
        binding = await rig.conn.bind("http", "t::echo", {"api_path": "later", "http_method": "GET"})
        await applied(rig.conn)
        assert (await rig.client.get("/later")).status_code == 200
        await binding.unregister()
        await applied(rig.conn)
        assert (await rig.client.get("/later")).status_code == 404
        assert rig.node.modules["http"].statistics().routes == 1


async def test_routes_go_when_their_worker_leaves() -> None:
    async with serving(routes=[]) as rig:
        async with connect(rig.node.url, workers=[Worker("other", functions=[echo])]) as other:
            await other.bind("http", "t::echo", {"api_path": "gone", "http_method": "GET"})
            await applied(other)
            assert (await rig.client.get("/gone")).status_code == 200
        await applied(rig.conn)  # the engine has processed the other worker's departure
        assert (await rig.client.get("/gone")).status_code == 404


async def test_bearer_tokens_and_realms() -> None:
    tokens = [{"token": "wtok", "role": "worker"}, {"token": "acme-key", "role": "client", "realm": "acme"}]
    async with serving(echo, routes=[("t::echo", "GET", "me")], tokens=tokens, worker_token="wtok") as rig:
        r = await rig.client.get("/me")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
        assert r.headers["www-authenticate"] == "Bearer"
        r = await rig.client.get("/me", headers={"authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = await rig.client.get("/me", headers={"authorization": "Bearer acme-key"})
        assert r.status_code == 200 and r.json()["realm"] == "acme"


async def test_condition_function_gates_the_handler() -> None:
    @function("t::cond")
    async def cond(data: dict[str, Any]) -> bool:
        assert "response" not in data and "request_body" not in data
        return bool(data["query_params"].get("ok"))

    async with serving(echo, cond, routes=[("t::echo", "GET", "gated", {"condition_function_id": "t::cond"})]) as rig:
        r = await rig.client.get("/gated")
        assert r.status_code == 422
        assert r.json() == {"error": {"code": "CONDITION_NOT_MET", "message": "condition t::cond not met"}, "skipped": True}
        assert (await rig.client.get("/gated", params={"ok": "1"})).status_code == 200


async def test_global_middleware_may_answer_for_the_handler() -> None:
    @function("t::guard")
    async def guard(data: dict[str, Any]) -> dict[str, Any]:
        assert data["phase"] == "preHandler" and data["request"]["method"] == "GET"
        if data["request"]["headers"].get("x-key") == "open":
            return {"action": "continue"}
        return {"action": "respond", "response": {"status_code": 403, "body": {"denied": True}}}

    middleware = [{"function_id": "t::guard", "priority": 1}]
    async with serving(echo, guard, routes=[("t::echo", "GET", "mw")], middleware=middleware) as rig:
        r = await rig.client.get("/mw")
        assert (r.status_code, r.json()) == (403, {"denied": True})
        assert (await rig.client.get("/mw", headers={"x-key": "open"})).status_code == 200


async def test_concurrency_limit_answers_503() -> None:
    entered, release = anyio.Event(), anyio.Event()

    @function("t::hold")
    async def hold(data: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        await release.wait()
        return {"body": "done"}

    async with serving(hold, routes=[("t::hold", "GET", "hold")], concurrency_request_limit=1) as rig:
        results: list[httpx.Response] = []

        async def first() -> None:
            results.append(await rig.client.get("/hold"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await entered.wait()
            r = await rig.client.get("/hold")
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.json()["error"]["code"] == "OVERLOADED"
            release.set()
        assert results[0].json() == "done"
        assert rig.node.modules["http"].statistics().overloaded == 1


def test_statistics_are_a_named_tuple() -> None:
    from engine.modules.http import HttpStatistics

    assert HttpStatistics._fields == ("routes", "in_flight", "requests", "overloaded")


async def test_port_in_use_names_the_address() -> None:
    async with serving() as rig:
        taken = rig.node.ports["http"]
        config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [{"name": "iii-http", "config": {"port": taken}}]})
        with pytest.raises(OSError, match=rf"\('127.0.0.1', {taken}\)"):
            async with Node(config):
                pass


async def test_open_mode_serves_other_machines_as_anonymous_clients() -> None:
    # engine::register_trigger needs the worker role: a loopback request in open mode has it
    # (system), a request from another machine must not.
    async with serving(routes=[("engine::register_trigger", "POST", "/bind")]) as rig:
        app = rig.node.modules["http"].app
        for client, refused in ((("127.0.0.1", 5000), False), (("10.9.8.7", 5000), True)):
            transport = httpx.ASGITransport(app=app, client=client)
            async with httpx.AsyncClient(transport=transport, base_url="http://agentos") as remote:
                answer = await remote.post("/bind", json={})
            assert (answer.status_code == 403) is refused, (client, answer.text)
