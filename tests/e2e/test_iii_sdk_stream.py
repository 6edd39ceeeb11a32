"""iii-protocol.md §7 scenario 18 with the official iii-sdk 0.25 against our engine process.

``stream::set`` through the SDK's ``trigger``, a client on the stream port (:3112 in iii, a free
port here, read from the readiness line) joins and gets a ``sync`` then ``create``/``update``
events, and a ``stream:join`` trigger bound by the SDK fires with the join.
"""

from __future__ import annotations

import json
import queue
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from iii import InvocationError
from iii.iii import III
from websockets.sync.client import connect as ws_connect

if TYPE_CHECKING:  # conftest is not importable reliably at run time; fixtures hand these out
    from conftest import EngineProcess

STREAM_LINE = re.compile(r"agentos ready .*\bstream=(ws://\S+)")


def e2e_conftest(request: pytest.FixtureRequest) -> ModuleType:
    """The loaded ``tests/e2e/conftest.py`` module (its helpers, without importing it twice)."""
    here = Path(__file__).with_name("conftest.py").resolve()
    for plugin in request.config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == here:
            return plugin  # type: ignore[no-any-return]
    raise LookupError("tests/e2e/conftest.py is not loaded")


@pytest.fixture
def stream_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[EngineProcess, str]]:
    """An engine process with ``iii-stream`` on a free port: ``(engine, stream ws:// url)``."""
    e2e = e2e_conftest(request)
    config = e2e.engine_config(0)
    config["workers"] = [{"name": "iii-stream", "config": {"port": 0}}]
    config["data_dir"] = str(tmp_path / "data")
    engine = e2e.EngineProcess(tmp_path, config, name="stream-engine").start()
    try:
        assert engine.proc is not None
        urls = [m.group(1) for line in engine.proc.lines if (m := STREAM_LINE.search(line))]
        assert urls, f"no stream= in the readiness line: {engine.proc.lines!r}"
        yield engine, urls[0]
    finally:
        if engine.alive():
            rc = engine.stop()
            assert rc == 0, f"engine exited {rc} on SIGTERM\n{engine.proc.stderr_tail() if engine.proc else ''}"
        elif engine.proc is not None:
            engine.proc.kill()


def call(client: III, function_id: str, payload: Any = None) -> Any:
    request: dict[str, Any] = {"function_id": function_id, "timeout_ms": 5000}
    if payload is not None:
        request["payload"] = payload
    return client.trigger(request)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Repeat ``check`` (each try is a round trip to the engine) until it answers truthy."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except InvocationError as exc:
            if exc.code != "function_not_found":
                raise
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what} within {timeout}s")


def recv(ws: Any) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=5))  # type: ignore[no-any-return]


def test_scenario_18_set_join_sync_then_changes_and_join_trigger(
        stream_engine: tuple[EngineProcess, str], sdk: Callable[..., III]) -> None:
    engine, stream_url = stream_engine
    client = sdk(engine.url, "streamer")
    joined: queue.Queue[dict[str, Any]] = queue.Queue()

    def on_join(data: dict[str, Any]) -> dict[str, Any]:
        joined.put(data)
        return {"unauthorized": False}

    client.register_function("streams::on_join", on_join)
    client.register_trigger({"type": "stream:join", "function_id": "streams::on_join", "config": {}})
    wait_until(lambda: call(client, "engine::functions::info", {"function_id": "streams::on_join"}), "on_join registered")
    wait_until(lambda: [t for t in call(client, "engine::registered-triggers::list", {})["triggers"]
                        if t["function_id"] == "streams::on_join" and t["state"] == "active"], "the join trigger bound")

    key = {"stream_name": "chat", "group_id": "room"}
    assert call(client, "stream::set", {**key, "item_id": "m1", "data": {"text": "hi"}}) == {
        "old_value": None, "new_value": {"text": "hi"}}

    with ws_connect(stream_url, open_timeout=5, close_timeout=5) as ws:
        ws.send(json.dumps({"type": "join", "data": {"subscriptionId": "sub-1", "streamName": "chat", "groupId": "room"}}))
        sync = recv(ws)
        assert (sync["type"], sync["streamName"], sync["groupId"], sync["id"]) == ("stream", "chat", "room", None)
        assert sync["event"] == {"type": "sync", "data": [{"text": "hi"}]}
        assert joined.get(timeout=10) == {"subscription_id": "sub-1", "stream_name": "chat", "group_id": "room",
                                          "id": None, "context": None}

        assert call(client, "stream::set", {**key, "item_id": "m1", "data": {"text": "ho"}})["old_value"] == {"text": "hi"}
        call(client, "stream::set", {**key, "item_id": "m2", "data": {"text": "new"}})
        update, create = recv(ws), recv(ws)
        assert (update["id"], update["event"]) == ("m1", {"type": "update", "data": {"text": "ho"}})
        assert (create["id"], create["event"]) == ("m2", {"type": "create", "data": {"text": "new"}})
        assert isinstance(create["timestamp"], int) and create["timestamp"] >= sync["timestamp"]

    assert call(client, "stream::list", key) == [{"text": "ho"}, {"text": "new"}]
    assert call(client, "stream::list_groups", {"stream_name": "chat"}) == ["room"]
