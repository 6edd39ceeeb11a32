"""memory::consolidate: real merging of near-duplicates, decay, eviction to the cap, compaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.memory import LocalEmbedder, MemoryConfig

from .conftest import DAY, Stack, running

pytestmark = pytest.mark.slow


def config(**consolidation: object) -> MemoryConfig:
    return MemoryConfig.model_validate({"consolidation": {"cron": None, **consolidation},
                                        "limits": {"segment_bytes": 16 * 1024}})


async def test_two_near_duplicates_are_merged_into_one(stack: Stack) -> None:
    await stack.agent("ada")
    a = await stack.store("ada", "I live in Berlin with my partner and our two dogs.",
                          importance=0.6, session_id="s")
    b = await stack.store("ada", "I live in Berlin with my partner and our two dogs!",
                          importance=0.7, session_id="s")
    other = await stack.store("ada", "My favourite band is Radiohead.")
    result = await stack.call("memory::consolidate", {"agent_id": "ada"})
    assert result["merged"] == 1 and result["items_before"] == 3 and result["items_after"] == 2
    memories = await stack.recall("ada", "where do I live and with whom", limit=5)
    survivor = next(m for m in memories if m["id"] == b["id"])  # the more important one survives
    assert survivor["merged_from"] == [a["id"]]
    assert survivor["importance"] == pytest.approx(0.75)
    assert {m["id"] for m in memories} == {b["id"], other["id"]}
    session = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s"})
    assert [m["id"] for m in session["messages"]] == [b["id"], b["id"]]  # the victim resolves
    again = await stack.store("ada", "I live in Berlin with my partner and our two dogs.")
    assert again["id"] == b["id"] and again["deduplicated"] is True
    second = await stack.call("memory::consolidate", {"agent_id": "ada"})
    assert second["merged"] == 0


async def test_idle_memories_decay_and_the_recalled_one_does_not(embedder: LocalEmbedder, tmp_path: Path) -> None:
    async with running(embedder, tmp_path / "s.db", config=config()) as stack:
        await stack.agent("ada")
        idle = await stack.store("ada", "The spare key is under the blue flower pot.", importance=0.8)
        used = await stack.store("ada", "My dentist appointment is on the 14th.", importance=0.8)
        stack.clock.advance(20 * DAY)
        [hit] = await stack.recall("ada", "when do I see the dentist", limit=1)
        assert hit["id"] == used["id"]
        stack.clock.advance(DAY)
        result = await stack.call("memory::consolidate", {})
        assert result["decayed"] == 1 and result["evicted"] == 0
        memories = {m["id"]: m for m in await stack.recall("ada", "key dentist", limit=5)}
        assert memories[idle["id"]]["importance"] == pytest.approx(0.8 * 0.98 ** 14, rel=1e-4)
        assert memories[used["id"]]["importance"] == 0.8


async def test_eviction_keeps_the_cap_and_drops_the_stale(embedder: LocalEmbedder, tmp_path: Path) -> None:
    async with running(embedder, tmp_path / "s.db", config=config(cap=3)) as stack:
        await stack.agent("ada")
        facts = {0.9: "My passport expires in May.", 0.2: "The hallway bulb flickers.",
                 0.5: "I water the ferns on Sundays.", 0.7: "Our landlord is called Mr Ortiz.",
                 0.3: "The bakery closes at six."}
        ids = {imp: (await stack.store("ada", text, importance=imp))["id"] for imp, text in facts.items()}
        result = await stack.call("memory::consolidate", {"agent_id": "ada"})
        assert (result["merged"], result["evicted"], result["items_after"]) == (0, 2, 3)
        kept = {m["id"] for m in await stack.recall("ada", "passport bulb ferns landlord bakery", limit=10)}
        assert kept == {ids[0.9], ids[0.7], ids[0.5]}
    async with running(embedder, tmp_path / "t.db", config=config(evict_below=0.3)) as stack:
        await stack.agent("ada")
        low = await stack.store("ada", "A trivial remark about nothing.", importance=0.2)
        await stack.store("ada", "An important fact I must keep.", importance=0.9)
        assert (await stack.call("memory::consolidate", {}))["evicted"] == 0  # not idle yet
        stack.clock.advance(31 * DAY)
        result = await stack.call("memory::consolidate", {})
        assert result["evicted"] == 1
        assert low["id"] not in {m["id"] for m in await stack.recall("ada", "remark fact", limit=5)}


async def test_forgotten_segments_are_dropped_and_rows_compacted(embedder: LocalEmbedder, tmp_path: Path) -> None:
    async with running(embedder, tmp_path / "s.db", config=config()) as stack:
        await stack.agent("ada")
        result = await stack.call("memory::store", {"agent_id": "ada", "items": [
            {"content": f"Old note {i} about topic {i}."} for i in range(12)]})
        old = [i["id"] for i in result["items"]]
        for i in range(6):
            await stack.store("ada", f"Newer note {i} on another subject {i}.")
        await stack.call("memory::forget", {"agent_id": "ada", "ids": old})
        result = await stack.call("memory::consolidate", {"agent_id": "ada"})
        assert result["dropped_segments"] >= 1 and result["compacted_rows"] == 12
        assert len(await stack.recall("ada", "note", limit=50)) == 6
    async with running(embedder, tmp_path / "s.db", config=config()) as stack:  # reload from disk
        assert len(await stack.recall("ada", "note", limit=50)) == 6
