"""``iii-observability`` through a real Node: engine::log::*, the /otel intake, listing, triggers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from engine.config import NodeConfig, ObservabilityModuleConfig
from engine.errors import WireError
from engine.modules.observability import ObservabilityModule, baggage_entries, trace_of
from engine.node import Node
from engine.types import Call
from workers.sdk import Context, TriggerBinding, Worker, connect, function

pytestmark = pytest.mark.anyio

SYSTEM = Call("test", role="system")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
DEADLINE = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def node_config(observability: dict[str, Any] | None = None, **engine: Any) -> NodeConfig:
    workers = [] if observability is None else [{"name": "iii-observability", "config": observability}]
    return NodeConfig.model_validate({
        "engine": {"host": "127.0.0.1", "port": 0, "registration_namespace_grace_ms": 0, **engine},
        "workers": workers,
    })


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node(node_config()) as n:
        yield n


def module(node: Node) -> ObservabilityModule:
    mod = node.modules["observability"]
    assert isinstance(mod, ObservabilityModule)
    return mod


class Inbox:
    def __init__(self) -> None:
        self.tx: MemoryObjectSendStream[Any]
        self.rx: MemoryObjectReceiveStream[Any]
        self.tx, self.rx = anyio.create_memory_object_stream[Any](1000)

    async def next(self) -> Any:
        with anyio.fail_after(DEADLINE):
            return await self.rx.receive()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.tx.close()
    box.rx.close()


async def call(node: Node, function_id: str, data: Any = None, who: Call = SYSTEM) -> Any:
    return await node.router.invoke(function_id, data, call=who, timeout=DEADLINE)


def otlp_spans(*spans: tuple[str, str | None, str], service: str = "svc", trace: str = TRACE) -> bytes:
    doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                              "scopeSpans": [{"scope": {"name": "t"}, "spans": [
        {"traceId": trace, "spanId": sid, **({"parentSpanId": parent} if parent else {}), "name": name,
         "kind": 2, "startTimeUnixNano": str(10**18 + i), "endTimeUnixNano": str(10**18 + i + 2_000_000),
         "status": {"code": 0}} for i, (sid, parent, name) in enumerate(spans)]}]}]}
    return b"OTLP" + json.dumps(doc).encode()


def otlp_log(body: str, severity: int = 9, trace: str | None = None) -> bytes:
    record: dict[str, Any] = {"timeUnixNano": "1", "severityNumber": severity, "body": {"stringValue": body}}
    if trace:
        record["traceId"] = trace
    return b"LOGS" + json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode()


class OtelSocket:
    """A client of ``/otel`` whose frames are awaited until the module took them in."""

    def __init__(self, node: Node, ws: ClientConnection) -> None:
        self.node, self.ws = node, ws

    async def send(self, *frames: bytes | str) -> None:
        ingest = module(self.node).ingest
        target = ingest.statistics().finished + len(frames)
        for frame in frames:
            await self.ws.send(frame)
        with anyio.fail_after(DEADLINE):
            await ingest.wait_finished(target)


async def otel(node: Node, token: str | None = None) -> OtelSocket:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return OtelSocket(node, await ws_connect(node.url + "/otel", additional_headers=headers, max_size=None))


# -- engine::log::* --------------------------------------------------------------------------------


async def test_log_functions_store_otel_shaped_records(node: Node) -> None:
    who = Call("x", role="worker", traceparent=f"00-{TRACE}-{PARENT}-01")
    assert await call(node, "engine::log::warn", {"message": "disk low", "data": {"free": 3}}, who) is None
    await call(node, "engine::log::info", {"message": "hi", "data": [1, 2], "service_name": "billing",
                                            "trace_id": "ABC", "span_id": "def"})
    await call(node, "engine::log::debug", {"message": "d"})
    await call(node, "engine::log::trace", {"message": "t"})
    await call(node, "engine::log::error", {"message": "e"})
    listed = await call(node, "engine::logs::list", {"order": "asc"})
    assert listed["total"] == 5 and [r["severity_text"] for r in listed["logs"]] == ["WARN", "INFO", "DEBUG", "TRACE", "ERROR"]
    warn, info = listed["logs"][:2]
    assert (warn["body"], warn["attributes"], warn["severity_number"]) == ("disk low", {"free": 3}, 13)
    assert (warn["trace_id"], warn["span_id"], warn["service_name"]) == (TRACE, PARENT, "agentos")
    assert (info["attributes"], info["service_name"], info["trace_id"], info["span_id"]) == (
        {"data": [1, 2]}, "billing", "abc", "def")
    assert (await call(node, "engine::logs::list", {"level": "error"}))["total"] == 1
    assert (await call(node, "engine::logs::list", {"trace_id": TRACE}))["logs"][0]["body"] == "disk low"
    assert (await call(node, "engine::logs::clear"))["removed"] == 5
    assert (await call(node, "engine::logs::list"))["total"] == 0


@pytest.mark.parametrize("payload", [None, {}, {"message": 5}, {"message": "x", "trace_id": 7},
                                     {"message": "x", "service_name": ""}, "text"])
async def test_bad_log_calls_are_invalid_arguments(node: Node, payload: Any) -> None:
    with pytest.raises(WireError) as info:
        await call(node, "engine::log::info", payload)
    assert info.value.code == "invalid_arguments"


async def test_log_service_defaults_to_the_calling_worker(node: Node) -> None:
    @function("obs::work")
    async def work(data: Any, ctx: Context) -> None:
        await ctx.trigger("engine::log::info", {"message": "from a handler"})

    async with connect(node.url, workers=[Worker("billing-worker", functions=[work])]) as conn:
        await conn.trigger("engine::log::info", {"message": "direct"})
        await conn.trigger("obs::work", {})
    listed = (await call(node, "engine::logs::list", {"order": "asc"}))["logs"]
    assert [(r["body"], r["service_name"]) for r in listed] == [
        ("direct", "billing-worker"), ("from a handler", "billing-worker")]


# -- the log trigger -------------------------------------------------------------------------------------


def recorder(function_id: str, inbox: Inbox, *, log_back: str | None = None) -> Any:
    @function(function_id)
    async def handler(data: Any, ctx: Context) -> None:
        if log_back:  # a handler that logs at the level it listens to: must not feed itself
            await ctx.trigger(f"engine::log::{log_back}", {"message": "echo of " + data["body"]})
        await inbox.tx.send((function_id, data))

    return handler


async def test_log_trigger_fires_bound_functions_by_level(node: Node, inbox: Inbox) -> None:
    worker = Worker("watch", functions=[recorder("watch::all", inbox), recorder("watch::warn", inbox)],
                    triggers=[TriggerBinding("log", "watch::all", {}),
                              TriggerBinding("log", "watch::warn", {"level": "warn"})])
    async with connect(node.url, workers=[worker]) as conn:
        await conn.trigger("engine::log::info", {"message": "fyi", "data": {"k": 1}})
        await conn.trigger("engine::log::warn", {"message": "careful"})
        got = sorted([await inbox.next() for _ in range(3)], key=lambda x: (x[0], x[1]["body"]))
    assert [(fid, event["body"]) for fid, event in got] == [
        ("watch::all", "careful"), ("watch::all", "fyi"), ("watch::warn", "careful")]
    event = got[1][1]
    assert {"timestamp_unix_nano", "severity_number", "severity_text", "body", "attributes", "trace_id",
            "span_id", "service_name"} <= set(event)
    assert (event["severity_text"], event["attributes"], event["service_name"]) == ("INFO", {"k": 1}, "watch")


async def test_a_log_handler_that_logs_does_not_feed_itself(node: Node, inbox: Inbox) -> None:
    worker = Worker("loop", functions=[recorder("loop::echo", inbox, log_back="info")],
                    triggers=[TriggerBinding("log", "loop::echo", {"level": "info"})])
    async with connect(node.url, workers=[worker]) as conn:
        await conn.trigger("engine::log::info", {"message": "first"})
        assert (await inbox.next())[1]["body"] == "first"
        with anyio.fail_after(DEADLINE):
            while module(node).deliveries.statistics().suppressed < 1:  # the echo arrives, not delivered
                await conn.trigger("engine::health::check")  # a round trip per look
        await conn.trigger("engine::log::info", {"message": "second"})
        assert (await inbox.next())[1]["body"] == "second"
    bodies = [r["body"] for r in (await call(node, "engine::logs::list", {"order": "asc"}))["logs"]]
    assert bodies[0] == "first" and "echo of first" in bodies and "echo of echo of first" not in bodies
    assert module(node).deliveries.statistics().delivered == 2


@pytest.mark.parametrize("config", [{"level": "loud"}, {"level": 3}, "warn"])
async def test_bad_log_trigger_configs_are_refused(node: Node, inbox: Inbox, config: Any) -> None:
    async with connect(node.url, workers=[Worker("w", functions=[recorder("w::f", inbox)])]) as conn:
        await conn.bind("log", "w::f", config)
        await conn.trigger("engine::health::check")
        assert not [t for t in node.router.registry.triggers.values() if t.trigger_type == "log"]


async def test_trace_trigger_delivers_matching_spans(node: Node, inbox: Inbox) -> None:
    worker = Worker("tw", functions=[recorder("tw::spans", inbox)],
                    triggers=[TriggerBinding("trace", "tw::spans", {"name": "execute orders::create"})])
    async with connect(node.url, workers=[worker]) as conn:
        sock = await otel(node)
        await sock.send(otlp_spans(("a" * 16, None, "GET /health"), ("b" * 16, None, "execute orders::create")))
        fid, span = await inbox.next()
        assert (fid, span["name"], span["span_id"], span["kind"]) == ("tw::spans", "execute orders::create", "b" * 16, "server")
        await conn.bind("trace", "tw::spans", {"status": 5})  # refused: filters are strings
        await conn.trigger("engine::health::check")
        assert len([t for t in node.router.registry.triggers.values() if t.trigger_type == "trace"]) == 1
        assert module(node).deliveries.statistics().delivered == 1
        await sock.ws.close()


# -- the /otel intake -----------------------------------------------------------------------------------------


async def test_otel_spans_are_listed_and_built_into_a_tree(node: Node) -> None:
    sock = await otel(node)
    root, child, grandchild, other = "a" * 16, "b" * 16, "c" * 16, "d" * 16
    await sock.send(otlp_spans((root, None, "execute orders::create"), (child, root, "execute math::add")),
                    otlp_spans((grandchild, child, "GET /db"), service="db"),
                    otlp_spans((other, None, "execute other::x"), trace="9" * 32))
    listed = await call(node, "engine::traces::list", {"trace_id": TRACE})
    assert listed["total"] == 3 and {s["name"] for s in listed["spans"]} == {
        "execute orders::create", "execute math::add", "GET /db"}
    assert (await call(node, "engine::traces::list", {"service": "db"}))["spans"][0]["span_id"] == grandchild
    assert (await call(node, "engine::traces::list", {"name": "other", "limit": 5}))["total"] == 1
    tree = await call(node, "engine::traces::tree", {"trace_id": TRACE})
    [top] = tree["roots"]
    assert (top["span_id"], top["children"][0]["span_id"], top["children"][0]["children"][0]["span_id"]) == (
        root, child, grandchild)
    metrics = await call(node, "engine::metrics::list")
    by_function = metrics["engine_metrics"]["invocations"]["by_function"]
    assert by_function["math::add"]["count"] == 1 and metrics["engine_metrics"]["invocations"]["total"] == 3
    assert (await call(node, "engine::traces::tree", {"trace_id": "f" * 32})) == {"roots": []}
    assert (await call(node, "engine::traces::clear"))["removed"] == 4
    await sock.ws.close()


async def test_otel_logs_and_metrics_are_stored(node: Node) -> None:
    sock = await otel(node)
    metric = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "iii.worker.cpu", "gauge": {"dataPoints": [{"asDouble": 3.5, "timeUnixNano": "7"}]}}]}]}]}
    await sock.send(otlp_log("from the sdk", 17, TRACE), b"MTRC" + json.dumps(metric).encode())
    [record] = (await call(node, "engine::logs::list"))["logs"]
    assert (record["body"], record["severity_text"], record["trace_id"]) == ("from the sdk", "", TRACE)
    assert (await call(node, "engine::logs::list", {"level": "error"}))["total"] == 1
    points = (await call(node, "engine::metrics::list", {"metric_name": "iii.worker.cpu"}))["sdk_metrics"]
    assert [(p["name"], p["value"]) for p in points] == [("iii.worker.cpu", 3.5)]
    await sock.ws.close()


async def test_hostile_frames_are_dropped_and_the_socket_and_engine_keep_serving(inbox: Inbox) -> None:
    config = node_config({"max_frame_bytes": 4096, "max_pending_bytes": 1 << 20}, max_frame_bytes=64 * 1024)
    async with Node(config) as node:
        sock = await otel(node)
        truncated = otlp_spans(("a" * 16, None, "x"))[:-7]
        await sock.send(b"garbage", b"", "text frame", truncated, b"OTLP[]", b"LOGS" + b"{" * 5000,
                        b"OTLP" + b"x" * 10_000, b"MTRC\xff\xfe", otlp_spans(("e" * 16, None, "survivor")))
        stats = module(node).ingest.statistics()
        assert (stats.dropped_invalid, stats.dropped_oversized, stats.decoded) == (6, 2, 1)
        assert (await call(node, "engine::traces::list"))["spans"][0]["name"] == "survivor"
        # Over the bus's own frame limit: that socket is closed (1009), nothing else is.
        await sock.ws.send(b"OTLP" + b" " * (128 * 1024))
        with anyio.fail_after(DEADLINE), pytest.raises(ConnectionClosed):
            await sock.ws.recv()
        assert sock.ws.close_code == 1009
        again = await otel(node)
        await again.send(otlp_log("still here"))
        assert (await call(node, "engine::logs::list"))["logs"][0]["body"] == "still here"
        async with connect(node.url, workers=[Worker("w", functions=[recorder("w::f", inbox)])]) as conn:
            await conn.trigger("w::f", {"body": "ok"})
            assert (await inbox.next())[1] == {"body": "ok"}
            health = await conn.trigger("engine::health::check")
            assert health["components"]["otel"]["details"]["intake"]["dropped_invalid"] == 6
        await again.ws.close()


async def test_the_intake_backlog_is_bounded() -> None:
    async with Node(node_config({"max_pending_bytes": 1024})) as node:
        intake = module(node).ingest
        frame = otlp_spans(("a" * 16, None, "x"))
        intake.receive_nowait([frame] * 20)  # one read batch: nothing decoded in between
        stats = intake.statistics()
        assert stats.pending_bytes <= 1024 and stats.dropped_backlog == 20 - stats.pending_frames
        with anyio.fail_after(DEADLINE):
            await intake.wait_finished(20)
        assert len(module(node).spans.ring) == stats.pending_frames


async def test_span_sampling_keeps_or_drops_whole_traces() -> None:
    async with Node(node_config({"sampling_ratio": 0.5})) as node:
        sock = await otel(node)
        kept, dropped = "0" * 16 + "7" * 16, "0" * 16 + "f" * 16  # decided by the low 64 bits
        await sock.send(otlp_spans(("a" * 16, None, "x"), ("b" * 16, "a" * 16, "y"), trace=kept),
                        otlp_spans(("c" * 16, None, "z"), trace=dropped))
        assert {s["trace_id"] for s in (await call(node, "engine::traces::list"))["spans"]} == {kept}
        assert module(node).sampled_out == 1
        await sock.ws.close()


# -- realms, health, baggage, config ---------------------------------------------------------------------------


async def test_telemetry_is_realm_scoped(inbox: Inbox) -> None:
    tokens = [{"token": "acme", "role": "worker", "realm": "acme"},
              {"token": "globex", "role": "worker", "realm": "globex"}, {"token": "root", "role": "system"}]
    async with Node(node_config(auth={"tokens": tokens, "allow_open": False})) as node:
        acme_sock = await otel(node, "acme")
        await acme_sock.send(otlp_spans(("a" * 16, None, "acme span")), otlp_log("acme log"))
        worker = Worker("g", functions=[recorder("g::logs", inbox)], triggers=[TriggerBinding("log", "g::logs", {})])
        async with connect(node.url, workers=[worker], token="globex") as globex:
            assert (await globex.trigger("engine::traces::list"))["total"] == 0
            assert (await globex.trigger("engine::logs::list"))["total"] == 0
            assert (await globex.trigger("engine::traces::clear"))["removed"] == 0
            await call(node, "engine::log::info", {"message": "acme only"}, Call("x", role="worker", realm="acme"))
            await globex.trigger("engine::log::info", {"message": "globex's"})
            assert (await inbox.next())[1]["body"] == "globex's"  # acme's log was not delivered here
        async with connect(node.url, workers=[Worker("a", functions=[])], token="acme") as acme:
            assert {s["name"] for s in (await acme.trigger("engine::traces::list"))["spans"]} == {"acme span"}
            assert [r["body"] for r in (await acme.trigger("engine::logs::list", {"order": "asc"}))["logs"]] == [
                "acme log", "acme only"]
        assert (await call(node, "engine::logs::list"))["total"] == 3  # system sees every realm
        await acme_sock.ws.close()


async def test_reading_needs_the_worker_role(node: Node) -> None:
    client = Call("x", role="client")
    await call(node, "engine::log::info", {"message": "clients may log"}, client)
    for fid in ("engine::traces::list", "engine::logs::list", "engine::metrics::list", "engine::logs::clear"):
        with pytest.raises(WireError) as info:
            await call(node, fid, {}, client)
        assert info.value.code == "forbidden"


async def test_health_lists_modules_and_components(node: Node) -> None:
    async with connect(node.url, workers=[Worker("hw", functions=[])]) as conn:
        health = await conn.trigger("engine::health::check")
    assert health["status"] == "ok" and health["workers"] == 1 and health["worker_names"] == ["hw"]
    assert health["modules"] == {"channels": "up", "observability": "up"}
    assert set(health["components"]) == {"otel", "spans", "logs", "metrics"}
    assert health["components"]["logs"]["status"] == "healthy"


async def test_a_module_entered_by_hand_takes_health_over_and_gives_it_back() -> None:
    async with Node(node_config({"enabled": False})) as node:
        plain = await call(node, "engine::health::check")
        assert "modules" not in plain
        async with ObservabilityModule(node) as mod:
            assert mod.router is node.router
            assert "components" in await call(node, "engine::health::check")
        assert set(await call(node, "engine::health::check")) == set(plain)
        with pytest.raises(WireError):
            await call(node, "engine::logs::list")


async def test_retention_and_log_sampling_follow_the_injected_clock() -> None:
    now = [10**18]
    config = ObservabilityModuleConfig(logs_retention_seconds=60, logs_sampling_ratio=0.5,
                                       metrics_retention_seconds=60)
    async with Node(node_config({"enabled": False})) as node, \
            ObservabilityModule(node, config, clock=lambda: now[0]) as mod:
        for n in range(4):  # no trace id: every other record is kept
            await call(node, "engine::log::info", {"message": f"m{n}"})
        assert [r["body"] for r in (await call(node, "engine::logs::list", {"order": "asc"}))["logs"]] == ["m1", "m3"]
        assert mod.sampled_out == 2
        now[0] += 61 * 10**9
        assert (await call(node, "engine::logs::list"))["total"] == 0  # expired
        rules = await call(node, "engine::sampling::rules")
        assert rules["logs"] == {"sampling_ratio": 0.5} and rules["traces"]["default_ratio"] == 1.0


async def test_baggage_functions_read_the_calls_baggage(node: Node) -> None:
    who = Call("x", role="worker", baggage="user=ann%20b;prop=1, tenant = t1,junk")
    assert await call(node, "engine::baggage::get", {"key": "user"}, who) == {"value": "ann b"}
    assert await call(node, "engine::baggage::get", {"key": "nope"}, who) == {"value": None}
    assert (await call(node, "engine::baggage::get_all", None, who))["baggage"]["tenant"] == "t1"
    assert (await call(node, "engine::baggage::set", {"key": "k", "value": "v"}))["success"] is True
    with pytest.raises(WireError):
        await call(node, "engine::baggage::get", {})
    assert baggage_entries(None) == {} and trace_of("garbage") == (None, None)


async def test_disabled_module_registers_nothing_and_otel_still_accepts() -> None:
    async with Node(node_config({"enabled": False})) as node:
        assert "observability" not in node.modules
        with pytest.raises(WireError) as info:
            await call(node, "engine::log::info", {"message": "x"})
        assert info.value.code == "function_not_found"
        async with ws_connect(node.url + "/otel") as ws:
            await ws.send(otlp_log("into the void"))
            await ws.ping()  # answered after the frame was read: the socket is fine
        assert "modules" not in await call(node, "engine::health::check")


async def test_logs_disabled_and_console_output(caplog: pytest.LogCaptureFixture) -> None:
    async with Node(node_config({"logs_enabled": False})) as node:
        await call(node, "engine::log::error", {"message": "dropped"})
        assert (await call(node, "engine::logs::list"))["total"] == 0
    async with Node(node_config({"logs_console_output": True})) as node:
        with caplog.at_level("WARNING", logger="agentos.logs"):
            await call(node, "engine::log::warn", {"message": "to the console", "service_name": "svc"})
        assert "[svc] to the console" in caplog.text
