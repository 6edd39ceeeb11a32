"""Worker functions with a ``min_role``, through a real node with real tokens.

A worker registers functions with ``metadata.min_role`` (our SDK's ``function(min_role=…)`` or
the official iii-sdk's ``metadata=``); a client credential must be refused ``forbidden`` on every
path (sync, void, enqueue, an HTTP route, the engine's own calls) and a worker credential served.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from iii import InitOptions, register_worker
from iii import InvocationError as IIIInvocationError
from iii.iii import III

from engine.config import NodeConfig
from engine.errors import Forbidden
from engine.modules.queue import QueueModule
from engine.node import Node
from engine.registrations import INVALID_MIN_ROLE
from engine.types import Call
from workers.sdk import Connection, FunctionDef, InvocationError, Worker, connect, function

pytestmark = pytest.mark.anyio

DEADLINE_S = 10.0
TOKENS = [{"token": "t-system", "role": "system"},
          {"token": "t-worker", "role": "worker"},
          {"token": "t-client", "role": "client"}]
FAST = {"backoff_ms": 0, "poll_interval_ms": 20, "max_retries": 3}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Calls:
    """What the guarded handlers saw: the role each call arrived with."""

    seen: dict[str, list[str]] = field(default_factory=lambda: {"read": [], "root": [], "open": []})
    arrived: anyio.Event = field(default_factory=anyio.Event)


def guarded_worker(calls: Calls) -> Worker:
    @function("guarded::read", min_role="worker", description="worker and system callers only")
    async def read(data: Any, ctx: Any) -> dict[str, Any]:
        calls.seen["read"].append(ctx.role)
        calls.arrived.set()
        return {"body": {"ok": True}}

    @function("guarded::root", min_role="system")
    async def root(data: Any, ctx: Any) -> dict[str, Any]:
        calls.seen["root"].append(ctx.role)
        return {"body": {"ok": True}}

    @function("open::echo")
    async def echo(data: Any, ctx: Any) -> Any:
        calls.seen["open"].append(ctx.role)
        return data

    return Worker("guarded", functions=[read, root, echo])


@dataclass
class Rig:
    node: Node
    owner: Connection
    client: Connection
    peer: Connection
    system: Connection
    http: httpx.AsyncClient
    calls: Calls

    @property
    def queue(self) -> QueueModule:
        return self.node.modules["queue"]  # type: ignore[no-any-return]


@asynccontextmanager
async def rig() -> AsyncIterator[Rig]:
    config = NodeConfig.model_validate({
        "engine": {"port": 0, "auth": {"tokens": TOKENS}},
        "workers": [{"name": "iii-http", "config": {"port": 0}},
                    {"name": "iii-queue", "config": {"adapter": {"name": "memory"}, "queue_configs": {"default": FAST}}}],
    })
    calls = Calls()
    async with Node(config) as node, \
            connect(node.url, workers=[guarded_worker(calls)], token="t-worker") as owner, \
            connect(node.url, workers=[], name="client", token="t-client") as client, \
            connect(node.url, workers=[], name="peer", token="t-worker") as peer, \
            connect(node.url, workers=[], name="root", token="t-system") as system:
        await owner.bind("http", "guarded::read", {"api_path": "/guarded", "http_method": "GET"})
        await owner.bind("http", "guarded::root", {"api_path": "/root", "http_method": "GET"})
        await applied(owner)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.ports['http']}", timeout=10) as http:
            yield Rig(node, owner, client, peer, system, http, calls)


async def applied(conn: Connection) -> None:
    """A round trip: the engine applies a connection's frames in order, so its registrations are live."""
    await conn.trigger("engine::health::check")


async def refusal(conn: Connection, function_id: str, data: Any = None) -> InvocationError:
    with pytest.raises(InvocationError) as err:
        await conn.trigger(function_id, data, timeout=DEADLINE_S)
    return err.value


# -- every path -----------------------------------------------------------------------------------


async def test_a_client_is_refused_on_a_sync_call_and_a_worker_is_served() -> None:
    async with rig() as r:
        err = await refusal(r.client, "guarded::read", {})
        assert err.code == "forbidden"
        assert "guarded::read" in err.message and "worker" in err.message and "client" in err.message
        assert (await r.peer.trigger("guarded::read", {}))["body"] == {"ok": True}
        assert (await r.system.trigger("guarded::read", {}))["body"] == {"ok": True}
        assert r.calls.seen["read"] == ["worker", "system"]
        # Functions without a min_role stay open to clients (the inline fast path).
        assert await r.client.trigger("open::echo", {"x": 1}) == {"x": 1}
        assert r.calls.seen["open"] == ["client"]


