"""workers/control_plane/mission.py: the state machine, atomic checkout, comments, events."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from workers.control_plane.mission import CHECKOUT_FROM, TRANSITIONS
from workers.sdk import InvocationError

from .conftest import Stack, code_of


async def test_twenty_concurrent_checkouts_have_exactly_one_winner(cp: Stack) -> None:
    mission = await cp.a.trigger("mission::create", {"title": "one seat", "status": "todo"})
    outcomes: dict[str, Any] = {}

    async def claim(agent: str) -> None:
        try:
            outcomes[agent] = await cp.a.trigger(
                "mission::checkout", {"mission_id": mission["id"], "agent_id": agent})
        except InvocationError as exc:
            outcomes[agent] = exc.code

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(claim, f"agent-{i}")
    winners = [agent for agent, out in outcomes.items() if isinstance(out, dict)]
    assert len(winners) == 1
    assert sorted(v for v in outcomes.values() if isinstance(v, str)) == ["already_checked_out"] * 19
    stored = await cp.a.trigger("mission::get", {"mission_id": mission["id"]})
    assert (stored["status"], stored["assignee"]) == ("in_progress", winners[0])


async def test_checkout_release_and_the_transition_table(cp: Stack) -> None:
    m = await cp.a.trigger("mission::create", {"title": "walk the table"})
    assert m["status"] == "backlog"
    ref = {"mission_id": m["id"]}
    out = await cp.a.trigger("mission::checkout", {**ref, "agent_id": "ann"})
    assert (out["status"], out["assignee"]) == ("in_progress", "ann")
    again = await cp.a.trigger("mission::checkout", {**ref, "agent_id": "ann"})  # holder: no-op
    assert again["assignee"] == "ann"
    assert await code_of(cp.a.trigger("mission::release", {**ref, "agent_id": "bob"})) == "forbidden"
    released = await cp.a.trigger("mission::release", {**ref, "agent_id": "ann"})
    assert (released["status"], released["assignee"]) == ("todo", None)
    for status in ("in_progress", "in_review", "done"):
        out = await cp.a.trigger("mission::transition", {**ref, "status": status, "agent_id": "bob"})
        assert out["status"] == status
    assert out["assignee"] == "bob"
    assert await code_of(cp.a.trigger("mission::transition", {**ref, "status": "todo"})) == "invalid_transition"
    assert await code_of(cp.a.trigger("mission::checkout", {**ref, "agent_id": "ann"})) == "invalid_transition"


@pytest.mark.parametrize("start", sorted(TRANSITIONS))
async def test_every_move_of_the_table_is_allowed_and_nothing_else(cp: Stack, start: str) -> None:
    # reach `start` along allowed moves, then try every target from there
    path = {"backlog": [], "todo": ["todo"], "in_progress": ["todo", "in_progress"],
            "in_review": ["todo", "in_progress", "in_review"],
            "blocked": ["todo", "in_progress", "blocked"], "done": ["todo", "in_progress", "in_review", "done"],
            "cancelled": ["cancelled"]}[start]
    for target in sorted({*TRANSITIONS} - {start}):
        m = await cp.a.trigger("mission::create", {"title": f"{start}->{target}"})
        for step in path:
            await cp.a.trigger("mission::transition", {"mission_id": m["id"], "status": step})
        call = cp.a.trigger("mission::transition", {"mission_id": m["id"], "status": target})
        if target in TRANSITIONS[start]:
            assert (await call)["status"] == target
        else:
            assert await code_of(call) == "invalid_transition"
    assert CHECKOUT_FROM <= set(TRANSITIONS)


async def test_comments_and_lifecycle_events(cp: Stack) -> None:
    await cp.events.subscribe("a")
    m = await cp.a.trigger("mission::create", {"title": "talk"})
    await cp.a.trigger("mission::comment", {"mission_id": m["id"], "author": "ann", "body": "first"})
    await cp.a.trigger("mission::comment", {"mission_id": m["id"], "author": "bob", "body": "second"})
    comments = (await cp.a.trigger("mission::comments", {"mission_id": m["id"]}))["comments"]
    assert [(c["author"], c["body"]) for c in comments] == [("ann", "first"), ("bob", "second")]
    await cp.a.trigger("mission::checkout", {"mission_id": m["id"], "agent_id": "ann"})
    seen = await cp.events.wait_for("mission.lifecycle", 4)
    assert [e["event"] for e in seen] == ["created", "commented", "commented", "checked_out"]
    assert {e["_realm"] for e in seen} == {"a"}
    assert await code_of(cp.a.trigger("mission::comments", {"mission_id": "mis-nope"})) == "not_found"


async def test_list_filters(cp: Stack) -> None:
    m1 = await cp.a.trigger("mission::create", {"title": "x", "status": "todo"})
    await cp.a.trigger("mission::create", {"title": "y"})
    await cp.a.trigger("mission::checkout", {"mission_id": m1["id"], "agent_id": "ann"})
    mine = await cp.a.trigger("mission::list", {"assignee": "ann"})
    assert [m["id"] for m in mine["missions"]] == [m1["id"]]
    backlog = await cp.a.trigger("mission::list", {"status": "backlog"})
    assert [m["title"] for m in backlog["missions"]] == ["y"]
    assert await code_of(cp.a.trigger("mission::create", {"title": ""})) == "invalid_arguments"
