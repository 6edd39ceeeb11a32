"""memory::store / recall / forget end to end: real embeddings, real engine, SQLite state."""

from __future__ import annotations

import pytest

from workers.sdk import InvocationError

from .conftest import DAY, Stack

pytestmark = pytest.mark.slow

MEMORIES = {
    "allergy": "My daughter Emma is allergic to peanuts, so we never keep them in the house.",
    "car": "I drive a blue 2018 Subaru Outback.",
    "budget": "The quarterly budget review moved to Thursday at 3pm.",
    "coffee": "I like dark roast coffee, black, with no sugar.",
    "database": "Our production database runs PostgreSQL 16 on a dedicated server in Frankfurt.",
    "marathon": "I am training for the Berlin marathon in September.",
    "cat": "My cat Luna knocks glasses off the table every morning.",
    "japanese": "I am learning Japanese and practise kanji every evening.",
    "deploy": "The deploy pipeline fails whenever the integration tests time out.",
    "sister": "My sister Clara lives in Lisbon and works as an architect.",
}
# Paraphrases: no query shares its key word with the memory it should find.
QUERIES = {
    "Which foods must the kid stay away from?": "allergy",
    "What vehicle do I own?": "car",
    "When do we go over the spending figures?": "budget",
    "How do I take my hot morning drink?": "coffee",
    "Which SQL engine backs our live system, and where is it hosted?": "database",
    "What long-distance race am I preparing for?": "marathon",
    "Which pet keeps breaking cups?": "cat",
    "What foreign language am I studying?": "japanese",
    "Why do our releases break?": "deploy",
    "Where does my sibling live and what is her job?": "sister",
}


async def test_recall_ranks_the_semantically_right_memory_first(stack: Stack) -> None:
    await stack.agent("ada")
    ids = {}
    for key, text in MEMORIES.items():
        ids[(await stack.store("ada", text))["id"]] = key
    for query, wanted in QUERIES.items():
        memories = await stack.recall("ada", query, limit=3)
        assert ids[memories[0]["id"]] == wanted, (query, [m["content"] for m in memories])
        assert memories[0]["score"] > memories[1]["score"]


async def test_recall_explains_its_scores(stack: Stack) -> None:
    await stack.agent("ada")
    await stack.store("ada", MEMORIES["coffee"], importance=0.8)
    [hit] = await stack.recall("ada", "dark roast coffee", limit=1)
    why = hit["explain"]
    assert set(why) == {"cosine", "bm25", "keyword", "recency", "importance", "weights", "weighted", "score"}
    assert why["weights"] == {"cosine": 0.6, "keyword": 0.2, "recency": 0.1, "importance": 0.1}
    assert why["cosine"] > 0.5 and why["bm25"] > 0 and 0 < why["keyword"] <= 1
    assert why["recency"] == 1.0 and why["importance"] == 0.8
    assert hit["score"] == pytest.approx(sum(why["weighted"].values()), abs=1e-5)
    assert hit["scope"] == "self" and hit["role"] == "user"


async def test_recency_and_importance_break_ties_between_equal_matches(stack: Stack) -> None:
    await stack.agent("ada")
    old = await stack.store("ada", "Team lunch is on Friday.", importance=0.5)
    stack.clock.advance(30 * DAY)
    new = await stack.store("ada", "Team lunch is on Friday!", importance=0.5)
    memories = await stack.recall("ada", "when is the team lunch", limit=2)
    assert [m["id"] for m in memories] == [new["id"], old["id"]]
    assert memories[0]["explain"]["recency"] == 1.0
    assert memories[1]["explain"]["recency"] < 0.1


async def test_same_content_is_stored_once(stack: Stack) -> None:
    await stack.agent("ada")
    first = await stack.store("ada", "I like dark roast coffee.")
    again = await stack.store("ada", "  I like   dark roast coffee.\n")
    other = await stack.store("ada", "I like light roast coffee.")
    assert first["deduplicated"] is False
    assert again == {**again, "id": first["id"], "deduplicated": True}
    assert other["id"] != first["id"] and other["deduplicated"] is False
    memories = await stack.recall("ada", "coffee", limit=10)
    assert sorted(m["id"] for m in memories) == sorted([first["id"], other["id"]])


async def test_a_batch_is_stored_together_and_deduplicated_within_itself(stack: Stack) -> None:
    await stack.agent("ada")
    result = await stack.call("memory::store", {"agent_id": "ada", "items": [
        {"content": "The office is in Porto.", "role": "user"},
        {"content": "Noted: the office is in Porto.", "role": "assistant"},
        {"content": "The office is in Porto.", "role": "user"},
    ]})
    a, b, c = result["items"]
    assert [a["deduplicated"], b["deduplicated"], c["deduplicated"]] == [False, False, True]
    assert c["id"] == a["id"]
    assert b["importance"] > a["importance"]  # assistant turns start more important