async def test_system_only_refuses_workers_too() -> None:
    async with rig() as r:
        assert (await refusal(r.client, "guarded::root", {})).code == "forbidden"
        err = await refusal(r.peer, "guarded::root", {})
        assert err.code == "forbidden" and "system" in err.message
        assert (await r.system.trigger("guarded::root", {}))["body"] == {"ok": True}
        assert r.calls.seen["root"] == ["system"]


async def test_a_clients_void_call_is_dropped() -> None:
    async with rig() as r:
        await r.client.trigger_void("guarded::read", {})
        # The engine handles one connection's frames in order: once this answer is back, the
        # void call before it has been routed (or dropped).
        await r.client.trigger("open::echo", {})
        await r.peer.trigger_void("guarded::read", {})
        with anyio.fail_after(DEADLINE_S):
            await r.calls.arrived.wait()
        assert r.calls.seen["read"] == ["worker"]


async def test_a_clients_enqueued_job_is_dead_lettered_forbidden_and_never_runs() -> None:
    async with rig() as r:
        receipt = await r.client.enqueue("guarded::read", {})
        with anyio.fail_after(DEADLINE_S):
            await r.queue.wait_until(lambda: r.queue.statistics().dead_lettered == 1)
        [dead] = await r.queue.backend.dlq_list("default")
        assert dead.id == receipt and dead.attempts == 1
        assert dead.last_error is not None and dead.last_error["code"] == "forbidden"
        assert "guarded::read" in dead.last_error["message"]
        assert r.calls.seen["read"] == []
        await r.peer.enqueue("guarded::read", {})
        with anyio.fail_after(DEADLINE_S):
            await r.calls.arrived.wait()
        assert r.calls.seen["read"] == ["worker"]


