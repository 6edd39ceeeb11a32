"""workers/control_plane/hierarchy.py: the org chart, cycle checks under concurrency, queries."""

from __future__ import annotations

import anyio

from workers.sdk import InvocationError

from .conftest import Stack, code_of


async def chart(cp: Stack) -> None:
    await cp.a.trigger("hierarchy::set", {"agent_id": "ceo", "title": "Chief", "rank": 10,
                                          "capabilities": ["Strategy"]})
    for agent, boss, caps in (("cto", "ceo", ["code", "Strategy"]), ("dev", "cto", ["code"]),
                              ("ops", "cto", ["deploy"])):
        await cp.a.trigger("hierarchy::set", {"agent_id": agent, "reports_to": boss,
                                              "capabilities": caps})


async def test_tree_find_chain(cp: Stack) -> None:
    await chart(cp)
    tree = (await cp.a.trigger("hierarchy::tree", {}))["tree"]
    assert [n["agent_id"] for n in tree] == ["ceo"]
    assert [n["agent_id"] for n in tree[0]["reports"][0]["reports"]] == ["dev", "ops"]
    found = await cp.a.trigger("hierarchy::find", {"capability": "strategy"})
    assert [n["agent_id"] for n in found["agents"]] == ["ceo", "cto"]
    chain = await cp.a.trigger("hierarchy::chain", {"agent_id": "dev"})
    assert [n["agent_id"] for n in chain["chain"]] == ["dev", "cto", "ceo"]
    sub = await cp.a.trigger("hierarchy::tree", {"root": "cto"})
    assert sub["tree"][0]["agent_id"] == "cto"


async def test_cycles_and_self_reports_are_refused(cp: Stack) -> None:
    await chart(cp)
    assert await code_of(cp.a.trigger("hierarchy::set", {"agent_id": "ceo", "reports_to": "dev"})) == "cycle_detected"
    assert await code_of(cp.a.trigger("hierarchy::set", {"agent_id": "dev", "reports_to": "dev"})) == "cycle_detected"
    assert await code_of(cp.a.trigger("hierarchy::set", {"agent_id": "x", "reports_to": "ghost"})) == "not_found"


async def test_concurrent_sets_never_close_a_loop(cp: Stack) -> None:
    for agent in ("p", "q"):
        await cp.a.trigger("hierarchy::set", {"agent_id": agent})
    codes: list[str] = []

    async def put(agent: str, boss: str) -> None:
        try:
            await cp.a.trigger("hierarchy::set", {"agent_id": agent, "reports_to": boss})
            codes.append("ok")
        except InvocationError as exc:
            codes.append(exc.code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(put, "p", "q")
        tg.start_soon(put, "q", "p")
    assert sorted(codes) == ["cycle_detected", "ok"]


async def test_remove_hands_reports_to_the_manager(cp: Stack) -> None:
    await chart(cp)
    await cp.a.trigger("hierarchy::remove", {"agent_id": "cto"})
    chain = await cp.a.trigger("hierarchy::chain", {"agent_id": "dev"})
    assert [n["agent_id"] for n in chain["chain"]] == ["dev", "ceo"]
    assert await code_of(cp.a.trigger("hierarchy::remove", {"agent_id": "cto"})) == "not_found"
