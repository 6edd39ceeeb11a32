"""The official iii-sdk 0.25 against our engine process: iii-protocol.md §7 conformance scenarios.

Worker A is a subprocess (``iii_workers/sdk_worker.py``) that prints what its handlers see as
JSON lines; worker B is this test process (``iii.register_worker``, its own loop thread).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from iii import InitOptions, InvocationError, RegistrationRejectedError, TriggerAction
from iii.iii import III
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:  # conftest is not importable reliably at run time; fixtures hand these out
    from conftest import EngineProcess, WorkerProcess

Spawn = Callable[..., "WorkerProcess"]
Sdk = Callable[..., III]


def call(client: III, function_id: str, payload: Any = None, **request: Any) -> Any:
    """``client.trigger`` with a short default timeout, so a dropped frame fails fast."""
    req: dict[str, Any] = {"function_id": function_id, "timeout_ms": 5000, **request}
    if payload is not None:
        req["payload"] = payload
    return client.trigger(req)


def prove_registered(client: III, function_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """Return ``engine::functions::info`` of a function once the engine applied it for ``client``.

    The call may overtake the client's metadata frame (which ends the engine's namespace
    buffering), so ``function_not_found`` is retried after that round trip, up to the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            info: dict[str, Any] = call(client, "engine::functions::info", {"function_id": function_id})["function"]
        except InvocationError as exc:
            if exc.code != "function_not_found" or time.monotonic() > deadline:
                raise
            continue
        assert info["worker_id"] == client.worker_id, info
        return info


