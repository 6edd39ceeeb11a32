"""agent::chat with memory: recall before the model call, store after it, scopes and realms kept.

The whole stack runs: engine, llm-router on the fake upstream, agent-core, the memory worker.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeUpstream, Text, ToolCall, ToolCalls
from workers.memory import LocalEmbedder
from workers.sdk import Connection, connect

from .conftest import Stack, running

pytestmark = pytest.mark.slow


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(default=Text("Noted.")) as upstream:
        yield upstream


@pytest.fixture
async def chat_stack(embedder: LocalEmbedder, tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    async with running(embedder, tmp_path / "s.db", fake=fake) as s:
        yield s


def memory_note(body: dict[str, Any]) -> str | None:
    """The recalled-memories system message of a recorded model request, if any."""
    notes = [m["content"] for m in body["messages"]
             if m["role"] == "system" and m["content"].startswith("Relevant memories")]
    return notes[0] if notes else None


async def chat(stack: Stack, agent: str, message: str, client: Connection | None = None,
               **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await stack.call("agent::chat", {"agent_id": agent, "message": message, **extra},
                                              client=client)
    return result


async def test_a_turn_is_remembered_and_recalled_in_a_later_one(chat_stack: Stack, fake: FakeUpstream) -> None:
    stack = chat_stack
    await stack.call("agent::create", {"name": "ada", "system_prompt": "You help.",
                                       "capabilities": {"memory_scopes": ["self.*"]}})
    await chat(stack, "ada", "My favourite colour is teal.", session_id="s1")
    assert memory_note(fake.chat_requests[0].body) is None  # nothing to recall yet
    stored = await stack.recall("ada", "favourite colour", limit=5)
    assert {(m["role"], m["content"]) for m in stored} == {
        ("user", "My favourite colour is teal."), ("assistant", "Noted.")}
    session = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s1"})
    assert [m["content"] for m in session["messages"]] == ["My favourite colour is teal.", "Noted."]

    await chat(stack, "ada", "Which colour do I like best?")
    second = fake.chat_requests[1].body["messages"]
    note = memory_note(fake.chat_requests[1].body)
    assert note is not None and "My favourite colour is teal." in note
    assert second[0] == {"role": "system", "content": "You help."} and second[1]["content"] == note
    assert second[-1] == {"role": "user", "content": "Which colour do I like best?"}


async def test_scopes_decide_what_is_recalled_and_stored(chat_stack: Stack, fake: FakeUpstream) -> None:
    stack = chat_stack
    await stack.agent("writer", ["self", "shared:team"])
    await stack.agent("reader", ["shared:team"])
    await stack.agent("plain", [])
    await stack.store("writer", "The team's deploy window is Tuesday at noon.", scope="shared:team")
    await stack.store("writer", "Writer's private note: I dislike Mondays.")

    await chat(stack, "reader", "When is our deploy window?")
    note = memory_note(fake.chat_requests[0].body)
    assert note is not None and "Tuesday at noon" in note and "Mondays" not in note
    await chat(stack, "plain", "When is our deploy window?")
    assert memory_note(fake.chat_requests[1].body) is None
    for agent in ("reader", "plain"):  # neither may keep memories of its own
        meta = await stack.call("state::get", {"scope": f"memory:agent:{agent}", "key": "meta"})
        assert meta is None
    team = await stack.recall("writer", "deploy window", scopes=["shared:team"], limit=10)
    assert len(team) == 1  # the reader's turn was not written into the shared scope


async def test_realms_do_not_share_agent_memories(embedder: LocalEmbedder, tmp_path: Path,
                                                  fake: FakeUpstream) -> None:
    async with running(embedder, tmp_path / "s.db", fake=fake, auth=True) as stack, \
            connect(stack.node.url, workers=[], name="beta", token="t-beta") as beta:
        await stack.agent("ada")
        await stack.agent("ada", client=beta)
        await chat(stack, "ada", "Our acme secret project is called Bluebird.")
        await chat(stack, "ada", "What is our secret project called?", client=beta)
        assert memory_note(fake.chat_requests[1].body) is None
        await chat(stack, "ada", "What is our secret project called?")
        note = memory_note(fake.chat_requests[2].body)
        assert note is not None and "Bluebird" in note


async def test_an_agent_searches_the_knowledge_base_as_a_tool(chat_stack: Stack, fake: FakeUpstream) -> None:
    stack = chat_stack
    await stack.call("kb::ingest", {"name": "policy.md",
                                    "text": "# Travel\nTrain travel is booked in second class."})
    await stack.call("agent::create", {"name": "clerk", "capabilities": {"tools": ["kb::search"]}})
    fake.script(ToolCalls([ToolCall("c1", "kb__search", '{"query": "how are train trips booked"}')]),
                Text("Second class."))
    result = await chat(stack, "clerk", "How do I book a train?")
    assert result["content"] == "Second class." and result["tool_calls"][0]["ok"] is True
    [tool_message] = [m for m in fake.chat_requests[1].body["messages"] if m["role"] == "tool"]
    answer = json.loads(tool_message["content"])
    assert answer["results"][0]["citation"]["text"] == "policy.md, Travel"
    assert "second class" in answer["results"][0]["content"]
