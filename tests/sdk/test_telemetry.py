"""workers/sdk/telemetry.py: opt-in handler spans, sent to a real node's /otel and listed there."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from engine.config import NodeConfig
from engine.modules.observability import ObservabilityModule
from engine.modules.observability_otlp import decode_frame
from engine.node import Node
from workers.sdk import Call, Context, InvocationError, Worker, connect, function
from workers.sdk.options import resolve_options
from workers.sdk.telemetry import (
    OtelSocketExporter,
    Tracer,
    encode_spans,
    otel_url,
    tracing_enabled,
)

pytestmark = pytest.mark.anyio

DEADLINE = 10
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node(NodeConfig.model_validate({"engine": {"port": 0}})) as running:
        yield running


@pytest.mark.parametrize(("explicit", "env", "expected"), [
    (None, {}, False),
    (None, {"AGENTOS_TRACING": "1"}, True),
    (None, {"AGENTOS_TRACING": "off"}, False),
    (True, {}, True),
    (False, {"AGENTOS_TRACING": "1"}, False),
    (True, {"OTEL_ENABLED": "false"}, False),
    (None, {"AGENTOS_TRACING": "yes", "OTEL_ENABLED": "0"}, False),
])
def test_tracing_is_opt_in_and_otel_enabled_false_wins(explicit: bool | None, env: dict[str, str],
                                                       expected: bool) -> None:
    assert tracing_enabled(explicit, env) is expected
    options = resolve_options("ws://127.0.0.1:1", workers=[], name="w", tracing=explicit, env=env)
    assert options.tracing is expected


@pytest.mark.parametrize(("url", "expected"), [
    ("ws://h:1", "ws://h:1/otel"), ("ws://h:1/", "ws://h:1/otel"), ("wss://h/base?x=1", "wss://h/base/otel?x=1"),
    ("ws://h:1/otel", "ws://h:1/otel"),
])
def test_otel_url(url: str, expected: str) -> None:
    assert otel_url(url) == expected


def test_encoded_spans_decode_in_the_engine() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("outer", kind=SpanKind.SERVER, attributes={"n": 3, "ok": True, "l": [1, 2]}) as outer:
        with tracer.start_as_current_span("inner") as inner:
            inner.add_event("e", {"x": 1.5})
            inner.set_status(Status(StatusCode.ERROR, "bad"))
    spans = [inner, outer]
    batch = decode_frame(encode_spans(spans))  # type: ignore[arg-type]
    got = {s.name: s for s in batch.spans}
    assert batch.skipped == 0 and set(got) == {"outer", "inner"}
    assert got["inner"].parent_span_id == got["outer"].span_id and got["inner"].trace_id == got["outer"].trace_id
    assert got["outer"].to_json()["kind"] == "server" and got["inner"].to_json()["kind"] == "internal"
    assert got["outer"].attributes == {"n": 3, "ok": True, "l": [1, 2]}
    assert (got["inner"].status, got["inner"].status_message) == ("error", "bad")
    assert got["inner"].events[0]["attributes"] == {"x": 1.5}
    assert got["outer"].start_ns > 0 and got["outer"].end_ns >= got["outer"].start_ns
    provider.shutdown()


async def spans_in_engine(node: Node, count: int, **query: Any) -> list[dict[str, Any]]:
    """Wait (on the engine's intake) until ``count`` spans match ``query``."""
    mod = node.modules["observability"]
    assert isinstance(mod, ObservabilityModule)
    with anyio.fail_after(DEADLINE):
        while True:
            finished = mod.ingest.statistics().finished
            listed = await node.router.invoke("engine::traces::list", {"sort_order": "asc", **query})
            if listed["total"] >= count:
                return list(listed["spans"])
            await mod.ingest.wait_finished(finished + 1)


async def test_handled_invocations_become_a_span_tree_in_the_engine(node: Node) -> None:
    seen: dict[str, Any] = {}

    @function("t::outer")
    async def outer(data: Any, ctx: Context) -> Any:
        seen["outer_traceparent"] = ctx.traceparent
        seen["current_trace"] = format(trace.get_current_span().get_span_context().trace_id, "032x")
        return await ctx.trigger("t::inner", {"x": data["x"]})

    @function("t::inner")
    async def inner(data: Any, ctx: Context) -> Any:
        return data["x"] * 2

    @function("t::boom")
    async def boom(data: Any, ctx: Context) -> None:
        raise ValueError("nope")

    worker = Worker("traced", functions=[outer, inner, boom])
    async with connect(node.url, workers=[worker], tracing=True) as traced, \
            connect(node.url, name="caller", workers=[]) as caller:
        assert await caller.trigger("t::outer", {"x": 4}) == 8
        with pytest.raises(InvocationError):
            await caller.trigger("t::boom", {})
        spans = await spans_in_engine(node, 3, service="traced")
        assert traced.statistics().in_flight_handlers == 0
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"execute t::outer", "execute t::inner", "execute t::boom"}
    top, child = by_name["execute t::outer"], by_name["execute t::inner"]
    assert child["parent_span_id"] == top["span_id"] and child["trace_id"] == top["trace_id"]
    assert seen["outer_traceparent"].split("-")[1:3] == [top["trace_id"], top["span_id"]]
    assert seen["current_trace"] == top["trace_id"]
    assert (top["kind"], top["attributes"]["function_id"], top["service_name"]) == ("server", "t::outer", "traced")
    assert (by_name["execute t::boom"]["status"], by_name["execute t::boom"]["status_message"]) == ("error", "nope")
    tree = await node.router.invoke("engine::traces::tree", {"trace_id": top["trace_id"]})
    assert [c["span_id"] for c in tree["roots"][0]["children"]] == [child["span_id"]]
    metrics = await node.router.invoke("engine::metrics::list", {})
    assert metrics["engine_metrics"]["invocations"]["by_function"]["t::boom"]["errors"] == 1