class StateWatch:
    """Connection states of an in-process client, awaitable (``add_connection_state_listener``)."""

    def __init__(self, client: III) -> None:
        self.states: list[str] = []
        self._cond = threading.Condition()
        self.unsubscribe = client.add_connection_state_listener(self._on)

    def _on(self, state: str) -> None:
        with self._cond:
            self.states.append(state)
            self._cond.notify_all()

    def wait_for(self, state: str, timeout: float, *, after: int = 0) -> int:
        """Wait until ``state`` is seen at an index >= ``after``; return that index."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(after, len(self.states)):
                    if self.states[i] == state:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"connection state {state!r} not reached in {timeout}s: {self.states}")
                self._cond.wait(left)


def workers(client: III) -> dict[str, dict[str, Any]]:
    """``engine::workers::list`` keyed by worker id."""
    return {w["id"]: w for w in call(client, "engine::workers::list")["workers"]}


def health(client: III) -> dict[str, Any]:
    return call(client, "engine::health::check")  # type: ignore[no-any-return]


# 1 ----------------------------------------------------------------------------------------


def test_connect_and_worker_metadata(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="meta-a")
    b = sdk(engine_proc.url, "meta-b", worker_description="the test process")
    assert b.get_connection_state() == "connected"
    listed = workers(b)

    assert str(uuid.UUID(a.worker_id)) == a.worker_id
    assert listed[a.worker_id]["name"] == "meta-a"
    assert listed[a.worker_id]["runtime"] == "python"
    assert listed[a.worker_id]["pid"] == a.pid
    assert "math::add" in listed[a.worker_id]["functions"]
    assert b.worker_id is not None and str(uuid.UUID(b.worker_id)) == b.worker_id
    assert listed[b.worker_id]["name"] == "meta-b"
    assert listed[b.worker_id]["runtime"] == "python"
    assert listed[b.worker_id]["description"] == "the test process"


# 2 ----------------------------------------------------------------------------------------


def test_cross_worker_call_carries_caller_id(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="add-a")
    b = sdk(engine_proc.url, "add-b")

    assert call(b, "math::add", {"a": 2, "b": 3}) == {"sum": 5}

    seen = a.expect("call", fn="math::add")
    assert seen["data"]["a"] == 2 and seen["data"]["b"] == 3
    assert seen["caller"] == b.worker_id
    assert workers(b)[b.worker_id]["name"] == "add-b"


# 3 ----------------------------------------------------------------------------------------


def test_metadata_sidecar_reaches_handler(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="side-a")
    b = sdk(engine_proc.url, "side-b")

    assert call(b, "math::meta", {"x": 1}, metadata={"k": 1}) == {"metadata": {"k": 1}}
    assert a.expect("call", fn="math::meta")["metadata"] == {"k": 1}


# 4 ----------------------------------------------------------------------------------------


def test_handler_error_propagates(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    spawn_worker(engine_proc.url, "core", name="err-a")
    b = sdk(engine_proc.url, "err-b")

    with pytest.raises(InvocationError) as info:
        call(b, "math::boom", {})
    assert info.value.code == "invocation_failed"
    assert info.value.message == "x"
    assert info.value.stacktrace and "ValueError" in info.value.stacktrace
    assert call(b, "math::add", {"a": 1, "b": 1}) == {"sum": 2}  # the worker keeps serving


# 5 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [{"q": 1}, None], ids=["with-data", "no-data-key"])
def test_unknown_function_is_function_not_found(engine_proc: EngineProcess, sdk: Sdk, payload: Any) -> None:
    b = sdk(engine_proc.url, "nf-b")
    started = time.monotonic()
    with pytest.raises(InvocationError) as info:
        call(b, "nope::x", payload, timeout_ms=3000)  # None → the SDK sends no `data` key at all
    assert info.value.code == "function_not_found"
    assert time.monotonic() - started < 1.0, "not found must be answered, not timed out"


# 6 ----------------------------------------------------------------------------------------


def test_void_runs_exactly_once(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="void-a")
    b = sdk(engine_proc.url, "void-b")
    nonce = uuid.uuid4().hex

    started = time.monotonic()
    assert b.trigger({"function_id": "math::void", "payload": {"nonce": nonce}, "action": TriggerAction.Void()}) is None
    assert time.monotonic() - started < 0.5
    a.expect("void_run", nonce=nonce)

    # A duplicate delivery would reach A's socket before the first mark call; the SDK schedules
    # its (async) handler before it can read the second mark, so it would print before mark 2.
    assert call(b, "math::mark", {"n": 1}) == {"n": 1}
    assert call(b, "math::mark", {"n": 2}) == {"n": 2}
    a.expect("mark", n=2)
    runs = [e for e in a.events() if e["event"] == "void_run" and e.get("nonce") == nonce]
    assert len(runs) == 1, runs


# 7 ----------------------------------------------------------------------------------------


def test_client_timeout_and_late_result(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="slow-a")
    b = sdk(engine_proc.url, "slow-b")

    started = time.monotonic()
    with pytest.raises(InvocationError) as info:
        call(b, "math::slow", {}, timeout_ms=300)
    elapsed = time.monotonic() - started
    assert info.value.code == "TIMEOUT"
    assert 0.25 < elapsed < 1.5
    a.expect("slow_started")
    assert health(b)["pending_calls"] == 1, "no engine-side timeout: the call is still routed to A"

    # A answers the slow call late; its result frame precedes this answer on A's socket.
    assert call(b, "math::release", {}) == {"released": 1}
    assert health(b)["pending_calls"] == 0
    assert call(b, "math::add", {"a": 20, "b": 22}) == {"sum": 42}
    assert engine_proc.alive()


# 8 ----------------------------------------------------------------------------------------


def test_target_killed_mid_call(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="kill-a", otel=False)
    b = sdk(engine_proc.url, "kill-b")
    outcome: dict[str, Any] = {}

    def blocked_call() -> None:
        try:
            outcome["result"] = call(b, "math::block", {}, timeout_ms=10_000)
        except InvocationError as exc:
            outcome["error"] = exc
        outcome["at"] = time.monotonic()

    caller = threading.Thread(target=blocked_call)
    caller.start()
    a.expect("block_started")
    killed_at = time.monotonic()
    a.kill()
    caller.join(5)
    assert not caller.is_alive(), "the caller was never answered"

    assert "error" in outcome, outcome
    assert outcome["error"].code == "invocation_stopped"
    assert outcome["at"] - killed_at < 1.0, f"answered {outcome['at'] - killed_at:.2f}s after the kill"
    with pytest.raises(InvocationError) as info:
        call(b, "math::block", {})
    assert info.value.code == "function_not_found"
    assert a.worker_id not in workers(b)
    assert health(b)["pending_calls"] == 0


# 9 ----------------------------------------------------------------------------------------


def test_engine_restart_workers_reattach(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk,
                                         wait_listed: Callable[[III, str], None]) -> None:
    a = spawn_worker(engine_proc.url, "core", name="re-a", reconnect_ms=100)
    b = sdk(engine_proc.url, "re-b")
    watch = StateWatch(b)
    assert call(b, "math::add", {"a": 1, "b": 2}) == {"sum": 3}
    seen = len(watch.states)

    engine_proc.kill()
    lost = watch.wait_for("disconnected", 10, after=seen)
    engine_proc.restart()

    # Waiting for a reconnect: the SDKs retry with exponential backoff (100 ms base here).
    watch.wait_for("connected", 20, after=lost)
    a.expect("reattached", timeout=20)
    assert call(b, "math::add", {"a": 2, "b": 3}) == {"sum": 5}
    assert a.expect("call", fn="math::add", caller=b.worker_id)["data"]["a"] == 2
    wait_listed(b, "re-b")  # B's replayed metadata may trail its first call
    assert {w["name"] for w in workers(b).values()} == {"re-a", "re-b"}


# 10 ---------------------------------------------------------------------------------------


class _Records(logging.Handler):
    """Collects the SDK's log records; ``wait(text)`` blocks until one contains ``text``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.cond:
            self.messages.append(record.getMessage())
            self.cond.notify_all()

    def wait(self, text: str, timeout: float) -> str:
        with self.cond:
            found = self.cond.wait_for(lambda: any(text in m for m in self.messages), timeout)
            assert found, f"no log record containing {text!r}: {self.messages}"
            return next(m for m in self.messages if text in m)


