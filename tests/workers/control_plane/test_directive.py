"""workers/control_plane/directive.py: the goal tree and real optimistic concurrency."""

from __future__ import annotations

from typing import Any

import anyio

from workers.sdk import InvocationError

from .conftest import Stack, code_of


async def test_concurrent_updates_with_the_same_expected_version_one_wins(cp: Stack) -> None:
    d = await cp.a.trigger("directive::create", {"title": "grow"})
    assert d["version"] == 1
    outcomes: list[Any] = []

    async def update(title: str) -> None:
        try:
            outcomes.append(await cp.a.trigger("directive::update", {
                "directive_id": d["id"], "expectedVersion": 1, "title": title}))
        except InvocationError as exc:
            outcomes.append(exc.code)

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(update, f"title {i}")
    won = [o for o in outcomes if isinstance(o, dict)]
    assert len(won) == 1 and won[0]["version"] == 2
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["version_conflict"] * 7
    stored = await cp.a.trigger("directive::get", {"directive_id": d["id"]})
    assert (stored["title"], stored["version"]) == (won[0]["title"], 2)


async def test_a_stale_version_is_refused_and_nothing_is_written(cp: Stack) -> None:
    d = await cp.a.trigger("directive::create", {"title": "v1"})
    await cp.a.trigger("directive::update", {"directive_id": d["id"], "expectedVersion": 1,
                                             "status": "active"})
    stale = cp.a.trigger("directive::update", {"directive_id": d["id"], "expectedVersion": 1,
                                               "title": "lost"})
    assert await code_of(stale) == "version_conflict"
    stored = await cp.a.trigger("directive::get", {"directive_id": d["id"]})
    assert (stored["title"], stored["status"], stored["version"]) == ("v1", "active", 2)
    unguarded = await cp.a.trigger("directive::update", {"directive_id": d["id"], "title": "v3"})
    assert unguarded["version"] == 3


async def test_tree_parent_ancestry_and_cycles(cp: Stack) -> None:
    root = await cp.a.trigger("directive::create", {"title": "mission statement", "status": "active"})
    team = await cp.a.trigger("directive::create", {"title": "team goal", "level": "team",
                                                    "parent_id": root["id"]})
    agent = await cp.a.trigger("directive::create", {"title": "agent goal", "level": "agent",
                                                     "parent_id": team["id"]})
    out = await cp.a.trigger("directive::ancestry", {"directive_id": agent["id"]})
    assert [d["id"] for d in out["ancestry"]] == [team["id"], root["id"]]
    assert await code_of(cp.a.trigger("directive::create", {"title": "orphan",
                                                            "parent_id": "dir-nope"})) == "not_found"
    assert await code_of(cp.a.trigger("directive::update", {
        "directive_id": root["id"], "parent_id": agent["id"]})) == "cycle_detected"
    listed = await cp.a.trigger("directive::list", {"parent_id": root["id"]})
    assert [d["id"] for d in listed["directives"]] == [team["id"]]
    active = await cp.a.trigger("directive::list", {"status": "active"})
    assert [d["id"] for d in active["directives"]] == [root["id"]]


async def test_version_conflict_over_rest_is_409(cp: Stack) -> None:
    d = (await cp.rest("POST", "/api/directives", "t-a", {"title": "rest"})).json()
    ok = await cp.rest("PATCH", f"/api/directives/a/{d['id']}", "t-a",
                       {"expectedVersion": 1, "title": "rest 2"})
    assert (ok.status_code, ok.json()["version"]) == (200, 2)
    stale = await cp.rest("PATCH", f"/api/directives/a/{d['id']}", "t-a",
                          {"expectedVersion": 1, "title": "rest 3"})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
