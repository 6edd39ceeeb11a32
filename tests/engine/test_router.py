"""The router driven through in-memory peers: routing, the pending table, cleanup on disconnect."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from engine import protocol as p
from engine.builtins import install_builtins
from engine.errors import FunctionNotFound, InvocationStopped, InvocationTimeout
from engine.router import Router, realm_from_baggage, with_realm
from engine.session import Session, SessionState
from engine.types import Call, Credential

pytestmark = pytest.mark.anyio


class MemoryPeer:
    """A peer whose sent messages are kept in order; ``next()`` waits on an event, never sleeps."""

    def __init__(self) -> None:
        self.sent: deque[Any] = deque()
        self._arrived = anyio.Event()
        self.closed: tuple[int, str] | None = None

    def send_nowait(self, message: Any, raw: str | bytes | None = None) -> None:
        if self.closed:
            raise ConnectionError("closed")
        self.sent.append(message)
        self._arrived.set()

    async def send(self, message: Any) -> None:
        self.send_nowait(message)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    async def next(self) -> Any:
        with anyio.fail_after(5):
            while not self.sent:
                self._arrived = anyio.Event()
                await self._arrived.wait()
        return self.sent.popleft()

    def drain(self) -> list[Any]:
        out = list(self.sent)
        self.sent.clear()
        return out


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def router() -> AsyncIterator[Router]:
    async with Router() as r:
        await install_builtins(r)
        yield r


async def connect(router: Router, name: str, *, role: str = "worker", realm: str | None = None,
                  namespace: str | None = None) -> tuple[Session, MemoryPeer]:
    peer = MemoryPeer()
    s = Session(peer, Credential(role, realm))  # type: ignore[arg-type]
    router.attach(s)
    await router.handle(s, p.InvokeFunction(function_id="engine::workers::register", action=p.VoidAction(),
                                            data={"name": name, "runtime": "python", "namespace": namespace}))
    return s, peer


def inv() -> str:
    return str(uuid.uuid4())


async def test_cross_worker_call_relays_result_and_injects_caller(router: Router) -> None:
    a, pa = await connect(router, "a")
    b, pb = await connect(router, "b")
    await router.handle(a, p.RegisterFunction(id="math::add"))
    call_id = inv()
    await router.handle(b, p.InvokeFunction(invocation_id=call_id, function_id="math::add", data={"a": 2}, metadata={"k": 1}))
    delivered = await pa.next()
    assert delivered.function_id == "math::add" and delivered.invocation_id == call_id
    assert delivered.data == {"a": 2, "_caller_worker_id": b.worker_id} and delivered.metadata == {"k": 1}
    assert router.statistics().pending_calls == 1
    await router.handle(a, p.InvocationResult(invocation_id=call_id, function_id="math::add", result={"sum": 5}))
    answer = await pb.next()
    assert answer.result == {"sum": 5} and router.statistics().pending_calls == 0


async def test_not_found_sync_is_answered_and_void_is_dropped(router: Router) -> None:
    b, pb = await connect(router, "b")
    call_id = inv()
    await router.handle(b, p.InvokeFunction(invocation_id=call_id, function_id="nope::x"))
    answer = await pb.next()
    assert answer.error.code == "function_not_found" and "nope::x" in answer.error.message
    await router.handle(b, p.InvokeFunction(function_id="nope::x", action=p.VoidAction()))
    assert pb.drain() == []


async def test_void_reaches_target_without_an_id(router: Router) -> None:
    a, pa = await connect(router, "a")
    b, _ = await connect(router, "b")
    await router.handle(a, p.RegisterFunction(id="log::x"))
    await router.handle(b, p.InvokeFunction(invocation_id=inv(), function_id="log::x", action=p.VoidAction(), data=1))
    delivered = await pa.next()
    assert delivered.invocation_id is None and delivered.data == 1
    assert router.statistics().pending_calls == 0


async def test_target_leaving_mid_call_stops_every_caller(router: Router) -> None:
    a, pa = await connect(router, "a")
    b, pb = await connect(router, "b")
    c, pc = await connect(router, "c")
    await router.handle(a, p.RegisterFunction(id="slow::f"))
    await router.handle(b, p.InvokeFunction(invocation_id=inv(), function_id="slow::f"))
    await router.handle(c, p.InvokeFunction(invocation_id=inv(), function_id="slow::f"))
    await router.detach(a)
    assert (await pb.next()).error.code == "invocation_stopped"
    assert (await pc.next()).error.code == "invocation_stopped"
    await router.handle(b, p.InvokeFunction(invocation_id=(again := inv()), function_id="slow::f"))
    answer = await pb.next()
    assert answer.invocation_id == again and answer.error.code == "function_not_found"
    assert a.state is SessionState.CLOSED and router.statistics().pending_calls == 0


async def test_late_or_spoofed_results_are_dropped(router: Router) -> None:
    a, pa = await connect(router, "a")
    b, pb = await connect(router, "b")
    mallory, _ = await connect(router, "m")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    call_id = inv()
    await router.handle(b, p.InvokeFunction(invocation_id=call_id, function_id="x::f"))
    await pa.next()
    await router.handle(mallory, p.InvocationResult(invocation_id=call_id, function_id="x::f", result="forged"))
    assert pb.drain() == [] and router.statistics().pending_calls == 1
    await router.handle(a, p.InvocationResult(invocation_id=call_id, function_id="x::f", result="real"))
    assert (await pb.next()).result == "real"
    await router.handle(a, p.InvocationResult(invocation_id=call_id, function_id="x::f", result="late"))
    assert pb.drain() == []


async def test_caller_leaving_frees_its_pending_entries(router: Router) -> None:
    a, pa = await connect(router, "a")
    b, _ = await connect(router, "b")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    await router.handle(b, p.InvokeFunction(invocation_id=inv(), function_id="x::f"))
    await router.detach(b)
    assert router.statistics().pending_calls == 0


async def test_duplicate_invocation_id_in_flight_is_refused(router: Router) -> None:
    a, _ = await connect(router, "a")
    b, pb = await connect(router, "b")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    call_id = inv()
    await router.handle(b, p.InvokeFunction(invocation_id=call_id, function_id="x::f"))
    await router.handle(b, p.InvokeFunction(invocation_id=call_id, function_id="x::f"))
    assert "duplicate" in (await pb.next()).error.message


async def test_registrations_wait_for_the_namespace(router: Router) -> None:
    peer = MemoryPeer()
    s = Session(peer, Credential("worker"))
    router.attach(s)
    await router.handle(s, p.RegisterFunction(id="o::f"))
    assert router.registry.resolve("orders", "o::f") is None  # buffered, not applied
    await router.handle(s, p.InvokeFunction(function_id="engine::workers::register", action=p.VoidAction(), data={"name": "o", "namespace": "orders"}))
    assert router.registry.resolve("orders", "o::f") is not None
    assert router.registry.resolve("default", "o::f") is None


async def test_ownership_conflict_is_reported_and_first_keeps_serving(router: Router) -> None:
    a, _ = await connect(router, "a")
    b, pb = await connect(router, "b")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    await router.handle(b, p.RegisterFunction(id="x::f"))
    rejected = await pb.next()
    assert rejected.code == "FUNCTION_NAMESPACE_CONFLICT" and rejected.owner_worker_id == a.worker_id
    assert router.registry.resolve("default", "x::f").owner == a.worker_id  # type: ignore[union-attr]


async def test_same_worker_name_is_fatal(router: Router) -> None:
    await connect(router, "dup")
    s, peer = await connect(router, "dup")
    assert (await peer.next()).code == "WORKER_NAMESPACE_CONFLICT"
    await wait_all_tasks_blocked()
    assert peer.closed is not None and s.closing


async def test_custom_trigger_type_lifecycle(router: Router) -> None:
    owner, po = await connect(router, "owner")
    provider, pp = await connect(router, "provider")
    await router.handle(owner, p.RegisterFunction(id="hook::on"))
    await router.handle(owner, p.RegisterTrigger(id="t1", trigger_type="webhook", function_id="hook::on", config={"k": 1}))
    assert pp.drain() == []  # parked: no provider yet
    await router.handle(provider, p.RegisterTriggerType(id="webhook", description="d"))
    forwarded = await pp.next()
    assert isinstance(forwarded, p.RegisterTrigger) and forwarded.config == {"k": 1}
    await router.handle(provider, p.TriggerRegistrationResult(id="t1", trigger_type="webhook", function_id="hook::on"))
    assert router.registry.triggers["t1"].state.value == "active"
    await router.handle(owner, p.UnregisterTrigger(id="t1", trigger_type="webhook"))
    assert isinstance(await pp.next(), p.UnregisterTrigger)


async def test_provider_refusal_reaches_the_owner(router: Router) -> None:
    owner, po = await connect(router, "owner")
    provider, pp = await connect(router, "provider")
    await router.handle(provider, p.RegisterTriggerType(id="webhook"))
    await router.handle(owner, p.RegisterTrigger(id="t1", trigger_type="webhook", function_id="f", config={}))
    await pp.next()
    await router.handle(provider, p.TriggerRegistrationResult(id="t1", trigger_type="webhook", function_id="f",
                                                              error=p.ErrorBody(code="bad", message="no")))
    told = await po.next()
    assert isinstance(told, p.TriggerRegistrationResult) and told.error.message == "no"


async def test_clients_cannot_register(router: Router) -> None:
    c, pc = await connect(router, "client", role="client")
    await router.handle(c, p.RegisterFunction(id="x::f"))
    assert (await pc.next()).code == "FORBIDDEN"
    assert router.registry.resolve("default", "x::f") is None


async def test_registered_min_role_is_enforced_on_the_inline_path(router: Router) -> None:
    a, pa = await connect(router, "a")
    client, pc = await connect(router, "c", role="client")
    peer, pp = await connect(router, "p", role="worker")
    await router.handle(a, p.RegisterFunction(id="x::guarded", metadata={"min_role": "worker"}))
    assert router.registry.resolve("default", "x::guarded").min_role == "worker"  # type: ignore[union-attr]
    await router.handle(client, p.InvokeFunction(invocation_id=inv(), function_id="x::guarded"))
    refused = await pc.next()
    assert refused.error.code == "forbidden" and "x::guarded" in refused.error.message
    await router.handle(client, p.InvokeFunction(function_id="x::guarded", action=p.VoidAction()))
    assert pc.drain() == [] and pa.drain() == []  # the void call is dropped, not delivered
    await router.handle(peer, p.InvokeFunction(invocation_id=inv(), function_id="x::guarded"))
    assert (await pa.next()).function_id == "x::guarded"
    assert pp.drain() == []


@pytest.mark.parametrize("bad", ["root", "", 2, {"role": "worker"}])
async def test_an_invalid_min_role_is_rejected(router: Router, bad: object) -> None:
    a, pa = await connect(router, "a")
    await router.handle(a, p.RegisterFunction(id="x::bad", metadata={"min_role": bad}))
    rejected = await pa.next()
    assert isinstance(rejected, p.RegistrationRejected)
    assert (rejected.code, rejected.function_id) == ("INVALID_MIN_ROLE", "x::bad")
    assert router.registry.resolve("default", "x::bad") is None and a.registrations == 0
    assert a.live and pa.closed is None


async def test_a_worker_may_register_a_system_only_function(router: Router) -> None:
    a, pa = await connect(router, "a", role="worker")
    system, ps = await connect(router, "s", role="system")
    await router.handle(a, p.RegisterFunction(id="x::root", metadata={"min_role": "system"}))
    await router.handle(a, p.InvokeFunction(invocation_id=inv(), function_id="x::root"))
    assert (await pa.next()).error.code == "forbidden"  # not even its owner's worker credential
    await router.handle(system, p.InvokeFunction(invocation_id=inv(), function_id="x::root"))
    assert (await pa.next()).function_id == "x::root"


async def test_engine_event_triggers_deliver_with_the_worker_role(router: Router) -> None:
    a, pa = await connect(router, "a")
    await router.handle(a, p.RegisterFunction(id="on::root", metadata={"min_role": "system"}))
    await router.handle(a, p.RegisterFunction(id="on::worker", metadata={"min_role": "worker"}))
    for fid in ("on::root", "on::worker"):
        await router.handle(a, p.RegisterTrigger(id=fid, trigger_type="engine::workers-available", function_id=fid))
    await connect(router, "b")  # fires worker_connected (and worker_metadata_updated)
    await wait_all_tasks_blocked()
    delivered = pa.drain()
    assert {d.function_id for d in delivered} == {"on::worker"}
    assert all("agentos-role=worker" in d.baggage for d in delivered)


async def test_realm_comes_from_the_credential_not_the_baggage(router: Router) -> None:
    a, pa = await connect(router, "a")
    tenant, _ = await connect(router, "t", role="client", realm="acme")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    await router.handle(tenant, p.InvokeFunction(invocation_id=inv(), function_id="x::f", baggage="agentos-realm=globex,k=v"))
    delivered = await pa.next()
    assert realm_from_baggage(delivered.baggage) == "acme" and "k=v" in delivered.baggage


async def test_unbound_worker_passes_on_the_realm_it_serves(router: Router) -> None:
    a, pa = await connect(router, "a")
    svc, _ = await connect(router, "svc", role="worker")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    await router.handle(svc, p.InvokeFunction(invocation_id=inv(), function_id="x::f", baggage="agentos-realm=acme"))
    assert realm_from_baggage((await pa.next()).baggage) == "acme"


async def test_realm_private_functions_are_invisible_to_other_realms(router: Router) -> None:
    acme_worker, _ = await connect(router, "aw", realm="acme")
    other, po = await connect(router, "o", role="client", realm="globex")
    await router.handle(acme_worker, p.RegisterFunction(id="acme::secret"))
    await router.handle(other, p.InvokeFunction(invocation_id=inv(), function_id="acme::secret"))
    assert (await po.next()).error.code == "function_not_found"


async def test_engine_invoke_waits_times_out_and_is_stopped(router: Router) -> None:
    a, pa = await connect(router, "a")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    with pytest.raises(InvocationTimeout):
        await router.invoke("x::f", {}, timeout=0.01)
    assert router.statistics().pending_calls == 0
    assert len(pa.drain()) == 1  # the call that timed out did reach the worker
    with pytest.raises(FunctionNotFound):
        await router.invoke("nope::x")

    async def answer() -> None:
        msg = await pa.next()
        await router.handle(a, p.InvocationResult(invocation_id=msg.invocation_id, function_id="x::f", result=42))

    async with anyio.create_task_group() as tg:
        tg.start_soon(answer)
        assert await router.invoke("x::f", {}, call=Call("caller", realm="acme")) == 42

    async def leave() -> None:
        await pa.next()
        await router.detach(a)

    async with anyio.create_task_group() as tg:
        tg.start_soon(leave)
        with pytest.raises(InvocationStopped):
            await router.invoke("x::f", {})


async def test_builtin_answers_through_the_same_path(router: Router) -> None:
    b, pb = await connect(router, "b")
    call_id = inv()
    await router.handle(b, p.InvokeFunction(invocation_id=call_id, function_id="engine::functions::list", data={"prefix": "engine::health"}))
    answer = await pb.next()
    assert [f["function_id"] for f in answer.result["functions"]] == ["engine::health::check"]


async def test_enqueue_without_queue_module_is_a_clear_error(router: Router) -> None:
    b, pb = await connect(router, "b")
    await router.handle(b, p.InvokeFunction(invocation_id=inv(), function_id="x::f", action=p.EnqueueAction(queue="default")))
    answer = await pb.next()
    assert answer.error.code == "enqueue_error" and "queue" in answer.error.message


async def test_registration_flood_closes_only_that_connection() -> None:
    async with Router(max_registrations=50) as router:
        await install_builtins(router)
        flood, pf = await connect(router, "flood")
        for i in range(49):  # register/unregister churn never hits the cap
            await router.handle(flood, p.RegisterFunction(id=f"f::{i}"))
            await router.handle(flood, p.UnregisterFunction(id=f"f::{i}"))
        assert not flood.closing
        for i in range(60):
            await router.handle(flood, p.RegisterFunction(id=f"f::{i}"))
        await wait_all_tasks_blocked()
        assert pf.closed is not None and pf.closed[0] == 1008
        assert len(list(router.registry.functions_of(flood.worker_id))) == 50


def test_baggage_helpers() -> None:
    assert with_realm(None, "a") == "agentos-realm=a"
    assert with_realm("x=1,agentos-realm=b", "a") == "x=1,agentos-realm=a"
    assert with_realm("agentos-realm=b", None) is None
    assert realm_from_baggage("x=1, agentos-realm=acme;prop") == "acme"
    assert realm_from_baggage("x=1") is None


async def test_the_caller_role_is_asserted_and_cannot_be_forged(router: Router) -> None:
    a, pa = await connect(router, "a")
    client, _ = await connect(router, "c", role="client")
    worker, _ = await connect(router, "w", role="worker")
    system, _ = await connect(router, "s", role="system")
    await router.handle(a, p.RegisterFunction(id="x::f"))
    await router.handle(client, p.InvokeFunction(invocation_id=inv(), function_id="x::f", baggage="agentos-role=system"))
    assert "agentos-role=client" in (await pa.next()).baggage
    await router.handle(worker, p.InvokeFunction(invocation_id=inv(), function_id="x::f", baggage="agentos-role=system,k=v"))
    assert (await pa.next()).baggage == "k=v,agentos-role=worker"
    await router.handle(system, p.InvokeFunction(invocation_id=inv(), function_id="x::f", baggage="agentos-role=client"))
    assert (await pa.next()).baggage is None  # no entry means system