def test_function_owned_by_another_live_worker(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="own-a")
    b = sdk(engine_proc.url, "own-b")
    records = _Records()
    logging.getLogger("iii.iii").addHandler(records)
    try:
        intruder = sdk(engine_proc.url, "own-intruder")
        intruder.register_function("math::add", lambda data: {"sum": "hijacked"})
        intruder.register_function("own::other", lambda data: {"other": True})
        message = records.wait("FUNCTION_NAMESPACE_CONFLICT", 5)
    finally:
        logging.getLogger("iii.iii").removeHandler(records)

    assert "math::add" in message and a.worker_id in message
    prove_registered(intruder, "own::other")  # the intruder keeps its other exports
    assert intruder.get_connection_state() == "connected"
    info = call(b, "engine::functions::info", {"function_id": "math::add"})["function"]
    assert info["worker_id"] == a.worker_id
    assert call(b, "math::add", {"a": 3, "b": 4}) == {"sum": 7}
    assert a.expect("call", fn="math::add")["caller"] == b.worker_id
    assert call(b, "own::other", {}) == {"other": True}


def test_same_worker_name_is_rejected_without_reconnecting(engine_proc: EngineProcess, spawn_worker: Spawn,
                                                          sdk: Sdk, shutdown_client: Callable[[III], None]) -> None:
    a = spawn_worker(engine_proc.url, "core", name="twin")
    b = sdk(engine_proc.url, "twin-observer")
    twin = III(engine_proc.url, InitOptions(worker_name="twin", otel={"enabled": False}))
    try:
        watch = StateWatch(twin)
        watch.wait_for("failed", 10)
        with pytest.raises(RegistrationRejectedError) as info:
            twin.trigger({"function_id": "math::add", "payload": {"a": 1, "b": 1}})
        assert info.value.code == "WORKER_NAMESPACE_CONFLICT"
        assert info.value.worker_name == "twin"
        assert info.value.owner_worker_id == a.worker_id

        # No reconnect loop: after a full round trip elsewhere it is still `failed`, the engine
        # holds no second "twin", and the SDK has no reconnect task running.
        listed = workers(b)
        assert [w["id"] for w in listed.values() if w["name"] == "twin"] == [a.worker_id]
        assert twin.get_connection_state() == "failed"
        assert watch.states.count("connected") <= 1 and "reconnecting" not in watch.states
        task = twin._reconnect_task  # private, read only: the one way to see a pending retry
        assert task is None or task.done()
    finally:
        shutdown_client(twin)
    assert call(b, "math::add", {"a": 1, "b": 1}) == {"sum": 2}  # the first keeps serving


