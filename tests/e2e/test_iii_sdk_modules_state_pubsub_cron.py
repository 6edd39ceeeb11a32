"""The official iii-sdk 0.25 against our engine process with iii-state, iii-pubsub and iii-cron:
iii-protocol.md §7 scenarios 11 (cron), 12 (state) and 13 (pubsub), plus bad input.

The engine runs with the modules' defaults (sqlite storage in the engine's working directory)
except a small ``max_value_bytes``. Handlers run on the SDK's thread and put what they see on a
``queue.Queue`` that the test reads with a deadline: nothing sleeps to synchronise.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from iii import InvocationError
from iii.iii import III

if TYPE_CHECKING:  # conftest is not importable reliably at run time; it is found as a plugin
    from conftest import EngineProcess

Sdk = Callable[..., III]
MAX_VALUE_BYTES = 4096


def _conftest(request: pytest.FixtureRequest) -> Any:
    """The e2e conftest module, as pytest loaded it (it holds EngineProcess and engine_config)."""
    here = (Path(__file__).parent / "conftest.py").resolve()
    for plugin in request.config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == here:
            return plugin
    raise RuntimeError("tests/e2e/conftest.py is not loaded")


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineProcess]:
    """An engine process with iii-state, iii-pubsub and iii-cron enabled; must exit 0 on SIGTERM."""
    conf = _conftest(request)
    config = conf.engine_config()
    config["workers"] = [
        {"name": "iii-state", "config": {"max_value_bytes": MAX_VALUE_BYTES}},
        {"name": "iii-pubsub", "config": {"adapter": {"name": "local"}}},
        {"name": "iii-cron"},
    ]
    config["data_dir"] = str(tmp_path / "data")
    eng = conf.EngineProcess(tmp_path, config, name="modules-engine")
    try:
        yield eng.start()
    finally:
        if eng.alive():
            rc = eng.stop()
            assert rc == 0, f"engine exited {rc} on SIGTERM\n{eng.proc.stderr_tail() if eng.proc else ''}"
        elif eng.proc is not None:
            eng.proc.kill()


def call(client: III, function_id: str, payload: Any = None) -> Any:
    request: dict[str, Any] = {"function_id": function_id, "timeout_ms": 5000}
    if payload is not None:
        request["payload"] = payload
    return client.trigger(request)


def fails(client: III, function_id: str, payload: Any) -> InvocationError:
    with pytest.raises(InvocationError) as info:
        call(client, function_id, payload)
    return info.value


class Seen:
    """What the SDK-side handlers received, in arrival order."""

    def __init__(self) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()

    def handler(self, name: str) -> Callable[[Any], None]:
        def handle(data: Any) -> None:
            self.items.put((name, data))

        return handle

    def next(self, timeout: float = 5.0) -> tuple[str, Any]:
        try:
            return self.items.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"nothing received within {timeout}s")

    def take(self, n: int) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for _ in range(n):
            name, data = self.next()
            out.setdefault(name, []).append(data)
        return out


def registered(client: III, function_id: str) -> None:
    """Return once the engine applied ``function_id`` (a round trip through the same socket)."""
    listed = call(client, "engine::functions::list", {"prefix": function_id})["functions"]
    assert any(f["function_id"] == function_id for f in listed), listed


# 12 ---------------------------------------------------------------------------------------


def test_state_functions_and_trigger(engine: EngineProcess, sdk: Sdk) -> None:
    client = sdk(engine.url, "state-e2e")
    seen = Seen()
    client.register_function("e2e::state_watch", seen.handler("watch"))
    registered(client, "e2e::state_watch")
    client.register_trigger({"type": "state", "function_id": "e2e::state_watch", "config": {"scope": "e2e"}})

    assert call(client, "state::set", {"scope": "e2e", "key": "k", "value": {"count": 1}}) == {
        "old_value": None, "new_value": {"count": 1}}
    assert call(client, "state::get", {"scope": "e2e", "key": "k"}) == {"count": 1}
    assert call(client, "state::update", {"scope": "e2e", "key": "k",
                                          "ops": [{"type": "increment", "path": "count", "by": 1}]}) == {
        "old_value": {"count": 1}, "new_value": {"count": 2}}
    assert call(client, "state::set", {"scope": "e2e-other", "key": "x", "value": "y"})["old_value"] is None
    assert call(client, "state::list", {"scope": "e2e"}) == [{"count": 2}]
    assert call(client, "state::list_groups", {}) == {"groups": ["e2e", "e2e-other"]}
    assert call(client, "state::delete", {"scope": "e2e", "key": "k"}) == {"count": 2}
    assert call(client, "state::get", {"scope": "e2e", "key": "k"}) is None

    got = [seen.next()[1] for _ in range(3)]
    assert [(e["type"], e["event_type"], e["scope"], e["key"]) for e in got] == [
        ("state", "state:created", "e2e", "k"), ("state", "state:updated", "e2e", "k"),
        ("state", "state:deleted", "e2e", "k")]
    assert (got[0]["old_value"], got[0]["new_value"]) == (None, {"count": 1})
    assert (got[1]["old_value"], got[1]["new_value"]) == ({"count": 1}, {"count": 2})
    assert (got[2]["old_value"], got[2]["new_value"]) == ({"count": 2}, None)


def test_state_bad_input_is_refused_and_disturbs_nothing(engine: EngineProcess, sdk: Sdk) -> None:
    client = sdk(engine.url, "state-bad")
    call(client, "state::set", {"scope": "b", "key": "k", "value": "text"})
    assert call(client, "state::get", {"scope": "nope", "key": "nope"}) is None
    assert fails(client, "state::set", {"scope": "b", "key": "k", "value": "x" * (2 * MAX_VALUE_BYTES)}).code == "VALUE_TOO_LARGE"
    err = fails(client, "state::update", {"scope": "b", "key": "k", "ops": [{"type": "increment"}]})
    assert err.code == "UPDATE_ERROR" and "not a number" in str(err)
    for payload, field in (({"key": "k", "value": 1}, "scope"), ({"scope": "b", "key": 7}, "key"),
                           ({"scope": "b", "key": "k", "ops": "increment"}, "ops"),
                           ({"scope": "b", "key": "k", "ops": [{"type": "explode"}]}, "ops[0].type")):
        fn = "state::update" if "ops" in payload else "state::set"
        err = fails(client, fn, payload)
        assert err.code == "invalid_arguments" and field in str(err)
    assert call(client, "state::cas", {"scope": "b", "key": "k", "expected": "other", "value": 1}) == {
        "ok": False, "current": "text"}
    assert call(client, "state::get", {"scope": "b", "key": "k"}) == "text"


# 13 ---------------------------------------------------------------------------------------


def test_pubsub_two_subscribers_each_get_one_copy(engine: EngineProcess, sdk: Sdk) -> None:
    client = sdk(engine.url, "pubsub-e2e")
    seen = Seen()
    for name in ("a", "b"):
        client.register_function(f"e2e::sub_{name}", seen.handler(name))
        registered(client, f"e2e::sub_{name}")
        client.register_trigger({"type": "subscribe", "function_id": f"e2e::sub_{name}", "config": {"topic": "t"}})
    assert call(client, "publish", {"topic": "t", "data": {"x": 1}}) is None
    assert call(client, "publish", {"topic": "t", "data": {"x": 2}}) is None
    # Per-subscriber order is publish order: a second copy of {x:1} would come before {x:2}.
    assert seen.take(4) == {"a": [{"x": 1}, {"x": 2}], "b": [{"x": 1}, {"x": 2}]}
    assert fails(client, "publish", {"topic": "", "data": 1}).code == "topic_not_set"
    assert fails(client, "publish", {"data": 1}).code == "topic_not_set"


# 11 ---------------------------------------------------------------------------------------


def test_cron_fires_every_second_and_unregister_stops_it(engine: EngineProcess, sdk: Sdk) -> None:
    client = sdk(engine.url, "cron-e2e")
    seen = Seen()
    for name in ("first", "second"):
        client.register_function(f"e2e::cron_{name}", seen.handler(name))
        registered(client, f"e2e::cron_{name}")
    first = client.register_trigger({"type": "cron", "function_id": "e2e::cron_first",
                                     "config": {"expression": "* * * * * *"}})
    name, payload = seen.next(timeout=2.5)
    assert name == "first" and set(payload) == {"trigger", "job_id", "scheduled_time", "actual_time"}
    assert payload["trigger"] == "cron"
    job_id = payload["job_id"]
    listed = call(client, "engine::triggers::list")["triggers"]
    assert [t["function_id"] for t in listed if t["id"] == job_id] == ["e2e::cron_first"]
    scheduled = datetime.fromisoformat(payload["scheduled_time"])
    assert timedelta(0) <= datetime.fromisoformat(payload["actual_time"]) - scheduled < timedelta(seconds=2)

    first.unregister()
    call(client, "engine::health::check")  # a round trip: the unbinding is applied
    stopped_at = datetime.now(UTC)
    assert not [t for t in call(client, "engine::triggers::list")["triggers"] if t["id"] == job_id]
    client.register_trigger({"type": "cron", "function_id": "e2e::cron_second", "config": {"expression": "* * * * * *"}})
    seconds = 0
    while seconds < 2:  # two ticks of the second job span more than one slot of the first
        name, payload = seen.next(timeout=2.5)
        if name == "first":  # sent before the unbinding landed: allowed, but no later slot
            assert datetime.fromisoformat(payload["scheduled_time"]) <= stopped_at
        else:
            seconds += 1


def test_invalid_cron_is_refused(engine: EngineProcess, sdk: Sdk) -> None:
    client = sdk(engine.url, "cron-bad")
    client.register_function("e2e::cron_bad", lambda data: None)
    registered(client, "e2e::cron_bad")
    errors = _Errors()
    logging.getLogger("iii.iii").addHandler(errors)
    try:
        client.register_trigger({"type": "cron", "function_id": "e2e::cron_bad", "config": {"expression": "every minute"}})
        message = errors.wait("Trigger registration failed", 5)
    finally:
        logging.getLogger("iii.iii").removeHandler(errors)
    assert "invalid cron expression" in message
    assert not [t for t in call(client, "engine::triggers::list")["triggers"] if t["trigger_type"] == "cron"]
    assert call(client, "state::get", {"scope": "s", "key": "k"}) is None  # the engine is fine


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []
        self.cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.cond:
            self.messages.append(record.getMessage())
            self.cond.notify_all()

    def wait(self, text: str, timeout: float) -> str:
        with self.cond:
            assert self.cond.wait_for(lambda: any(text in m for m in self.messages), timeout), self.messages
            return next(m for m in self.messages if text in m)