async def test_an_incoming_traceparent_is_the_parent(node: Node) -> None:
    @function("t::child")
    async def child(data: Any, ctx: Context) -> str:
        return ctx.traceparent or ""

    incoming = f"00-{TRACE}-00f067aa0ba902b7-01"
    async with connect(node.url, workers=[Worker("w", functions=[child])], tracing=True), \
            connect(node.url, name="caller", workers=[]) as caller:
        passed_on = await caller.dispatch(Call("t::child", traceparent=incoming))
        [span] = await spans_in_engine(node, 1, trace_id=TRACE)
    assert span["parent_span_id"] == "00f067aa0ba902b7"
    assert passed_on == f"00-{TRACE}-{span['span_id']}-01"  # the handler's calls are its children


async def test_without_tracing_nothing_is_sent(node: Node) -> None:
    @function("t::plain")
    async def plain(data: Any, ctx: Context) -> int:
        return 1

    async with connect(node.url, workers=[Worker("w", functions=[plain])]) as conn:
        assert conn._handlers.tracer is None
        assert await conn.trigger("t::plain") == 1
    mod = node.modules["observability"]
    assert isinstance(mod, ObservabilityModule) and mod.ingest.statistics().received == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_engine_drops_batches_and_backs_off() -> None:
    now = [100.0]
    exporter = OtelSocketExporter(f"ws://127.0.0.1:{closed_port()}", timeout=1.0, clock=lambda: now[0])
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("s") as span:
        pass
    assert exporter.export([span]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert exporter.export([span, span]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert exporter.statistics() == (0, 0, 3, 0, 1)  # the second did not even try: backing off 1 s
    now[0] = 101.5
    exporter.export([span])  # type: ignore[list-item]
    now[0] = 103.0  # the next wait is 2 s
    exporter.export([span])  # type: ignore[list-item]
    assert exporter.statistics() == (0, 0, 5, 0, 2)
    now[0] = 103.6
    exporter.export([span])  # type: ignore[list-item]
    assert exporter.statistics().failed_connects == 3
    exporter.shutdown()
    provider.shutdown()


async def test_a_tracer_sends_to_a_live_engine_and_shuts_down(node: Node) -> None:
    tracer = Tracer(node.url, service_name="direct")
    call = tracer.start("x::y", "inv-1", f"00-{TRACE}-00f067aa0ba902b7-01")
    assert call.traceparent.startswith(f"00-{TRACE}-") and call.traceparent.endswith("-01")
    call.finish()
    assert await anyio.to_thread.run_sync(tracer.flush)
    [span] = await spans_in_engine(node, 1, service="direct")
    assert (span["trace_id"], span["parent_span_id"], span["attributes"]) == (
        TRACE, "00f067aa0ba902b7", {"function_id": "x::y", "invocation_id": "inv-1"})
    await anyio.to_thread.run_sync(tracer.shutdown)
    stats = tracer.exporter.statistics()  # type: ignore[attr-defined]
    assert stats.frames >= 1 and stats.connects == 1 and stats.dropped == 0
