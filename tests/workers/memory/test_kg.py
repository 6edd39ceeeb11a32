"""memory::kg::*: typed entities and edges, time validity, traversal, clear refusals."""

from __future__ import annotations

from typing import Any

import pytest

from workers.sdk import InvocationError

from .conftest import T0, Stack

pytestmark = pytest.mark.slow

YEAR = 365 * 86_400.0


async def seed(stack: Stack) -> dict[str, Any]:
    await stack.agent("ada", ["self", "shared:team"])
    return await stack.call("memory::kg::add", {"agent_id": "ada", "entities": [
        {"id": "alice", "type": "person", "name": "Alice", "properties": {"role": "engineer"}},
        {"id": "bob", "type": "person", "name": "Bob"},
        {"id": "acme", "type": "company", "name": "Acme Corp"},
        {"id": "globex", "type": "company", "name": "Globex"},
        {"id": "berlin", "type": "city", "name": "Berlin"},
    ], "relations": [
        {"source": "alice", "type": "works_at", "target": "globex",
         "valid_from": T0 - 5 * YEAR, "valid_to": T0 - YEAR},
        {"source": "alice", "type": "works_at", "target": "acme", "valid_from": T0 - YEAR},
        {"source": "bob", "type": "works_at", "target": "acme", "valid_from": "2020-01-01T00:00:00Z"},
        {"source": "acme", "type": "located_in", "target": "berlin"},
        {"source": "alice", "type": "knows", "target": "bob", "properties": {"since": 2019}},
    ]})


async def test_query_sees_the_edges_valid_now_or_at_a_time(stack: Stack) -> None:
    added = await seed(stack)
    assert len(added["relations"]) == 5 and len(set(added["relations"])) == 5
    now = await stack.call("memory::kg::query", {"agent_id": "ada", "entity_id": "alice"})
    assert now["entity"]["name"] == "Alice" and now["entity"]["properties"] == {"role": "engineer"}
    assert [(e["type"], e["target"]) for e in now["outgoing"]] == [("knows", "bob"), ("works_at", "acme")]
    then = await stack.call("memory::kg::query", {"agent_id": "ada", "entity_id": "alice",
                                                  "at": T0 - 2 * YEAR, "relation_type": "works_at"})
    assert [e["target"] for e in then["outgoing"]] == ["globex"]
    history = await stack.call("memory::kg::query", {"agent_id": "ada", "entity_id": "alice",
                                                     "include_expired": True, "relation_type": "works_at"})
    assert [e["target"] for e in history["outgoing"]] == ["acme", "globex"]
    acme = await stack.call("memory::kg::query", {"agent_id": "ada", "entity_id": "acme"})
    assert sorted(e["source"] for e in acme["incoming"]) == ["alice", "bob"]
    people = await stack.call("memory::kg::query", {"agent_id": "ada", "type": "person"})
    assert [e["id"] for e in people["entities"]] == ["alice", "bob"]
    named = await stack.call("memory::kg::query", {"agent_id": "ada", "name": "corp"})
    assert [e["id"] for e in named["entities"]] == ["acme"]


async def test_traverse_walks_typed_edges_both_ways(stack: Stack) -> None:
    await seed(stack)
    out = await stack.call("memory::kg::traverse", {"agent_id": "ada", "start": "alice", "depth": 2})
    depth = {n["id"]: n["depth"] for n in out["nodes"]}
    assert depth == {"alice": 0, "acme": 1, "bob": 1, "berlin": 2}  # not globex: that job ended
    assert {(e["source"], e["type"], e["target"]) for e in out["edges"]} == {
        ("alice", "works_at", "acme"), ("alice", "knows", "bob"), ("bob", "works_at", "acme"),
        ("acme", "located_in", "berlin")}
    colleagues = await stack.call("memory::kg::traverse", {
        "agent_id": "ada", "start": "berlin", "depth": 2, "direction": "in",
        "relation_types": ["located_in", "works_at"]})
    assert {n["id"] for n in colleagues["nodes"]} == {"berlin", "acme", "alice", "bob"}
    small = await stack.call("memory::kg::traverse", {"agent_id": "ada", "start": "alice",
                                                      "depth": 3, "max_nodes": 2})
    assert len(small["nodes"]) == 2 and small["truncated"] is True


async def test_re_adding_updates_and_closing_an_edge_ends_it(stack: Stack) -> None:
    await seed(stack)
    await stack.call("memory::kg::add", {"agent_id": "ada", "entities": [
        {"id": "alice", "type": "person", "properties": {"team": "infra"}}], "relations": [
        {"source": "alice", "type": "works_at", "target": "acme", "valid_from": T0 - YEAR,
         "valid_to": T0 - 1}]})
    alice = await stack.call("memory::kg::query", {"agent_id": "ada", "entity_id": "alice"})
    assert alice["entity"]["properties"] == {"role": "engineer", "team": "infra"}
    assert alice["entity"]["name"] == "Alice"
    assert [e["type"] for e in alice["outgoing"]] == ["knows"]


async def test_graphs_are_per_scope(stack: Stack) -> None:
    await seed(stack)
    await stack.call("memory::kg::add", {"agent_id": "ada", "scope": "shared:team", "entities": [
        {"id": "alice", "type": "person", "name": "Alice (team view)"}]})
    shared = await stack.call("memory::kg::query", {"agent_id": "ada", "scope": "shared:team",
                                                    "entity_id": "alice"})
    assert shared["entity"]["name"] == "Alice (team view)" and shared["outgoing"] == []


@pytest.mark.parametrize(("payload", "code"), [
    ({"relations": [{"source": "alice", "type": "knows", "target": "zed"}]}, "not_found"),
    ({"entities": [{"id": "carol", "type": "person"}],
      "relations": [{"source": "carol", "type": "knows", "target": "nobody"}]}, "not_found"),
    ({"relations": [{"source": "alice", "type": "knows", "target": "bob", "valid_from": "yesterday"}]},
     "invalid_arguments"),
    ({"relations": [{"source": "alice", "type": "knows", "target": "bob", "valid_from": 10,
                     "valid_to": 5}]}, "invalid_arguments"),
    ({"entities": [{"id": "has space", "type": "person"}]}, "invalid_arguments"),
    ({"entities": [{"id": "x", "type": "bad type!"}]}, "invalid_arguments"),
    ({}, "invalid_arguments"),
])
async def test_bad_additions_store_nothing(stack: Stack, payload: dict, code: str) -> None:
    await seed(stack)
    with pytest.raises(InvocationError) as err:
        await stack.call("memory::kg::add", {"agent_id": "ada", **payload})
    assert err.value.code == code
    people = await stack.call("memory::kg::query", {"agent_id": "ada", "type": "person"})
    assert [e["id"] for e in people["entities"]] == ["alice", "bob"]  # carol was not written


async def test_unknown_entities_and_agents(stack: Stack) -> None:
    await seed(stack)
    for function_id, payload, code in [
        ("memory::kg::query", {"agent_id": "ada", "entity_id": "zed"}, "not_found"),
        ("memory::kg::traverse", {"agent_id": "ada", "start": "zed"}, "not_found"),
        ("memory::kg::query", {"agent_id": "ghost", "entity_id": "alice"}, "agent_not_found"),
        ("memory::kg::query", {"agent_id": "ada", "scope": "shared:other", "entity_id": "a"}, "forbidden"),
    ]:
        with pytest.raises(InvocationError) as err:
            await stack.call(function_id, payload)
        assert err.value.code == code