# 11 ---------------------------------------------------------------------------------------


def test_namespaces(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "orders", name="ns-a", namespace="orders")
    b = sdk(engine_proc.url, "ns-b")

    with pytest.raises(InvocationError) as info:
        call(b, "o::f", {"x": 1})
    assert info.value.code == "function_not_found"
    assert call(b, "o::f", {"x": 2}, namespace="orders") == {"ns": "orders", "echo": 2}
    assert a.expect("call", fn="o::f")["data"]["x"] == 2
    assert workers(b)[a.worker_id]["namespace"] == "orders"


# 12 ---------------------------------------------------------------------------------------


def test_custom_trigger_type_lifecycle(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    b = sdk(engine_proc.url, "hook-b")
    received: list[Any] = []

    def target(data: Any) -> dict[str, Any]:
        received.append(data)
        return {"got": data["body"]}

    b.register_function("hook::target", target)
    prove_registered(b, "hook::target")
    # Bound BEFORE any worker provides the type: parked, then delivered when it appears.
    binding = b.register_trigger({"type": "webhook", "function_id": "hook::target", "config": {"path": "/in"}})
    listed = [t for t in call(b, "engine::triggers::list")["triggers"] if t["trigger_type"] == "webhook"]
    assert len(listed) == 1 and listed[0]["state"] == "parked"
    trigger_id = listed[0]["id"]

    a = spawn_worker(engine_proc.url, "webhook", name="hook-a")
    got = a.expect("trigger_registered", id=trigger_id)
    assert got["function_id"] == "hook::target" and got["config"] == {"path": "/in"}

    body = {"n": 1, "_caller_worker_id": b.worker_id}  # B called A's fire: the engine says who
    assert call(b, "webhook::fire", {"n": 1}) == {"fired": {trigger_id: {"got": body}}}
    assert received[-1]["body"] == body and received[-1]["config"] == {"path": "/in"}
    assert received[-1]["_caller_worker_id"] == a.worker_id  # A fired the bound function

    # The provider goes away and comes back: the binding is delivered again.
    a.kill()
    a2 = spawn_worker(engine_proc.url, "webhook", name="hook-a")
    a2.expect("trigger_registered", id=trigger_id)
    fired = call(b, "webhook::fire", {"n": 2})["fired"]
    assert list(fired) == [trigger_id] and fired[trigger_id]["got"]["n"] == 2
    assert received[-1]["_caller_worker_id"] == a2.worker_id

    binding.unregister()
    a2.expect("trigger_unregistered", id=trigger_id)
    assert call(b, "webhook::fire", {"n": 3}) == {"fired": {}}
    assert not [t for t in call(b, "engine::triggers::list")["triggers"] if t["id"] == trigger_id]


def test_custom_trigger_type_refusal_and_owner_leaving(engine_proc: EngineProcess, spawn_worker: Spawn,
                                                      sdk: Sdk, shutdown_client: Callable[[III], None]) -> None:
    a = spawn_worker(engine_proc.url, "webhook", name="hook2-a")
    b = sdk(engine_proc.url, "hook2-b")
    b.register_function("hook2::target", lambda data: {"ok": True})
    prove_registered(b, "hook2::target")

    # The provider refuses a binding: its error reaches the binding's owner (the SDK logs it).
    records = _Records()
    logging.getLogger("iii.iii").addHandler(records)
    try:
        b.register_trigger({"type": "webhook", "function_id": "hook2::target", "config": {"reject": "this one"}})
        refused = a.expect("trigger_rejected")
        message = records.wait("Trigger registration failed", 5)
    finally:
        logging.getLogger("iii.iii").removeHandler(records)
    assert refused["id"] in message and "webhook refuses this one" in message
    states = {t["id"]: t["state"] for t in call(b, "engine::triggers::list")["triggers"]}
    assert states.get(refused["id"]) in (None, "parked")
    assert call(b, "webhook::fire", {}) == {"fired": {}}

    # A binding's owner disconnects: the provider is told to unregister it.
    c = sdk(engine_proc.url, "hook2-c")
    c.register_trigger({"type": "webhook", "function_id": "hook2::target", "config": {"from": "c"}})
    bound = a.expect("trigger_registered", config={"from": "c"})
    assert list(call(b, "webhook::fire", {})["fired"]) == [bound["id"]]
    shutdown_client(c)
    a.expect("trigger_unregistered", id=bound["id"])
    assert call(b, "webhook::fire", {}) == {"fired": {}}


# 13 ---------------------------------------------------------------------------------------


def _tcp_peers(pid: int, port: int) -> int:
    """How many established TCP connections process ``pid`` holds to 127.0.0.1:``port``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and inode in inodes and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


def test_otel_socket_never_disturbs_workers(engine_proc: EngineProcess, spawn_worker: Spawn, sdk: Sdk) -> None:
    a = spawn_worker(engine_proc.url, "core", name="otel-a", otel=True)
    a.expect("otel_connected")  # the SDK's own log: its /otel socket is up
    b = sdk(engine_proc.url, "otel-b")

    for n in range(5):  # spans from these runs are flushed to /otel every 100 ms
        assert call(b, "math::add", {"a": n, "b": 1}) == {"sum": n + 1}
    with pytest.raises(InvocationError):
        call(b, "math::boom", {})
    assert _tcp_peers(a.pid, engine_proc.port) == 2, "worker socket + /otel socket"

    listed = workers(b)
    assert set(listed) == {a.worker_id, b.worker_id}
    assert all(w["name"] in ("otel-a", "otel-b") for w in listed.values())
    assert health(b)["workers"] == 2
    assert not [e for e in a.events() if e["event"] == "otel_disconnected"]


# 14 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic czNjcmV0"], ids=["none", "bad-token", "not-bearer"])
async def test_auth_refuses_bad_tokens(engine_factory: Callable[..., EngineProcess], header: str | None) -> None:
    eng = engine_factory(auth={"tokens": [{"token": "s3cret", "role": "worker"}], "allow_open": False})
    headers = {"Authorization": header} if header else None
    with anyio.fail_after(5):
        async with ws_connect(eng.url, additional_headers=headers) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "error"
            assert first["error"]["code"] and first["error"]["message"]
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1008
    assert eng.alive()


def test_auth_sdk_with_token_works(engine_factory: Callable[..., EngineProcess], spawn_worker: Spawn,
                                   sdk: Sdk) -> None:
    eng = engine_factory(auth={"tokens": [{"token": "s3cret", "role": "worker"}], "allow_open": False})
    a = spawn_worker(eng.url, "core", name="auth-a", env={"III_TOKEN": "s3cret"}, otel=True)
    b = sdk(eng.url, "auth-b", headers={"Authorization": "Bearer s3cret"})
    assert call(b, "math::add", {"a": 2, "b": 3}) == {"sum": 5}
    assert a.expect("call", fn="math::add")["caller"] == b.worker_id
    assert {w["name"] for w in workers(b).values()} == {"auth-a", "auth-b"}
