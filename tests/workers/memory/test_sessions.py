"""memory::session::*: references kept per session, compaction through the real llm-router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes import Error, FakeUpstream, Text
from workers.memory import LocalEmbedder
from workers.sdk import InvocationError

from .conftest import Stack, running

pytestmark = pytest.mark.slow

SUMMARY = "The user, Sam, is planning a trip to Kyoto in April and prefers ryokan stays."


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(default=Text(SUMMARY)) as upstream:
        yield upstream


@pytest.fixture
async def llm_stack(embedder: LocalEmbedder, tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    async with running(embedder, tmp_path / "s.db", fake=fake) as s:
        yield s


async def talk(stack: Stack, turns: int, session: str = "s1") -> list[str]:
    ids = []
    for i in range(turns):
        role = "user" if i % 2 == 0 else "assistant"
        ids.append((await stack.store("ada", f"turn {i}: message number {i} about Kyoto",
                                      role=role, session_id=session))["id"])
        stack.clock.advance(1)
    return ids


async def test_sessions_list_and_get_in_order(stack: Stack) -> None:
    await stack.agent("ada")
    ids = await talk(stack, 4)
    await talk(stack, 2, session="s2")
    again = await stack.store("ada", "turn 0: message number 0 about Kyoto", session_id="s1")
    assert again["deduplicated"] is True
    listing = await stack.call("memory::session::list", {"agent_id": "ada"})
    assert [(s["session_id"], s["messages"]) for s in listing["sessions"]] == [("s1", 5), ("s2", 2)]
    session = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s1"})
    assert [m["id"] for m in session["messages"]] == [*ids, ids[0]]
    assert [m["role"] for m in session["messages"]][:2] == ["user", "assistant"]
    last = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s1", "limit": 2})
    assert [m["id"] for m in last["messages"]] == [ids[3], ids[0]]
    await stack.call("memory::forget", {"agent_id": "ada", "ids": [ids[1]]})
    session = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s1"})
    assert session["missing"] == [ids[1]] and len(session["messages"]) == 4
    with pytest.raises(InvocationError) as err:
        await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "nope"})
    assert err.value.code == "not_found"


async def test_compaction_summarises_old_turns_into_one_entry(llm_stack: Stack, fake: FakeUpstream) -> None:
    stack = llm_stack
    await stack.agent("ada")
    ids = await talk(stack, 8)
    result = await stack.call("memory::session::compact",
                              {"agent_id": "ada", "session_id": "s1", "keep_last": 3})
    assert result["compacted"] == 5 and result["kept"] == 3 and result["summary"] == SUMMARY
    [request] = fake.chat_requests
    transcript = request.body["messages"][-1]["content"]
    assert "turn 0:" in transcript and "turn 4:" in transcript and "turn 5:" not in transcript
    session = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s1"})
    first, *rest = session["messages"]
    assert (first["id"], first["kind"], first["content"]) == (result["summary_id"], "summary", SUMMARY)
    assert first["importance"] == 0.9 and first["metadata"]["compacted_refs"] == 5
    assert [m["id"] for m in rest] == ids[5:]
    [hit] = await stack.recall("ada", "Where is Sam travelling, and where does he like to stay?", limit=1)
    assert hit["id"] == result["summary_id"]
    nothing = await stack.call("memory::session::compact",
                               {"agent_id": "ada", "session_id": "s1", "keep_last": 3})
    assert nothing["compacted"] == 0  # only the summary and 3 kept turns: nothing old left


async def test_a_failing_model_changes_nothing(llm_stack: Stack, fake: FakeUpstream) -> None:
    stack = llm_stack
    await stack.agent("ada")
    ids = await talk(stack, 6)
    fake.script(Error(400, "model refused"))
    with pytest.raises(InvocationError):
        await stack.call("memory::session::compact", {"agent_id": "ada", "session_id": "s1",
                                                      "keep_last": 2})
    session = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s1"})
    assert [m["id"] for m in session["messages"]] == ids
    assert all(m["kind"] == "memory" for m in await stack.recall("ada", "Kyoto trip", limit=10))