async def test_an_http_route_calls_with_the_requests_credential() -> None:
    async with rig() as r:
        refused = await r.http.get("/guarded", headers={"Authorization": "Bearer t-client"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
        assert "guarded::read" in refused.json()["error"]["message"]
        assert (await r.http.get("/guarded")).status_code == 401
        served = await r.http.get("/guarded", headers={"Authorization": "Bearer t-worker"})
        assert served.status_code == 200 and served.json() == {"ok": True}
        # A worker made the binding, but the call is the request's: a worker key cannot reach
        # a system-only function through a route either.
        assert (await r.http.get("/root", headers={"Authorization": "Bearer t-worker"})).status_code == 403
        assert (await r.http.get("/root", headers={"Authorization": "Bearer t-system"})).status_code == 200
        assert r.calls.seen == {"read": ["worker"], "root": ["system"], "open": []}


async def test_the_engines_own_calls_inherit_the_role_they_serve() -> None:
    async with rig() as r:
        router = r.node.router
        with pytest.raises(Forbidden):
            await router.invoke("guarded::read", {}, call=Call("x::y", role="client"), timeout=DEADLINE_S)
        await router.invoke_void("guarded::read", {}, call=Call("x::y", role="client"))
        assert (await router.invoke("guarded::read", {}, call=Call("x::y", role="worker"), timeout=DEADLINE_S))["body"]
        assert (await router.invoke("guarded::root", {}, timeout=DEADLINE_S))["body"]  # the engine itself: system
        assert r.calls.seen["read"] == ["worker"] and r.calls.seen["root"] == ["system"]


# -- listing and registration ----------------------------------------------------------------------


async def test_listing_shows_min_role_and_only_what_the_caller_may_call() -> None:
    async with rig() as r:
        def listed(answer: dict[str, Any]) -> dict[str, str]:
            return {f["function_id"]: f["min_role"] for f in answer["functions"]}

        as_client = listed(await r.client.trigger("engine::functions::list", {"include_internal": False}))
        as_worker = listed(await r.peer.trigger("engine::functions::list", {"include_internal": False}))
        as_system = listed(await r.system.trigger("engine::functions::list", {"include_internal": False}))
        assert as_client == {"open::echo": "client"}
        assert as_worker == {"open::echo": "client", "guarded::read": "worker"}
        assert as_system == {"open::echo": "client", "guarded::read": "worker", "guarded::root": "system"}
        everything = await r.client.trigger("engine::functions::list", {"prefix": "engine::"})
        assert "engine::register_trigger" not in listed(everything)  # a worker-only built-in
        info = await r.peer.trigger("engine::functions::info", {"function_id": "guarded::read"})
        assert info["function"]["min_role"] == "worker"
        assert info["function"]["metadata"] == {"min_role": "worker"}
        err = await refusal(r.client, "engine::functions::info", {"function_id": "guarded::read"})
        assert err.code == "forbidden"
        assert (await refusal(r.client, "engine::functions::info", {"function_id": "nope::x"})).code == "function_not_found"


@pytest.mark.parametrize("bad", ["admin", "Worker", 3, ["worker"], ""])
async def test_an_invalid_min_role_is_rejected_not_registered(bad: Any) -> None:
    async with rig() as r:
        async def handler(data: Any) -> None: ...

        # Built by hand: @function itself refuses a bad min_role (see tests/sdk/test_function.py).
        fdef = FunctionDef(id="bad::role", handler=handler, metadata={"min_role": bad})
        await r.peer.register_function(fdef)
        assert (await refusal(r.peer, "bad::role", {})).code == "function_not_found"
        [rejected] = r.peer.rejected
        assert rejected.code == INVALID_MIN_ROLE and rejected.function_id == "bad::role"
        assert r.node.router.statistics().workers == 4  # nobody was dropped for it


async def test_a_null_min_role_means_anyone() -> None:
    async with rig() as r:
        async def handler(data: Any) -> str:
            return "ok"

        await r.peer.register_function(FunctionDef(id="null::role", handler=handler, metadata={"min_role": None}))
        await applied(r.peer)
        assert await r.client.trigger("null::role", {}) == "ok"


async def test_a_clients_connection_cannot_register_at_all() -> None:
    async with rig() as r:
        async def handler(data: Any) -> None: ...

        await r.client.register_function(FunctionDef(id="mine::x", handler=handler))
        assert (await refusal(r.peer, "mine::x", {})).code == "function_not_found"
        assert [m.code for m in r.client.rejected] == ["FORBIDDEN"]


async def test_min_role_follows_a_reregistration() -> None:
    async with rig() as r:
        async def handler(data: Any) -> str:
            return "ok"

        await r.peer.register_function(function("flip::x", min_role="worker")(handler))
        await applied(r.peer)
        assert (await refusal(r.client, "flip::x", {})).code == "forbidden"
        await r.peer.unregister_function("flip::x")

        async def again(data: Any) -> str:
            return "ok"

        await r.peer.register_function(function("flip::x")(again))
        await applied(r.peer)
        assert await r.client.trigger("flip::x", {}) == "ok"


# -- the official iii-sdk --------------------------------------------------------------------------


@contextmanager
def iii_client(url: str, name: str, token: str) -> Iterator[III]:
    client = register_worker(url, InitOptions(worker_name=name, otel={"enabled": False},
                                              headers={"Authorization": f"Bearer {token}"}))
    try:
        yield client
    finally:
        client.shutdown()
        if not client._thread.is_alive() and not client._loop.is_closed():
            client._loop.close()  # iii-sdk 0.25 leaves its loop open (a ResourceWarning at GC)


def iii_call(client: III, function_id: str, payload: Any) -> Any:
    return client.trigger({"function_id": function_id, "payload": payload, "timeout_ms": int(DEADLINE_S * 1000)})


def registered(client: III, function_id: str) -> dict[str, Any]:
    """``engine::functions::info`` once the engine applied ``client``'s registration.

    iii-sdk sends its metadata call (which ends the engine's namespace buffering) on its own
    loop, so a first call may overtake it: ``function_not_found`` is asked again after that
    round trip, up to the deadline.
    """
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return iii_call(client, "engine::functions::info", {"function_id": function_id})["function"]  # type: ignore[no-any-return]
        except IIIInvocationError as exc:
            if exc.code != "function_not_found" or time.monotonic() > deadline:
                raise


async def test_the_official_iii_sdk_registers_min_role_in_metadata() -> None:
    async with rig() as r:
        def scenario() -> tuple[str, Any, Any]:
            with iii_client(r.node.url, "iii-owner", "t-worker") as owner, \
                    iii_client(r.node.url, "iii-client", "t-client") as client:
                owner.register_function("iii::secret", lambda data: {"secret": 42},
                                        metadata={"min_role": "worker"})
                registered(owner, "iii::secret")
                with pytest.raises(IIIInvocationError) as err:
                    iii_call(client, "iii::secret", {})
                return err.value.code, iii_call(owner, "iii::secret", {}), str(err.value)

        code, served, message = await anyio.to_thread.run_sync(scenario)
        assert code == "forbidden" and "iii::secret" in message
        assert served == {"secret": 42}

