"""The official iii-sdk 0.25 against our engine process: its telemetry lands in iii-observability.

The worker with OpenTelemetry on is a subprocess (``iii_workers/otel_worker.py``: iii-sdk's OTel
state is process-global); the caller is this test process with OTel off. The engine is configured
with the legacy ``modules: [{class: modules::observability::OtelModule}]`` form. Telemetry is
flushed by the SDK every 100-200 ms: every wait below is a round trip to the engine repeated
until a deadline, never a sleep.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from iii.iii import III
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

if TYPE_CHECKING:  # conftest is not importable reliably at run time; it is found as a plugin
    from conftest import EngineProcess, Proc

Sdk = Callable[..., III]
DEADLINE_S = 15.0
ENGINE_FRAME_LIMIT = 1024 * 1024
OTEL_FRAME_LIMIT = 256 * 1024


def _conftest(request: pytest.FixtureRequest) -> Any:
    """The e2e conftest module, as pytest loaded it."""
    here = (Path(__file__).parent / "conftest.py").resolve()
    for plugin in request.config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == here:
            return plugin
    raise RuntimeError("tests/e2e/conftest.py is not loaded")


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineProcess]:
    """An engine whose observability module is configured in the legacy class form."""
    conf = _conftest(request)
    config = conf.engine_config(max_frame_bytes=ENGINE_FRAME_LIMIT)
    del config["workers"]
    config["modules"] = [{"class": "modules::observability::OtelModule", "config": {
        "enabled": True, "exporter": "memory", "service_name": "e2e-engine", "max_frame_bytes": OTEL_FRAME_LIMIT}}]
    config["data_dir"] = str(tmp_path / "data")
    eng = conf.EngineProcess(tmp_path, config, name="obs-engine").start()
    yield eng
    if eng.alive():
        rc = eng.stop()
        assert rc == 0, f"engine exited {rc} on SIGTERM\n{eng.proc.stderr_tail() if eng.proc else ''}"
    elif eng.proc is not None:
        eng.proc.kill()


@pytest.fixture
def otel_worker(request: pytest.FixtureRequest, tmp_path: Path, engine: EngineProcess) -> Iterator[Proc]:
    conf = _conftest(request)
    proc = conf.Proc([conf.PYTHON, str(conf.WORKERS / "otel_worker.py"), engine.url, "--name", "obs-worker"],
                     name="otel-worker", log_dir=tmp_path)
    proc.expect("ready", timeout=conf.START_TIMEOUT_S)
    yield proc
    proc.kill()


def call(client: III, function_id: str, payload: Any = None) -> Any:
    request: dict[str, Any] = {"function_id": function_id, "timeout_ms": 5000}
    if payload is not None:
        request["payload"] = payload
    return client.trigger(request)


def until(client: III, function_id: str, payload: dict[str, Any], ready: Callable[[Any], Any]) -> Any:
    """Call ``function_id`` until ``ready(answer)`` is truthy (one round trip per look)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        answer = call(client, function_id, payload)
        if ready(answer):
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{function_id} {payload}: condition not met in {DEADLINE_S}s; last answer {answer!r}")


