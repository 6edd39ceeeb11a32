"""Realm isolation, property-based: random operations through every public function, with the
credentials of realms a and b (over the bus and over REST), never read or write across realms.

The engine runs in a blocking portal (its own event-loop thread) for the whole test, and each
hypothesis example drives a random list of operations through it. A model records what each
realm created; every answer is checked against it:

* an id created in one realm is never found from the other (``not_found``), whatever function
  is given it;
* listings hold exactly the caller's own records;
* naming the other realm in a payload (``realm_id``) or a REST path is refused (``forbidden``);
* operator functions are refused to realm clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import FakeUpstream
from workers.sdk import Connection, InvocationError

from .conftest import Stack, running

REALMS = ("a", "b")
OPERATOR_ONLY = ("realm::create", "realm::delete", "realm::import", "realm::update",
                 "realm::keys::issue", "realm::keys::revoke", "ledger::set_budget",
                 "bridge::register", "council::override")


@dataclass
class Model:
    """What each realm created, by kind."""

    missions: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in REALMS})
    directives: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in REALMS})
    proposals: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in REALMS})
    nodes: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in REALMS})
    runs: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in REALMS})
    spent: dict[str, float] = field(default_factory=lambda: dict.fromkeys(REALMS, 0.0))
    serial: int = 0

    def all(self, kind: str) -> list[tuple[str, str]]:
        table: dict[str, set[str]] = getattr(self, kind)
        return sorted((realm, i) for realm in REALMS for i in table[realm])


def other(realm: str) -> str:
    return "b" if realm == "a" else "a"


async def outcome(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except InvocationError as exc:
        return exc.code


Op = Callable[[Stack, Model, str, int], Awaitable[None]]
OPS: dict[str, Op] = {}


def op(name: str) -> Callable[[Op], Op]:
    def register(fn: Op) -> Op:
        OPS[name] = fn
        return fn
    return register


def pick(model: Model, kind: str, n: int) -> tuple[str, str] | None:
    known = model.all(kind)
    return known[n % len(known)] if known else None


async def by_id(cp: Stack, realm: str, function_id: str, payload: dict[str, Any],
                owner: str, ok: Callable[[Any], bool] = lambda _: True) -> None:
    """Call with an id owned by ``owner``: from the other realm it must not be found."""
    out = await outcome(cp.client(realm).trigger(function_id, payload))
    if owner == realm:
        assert out != "not_found" or function_id.startswith("hierarchy"), (function_id, out)
        assert ok(out), (function_id, out)
    else:
        assert out == "not_found", (function_id, payload, out)


@op("mission.create")
async def _mc(cp: Stack, m: Model, realm: str, n: int) -> None:
    created = await cp.client(realm).trigger("mission::create", {"title": f"{realm}-{n}"})
    m.missions[realm].add(created["id"])


@op("mission.read")
async def _mr(cp: Stack, m: Model, realm: str, n: int) -> None:
    target = pick(m, "missions", n)
    if target is None:
        return
    owner, mid = target
    fid = ["mission::get", "mission::comments", "mission::checkout", "mission::release",
           "mission::transition", "mission::comment"][n % 6]
    payload = {"mission_id": mid, "agent_id": f"{realm}-agent", "status": "todo", "body": "x"}
    await by_id(cp, realm, fid, payload, owner,
                lambda out: not isinstance(out, dict) or "title" not in out
                or out["title"].startswith(realm))


@op("mission.list")
async def _ml(cp: Stack, m: Model, realm: str, n: int) -> None:
    listed = await cp.client(realm).trigger("mission::list", {})
    assert {x["id"] for x in listed["missions"]} == m.missions[realm]


@op("directive.create")
async def _dc(cp: Stack, m: Model, realm: str, n: int) -> None:
    created = await cp.client(realm).trigger("directive::create", {"title": f"{realm}-{n}"})
    m.directives[realm].add(created["id"])


@op("directive.read")
async def _dr(cp: Stack, m: Model, realm: str, n: int) -> None:
    target = pick(m, "directives", n)
    if target is None:
        return
    owner, did = target
    fid = ["directive::get", "directive::ancestry", "directive::update"][n % 3]
    await by_id(cp, realm, fid, {"directive_id": did, "description": f"by {realm}"}, owner)
    if owner != realm:  # nothing the other realm tried reached the record
        record = await cp.client(owner).trigger("directive::get", {"directive_id": did})
        assert record["description"] in ("", f"by {owner}")
    listed = await cp.client(realm).trigger("directive::list", {})
    assert {x["id"] for x in listed["directives"]} == m.directives[realm]


@op("hierarchy")
async def _h(cp: Stack, m: Model, realm: str, n: int) -> None:
    client = cp.client(realm)
    node = f"{realm}-node-{n % 5}"
    await client.trigger("hierarchy::set", {"agent_id": node, "capabilities": [realm]})
    m.nodes[realm].add(node)
    tree = await client.trigger("hierarchy::tree", {})
    assert {x["agent_id"] for x in tree["tree"]} <= m.nodes[realm]
    found = await client.trigger("hierarchy::find", {"capability": other(realm)})
    assert found["agents"] == []
    target = pick(m, "nodes", n)
    assert target is not None
    owner, foreign = target
    chain = await outcome(client.trigger("hierarchy::chain", {"agent_id": foreign}))
    assert (chain == "not_found") == (owner != realm)
    if owner != realm:
        assert await outcome(client.trigger("hierarchy::remove", {"agent_id": foreign})) == "not_found"


@op("ledger")
async def _l(cp: Stack, m: Model, realm: str, n: int) -> None:
    client = cp.client(realm)
    m.serial += 1
    await client.trigger("ledger::spend", {"agent_id": f"{realm}-x", "cost_usd": 0.25,
                                           "event_id": f"evt-{m.serial}"})
    m.spent[realm] += 0.25
    summary = await client.trigger("ledger::summary", {})
    assert summary["total_usd"] == pytest.approx(m.spent[realm])
    assert set(summary["by_agent"]) <= {f"{realm}-x"}
    check = await client.trigger("ledger::check", {"agent_id": f"{other(realm)}-x"})
    assert check["allowed"] is True


@op("council")
async def _c(cp: Stack, m: Model, realm: str, n: int) -> None:
    client = cp.client(realm)
    created = await client.trigger("council::submit", {"type": "custom", "title": realm})
    m.proposals[realm].add(created["id"])
    listed = await client.trigger("council::proposals", {})
    assert {p["id"] for p in listed["proposals"]} == m.proposals[realm]
    target = pick(m, "proposals", n)
    assert target is not None
    owner, pid = target
    await by_id(cp, realm, "council::vote", {"proposal_id": pid, "member": f"{realm}-1",
                                             "vote": "approve"}, owner,
                lambda out: out in ("already_voted", "proposal_closed") or out["id"] == pid)
    log = await client.trigger("council::activity_log", {})
    assert all(e["detail"].get("proposal_id") in m.proposals[realm] for e in log["entries"]
               if isinstance(e["detail"], dict) and "proposal_id" in e["detail"])
    assert (await client.trigger("council::verify", {}))["valid"] is True


@op("pulse")
async def _p(cp: Stack, m: Model, realm: str, n: int) -> None:
    client = cp.client(realm)
    agent = f"{REALMS[n % 2]}-agent"
    status = await client.trigger("pulse::status", {"agent_id": agent})
    if agent.startswith(realm):
        assert status["config"] is not None
    else:
        assert status["config"] is None and status["runs"] == []


@op("bridge")
async def _b(cp: Stack, m: Model, realm: str, n: int) -> None:
    target = pick(m, "runs", n)
    assert target is not None
    owner, run = target
    await by_id(cp, realm, ["bridge::run", "bridge::cancel"][n % 2], {"run_id": run}, owner)


@op("realm")
async def _r(cp: Stack, m: Model, realm: str, n: int) -> None:
    client = cp.client(realm)
    assert [r["id"] for r in (await client.trigger("realm::list", {}))["realms"]] == [realm]
    bundle = await client.trigger("realm::export", {})
    assert {x["id"] for x in bundle["missions"]} == m.missions[realm]
    assert all(k["realm"] == realm for k in (await client.trigger("realm::keys::list", {}))["keys"])
    fid = OPERATOR_ONLY[n % len(OPERATOR_ONLY)]
    assert await outcome(client.trigger(fid, {"realm_id": realm, "name": "x", "limit_usd": 1,
                                              "agent_id": "x", "action": "pause", "key_id": "k",
                                              "kind": "http", "url": "http://x", "bundle": {}})) in (
        "forbidden", "invalid_arguments")


@op("rest")
async def _rest(cp: Stack, m: Model, realm: str, n: int) -> None:
    token = f"t-{realm}"
    named = REALMS[n % 2]
    paths = [f"/api/missions/{named}", f"/api/directives/{named}", f"/api/ledger/summary/{named}",
             f"/api/hierarchy/{named}/tree", f"/api/council/proposals/{named}",
             f"/api/council/verify/{named}"]
    r = await cp.rest("GET", paths[n % len(paths)], token)
    if named != realm:
        assert r.status_code == 403, r.text
        return
    assert r.status_code == 200, r.text
    if "missions" in r.json():
        assert {x["id"] for x in r.json()["missions"]} == m.missions[realm]
    target = pick(m, "missions", n)
    if target is not None:
        owner, mid = target
        r = await cp.rest("GET", f"/api/missions/{realm}/{mid}/comments", token)
        assert r.status_code == (200 if owner == realm else 404), r.text


@op("named-realm")
async def _named(cp: Stack, m: Model, realm: str, n: int) -> None:
    client: Connection = cp.client(realm)
    fid = ["mission::list", "mission::create", "directive::list", "hierarchy::tree",
           "ledger::summary", "ledger::spend", "council::proposals", "pulse::status",
           "realm::get", "realm::export", "bridge::run", "council::verify"][n % 12]
    payload = {"realm_id": other(realm), "title": "x", "cost_usd": 1, "agent_id": "x",
               "run_id": "r"}
    assert await outcome(client.trigger(fid, payload)) == "forbidden", fid


@asynccontextmanager
async def world(tmp: Path) -> AsyncIterator[tuple[Stack, Model]]:
    async with FakeUpstream() as fake, running(tmp, fake) as cp:
        model = Model()
        import sys

        await cp.sys.trigger("bridge::register", {"name": "echo", "kind": "process", "command": [
            sys.executable, "-c", "import sys; sys.stdin.read(); print('{}')"]})
        for realm in REALMS:
            await cp.sys.trigger("realm::create", {"name": realm.upper(), "id": realm})
            client = cp.client(realm)
            await client.trigger("pulse::register", {"agent_id": f"{realm}-agent",
                                                     "schedule": "0 0 1 1 *"})
            run = await client.trigger("bridge::invoke", {"runtime": "echo"})
            model.runs[realm].add(run["run_id"])
            await client.trigger("hierarchy::set", {"agent_id": f"{realm}-root"})
            model.nodes[realm].add(f"{realm}-root")
            await cp.sys.trigger("council::members", {"realm_id": realm, "quorum": 2,
                                                      "members": [f"{realm}-1", f"{realm}-2"]})
        yield cp, model


def test_no_operation_reads_or_writes_across_realms(tmp_path: Path) -> None:
    with start_blocking_portal("asyncio") as portal, \
            portal.wrap_async_context_manager(world(tmp_path)) as (cp, model):

        @settings(max_examples=25, deadline=None, derandomize=False,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(st.tuples(st.sampled_from(REALMS), st.sampled_from(sorted(OPS)),
                                  st.integers(0, 10_000)), min_size=1, max_size=12))
        def run(steps: list[tuple[str, str, int]]) -> None:
            for realm, name, n in steps:
                portal.call(OPS[name], cp, model, realm, n)

        run()
    assert sum(len(v) for v in model.missions.values()) > 0