async def test_long_content_is_embedded_in_windows_not_truncated(stack: Stack) -> None:
    await stack.agent("ada")
    filler = " ".join(f"Paragraph {i} talks about gardening tools and soil." for i in range(200))
    tail = "The secret launch code word is pineapple submarine."
    control = await stack.store("ada", filler)
    result = await stack.store("ada", filler + " " + tail)
    assert result["chunks"] > 1
    hit, other = await stack.recall("ada", "what is the secret launch code word?", limit=2)
    # the tail is far past the model's 256 tokens, yet its window is what matches
    assert (hit["id"], other["id"]) == (result["id"], control["id"])
    assert hit["explain"]["cosine"] > other["explain"]["cosine"] + 0.15


async def test_forget_removes_memories_and_reports_missing_ids(stack: Stack) -> None:
    await stack.agent("ada")
    keep = await stack.store("ada", "I play the cello.")
    drop = await stack.store("ada", "I play the violin.")
    result = await stack.call("memory::forget", {"agent_id": "ada", "ids": [drop["id"], "mem_nope"]})
    assert result == {"forgotten": [drop["id"]], "missing": ["mem_nope"]}
    memories = await stack.recall("ada", "which instrument do I play", limit=10)
    assert [m["id"] for m in memories] == [keep["id"]]
    again = await stack.store("ada", "I play the violin.")  # forgotten content can come back
    assert again["deduplicated"] is False and again["id"] != drop["id"]


async def test_memory_scopes_decide_which_partitions_an_agent_reaches(stack: Stack) -> None:
    await stack.agent("ada", ["self.*", "shared.team"])
    await stack.agent("bob", ["shared:team"])
    await stack.agent("eve", ["self"])
    await stack.store("ada", "Standup is at 9:30 every weekday.", scope="shared:team")
    await stack.store("ada", "My locker code is 4821.")
    [hit] = await stack.recall("bob", "when is standup", limit=5)
    assert hit["scope"] == "shared:team" and "9:30" in hit["content"]
    both = await stack.recall("ada", "standup time and locker code", limit=5)
    assert {m["scope"] for m in both} == {"self", "shared:team"}
    assert await stack.recall("eve", "locker code", limit=5) == []  # eve's own memory is empty
    with pytest.raises(InvocationError) as err:
        await stack.recall("eve", "standup", scopes=["shared:team"])
    assert err.value.code == "forbidden"
    with pytest.raises(InvocationError) as err:
        await stack.store("bob", "bob has no self scope")
    assert err.value.code == "forbidden" and "memory_scopes" in err.value.message


@pytest.mark.parametrize(("payload", "code"), [
    ({"agent_id": "ada", "content": ""}, "invalid_arguments"),
    ({"agent_id": "ada", "content": "   \n"}, "invalid_arguments"),
    ({"agent_id": "ada"}, "invalid_arguments"),
    ({"agent_id": "ada", "content": "x", "colour": "red"}, "invalid_arguments"),
    ({"agent_id": "ghost", "content": "hello"}, "agent_not_found"),
    ({"agent_id": "ada", "content": "hello", "scope": "elsewhere"}, "invalid_arguments"),
    ({"agent_id": "ada", "content": "x" * (5 * 1024 * 1024)}, "content_too_large"),
    ({"agent_id": "ada", "items": [{"content": "fine"}, {"content": ""}]}, "invalid_arguments"),
])
async def test_bad_stores_are_refused_and_store_nothing(stack: Stack, payload: dict, code: str) -> None:
    await stack.agent("ada")
    with pytest.raises(InvocationError) as err:
        await stack.call("memory::store", payload)
    assert err.value.code == code
    assert await stack.recall("ada", "fine hello x", limit=10) == []


async def test_recall_refuses_bad_queries_and_unknown_agents(stack: Stack) -> None:
    await stack.agent("ada")
    for payload, code in [({"agent_id": "ada", "query": " "}, "invalid_arguments"),
                          ({"agent_id": "nobody", "query": "hi"}, "agent_not_found"),
                          ({"agent_id": "ada", "query": "hi", "limit": 0}, "invalid_arguments")]:
        with pytest.raises(InvocationError) as err:
            await stack.call("memory::recall", payload)
        assert err.value.code == code