def span_frame(name: str, trace_id: str = "ab" * 16) -> bytes:
    doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "raw"}}]},
                              "scopeSpans": [{"scope": {"name": "e2e"}, "spans": [
        {"traceId": trace_id, "spanId": "cd" * 8, "name": name, "kind": 1,
         "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns())}]}]}]}
    return b"OTLP" + json.dumps(doc).encode()


def test_sdk_spans_logger_records_and_metrics_are_listed(engine: EngineProcess, otel_worker: Proc,
                                                          sdk: Sdk) -> None:
    b = sdk(engine.url, "obs-caller")
    assert call(b, "obs::work", {"n": 7}) == {"done": 7}

    spans = until(b, "engine::traces::list", {"name": "execute obs::work"}, lambda a: a["total"] >= 1)["spans"]
    span = spans[0]
    assert span["service_name"] == "obs-worker" and span["status"] in ("ok", "unset")
    assert span["duration_ms"] >= 0 and len(span["trace_id"]) == 32

    logs = until(b, "engine::logs::list", {"trace_id": span["trace_id"]}, lambda a: a["total"] >= 1)["logs"]
    [record] = logs
    assert (record["body"], record["severity_text"], record["service_name"]) == ("working", "INFO", "obs-worker")
    assert record["attributes"]["log.data"] == {"n": 7}
    assert record["span_id"] == span["span_id"]  # the Logger ran inside the execute span

    tree = call(b, "engine::traces::tree", {"trace_id": span["trace_id"]})
    assert span["span_id"] in [root["span_id"] for root in tree["roots"]]

    metrics = until(b, "engine::metrics::list", {"metric_name": "obs.work.*", "service": "obs-worker"},
                    lambda a: a["sdk_metrics"])
    point = metrics["sdk_metrics"][0]  # the newest export of the counter
    assert (point["name"], point["type"], point["value"], point["attributes"]) == (
        "obs.work.units", "sum", 7, {"worker": "obs-worker"})
    engine_metrics = metrics["engine_metrics"]
    assert engine_metrics["invocations"]["by_function"]["obs::work"]["count"] >= 1
    assert engine_metrics["workers"]["active"] == 2  # the /otel socket is not a worker

    health = call(b, "engine::health::check")
    assert health["workers"] == 2 and health["modules"]["observability"] == "up"
    assert health["components"]["otel"]["details"]["service_name"] == "e2e-engine"


def test_a_log_trigger_fires_a_bound_function_of_the_sdk(engine: EngineProcess, otel_worker: Proc,
                                                         sdk: Sdk) -> None:
    b = sdk(engine.url, "obs-caller")
    assert call(b, "engine::log::info", {"message": "quiet"}) is None
    assert call(b, "engine::log::warn", {"message": "loud", "data": {"k": 1}}) is None
    event = otel_worker.expect("log_event", timeout=DEADLINE_S)["payload"]
    assert (event["body"], event["severity_text"], event["severity_number"]) == ("loud", "WARN", 13)
    assert (event["attributes"], event["service_name"]) == ({"k": 1}, "obs-caller")
    assert isinstance(event["timestamp_unix_nano"], int) and "trace_id" in event and "span_id" in event
    call(b, "engine::log::error", {"message": "not at warn"})
    call(b, "engine::log::warn", {"message": "second"})
    assert otel_worker.expect("log_event", timeout=DEADLINE_S)["payload"]["body"] == "second"
    bodies = [e["payload"]["body"] for e in otel_worker.events() if e["event"] == "log_event"]
    assert bodies == ["loud", "second"]  # info and error were not for this binding
    listed = call(b, "engine::logs::list", {"level": "warn", "service": "obs-caller", "order": "asc"})
    assert [r["body"] for r in listed["logs"]] == ["loud", "not at warn", "second"]


def test_hostile_otel_frames_are_dropped_and_the_engine_keeps_serving(engine: EngineProcess, otel_worker: Proc,
                                                                      sdk: Sdk) -> None:
    b = sdk(engine.url, "obs-caller")
    with ws_connect(engine.url + "/otel", max_size=None, open_timeout=5) as ws:
        for frame in (b"garbage", "a text frame", b"OTLP", b'OTLP{"resourceSpans": [', b"LOGS" + b"[" * 50_000,
                      b"MTRC" + os.urandom(4096), b"OTLP" + b"x" * (OTEL_FRAME_LIMIT + 1),
                      span_frame("after-garbage")):
            ws.send(frame)
        ws.ping().wait(5)  # the socket is still open and read
        until(b, "engine::traces::list", {"name": "after-garbage"}, lambda a: a["total"] == 1)
        ws.send(b"OTLP" + b" " * (ENGINE_FRAME_LIMIT + 1))  # over the bus's own frame limit
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.protocol.close_code == 1009
    intake = call(b, "engine::health::check")["components"]["otel"]["details"]["intake"]
    assert intake["dropped_invalid"] >= 5 and intake["dropped_oversized"] == 1
    assert engine.alive()
    assert call(b, "obs::work", {"n": 1}) == {"done": 1}
    with ws_connect(engine.url + "/otel", open_timeout=5) as again:
        again.send(span_frame("on-a-new-socket", trace_id="ef" * 16))
        until(b, "engine::traces::list", {"name": "on-a-new-socket"}, lambda a: a["total"] == 1)
    assert {w["name"] for w in call(b, "engine::workers::list")["workers"]} == {"obs-worker", "obs-caller"}
