"""Restart durability on SQLite: a fresh engine and worker on the same file lose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.memory import LocalEmbedder, MemoryConfig

from .conftest import DAY, FakeClock, running

pytestmark = pytest.mark.slow

SMALL_SEGMENTS = MemoryConfig.model_validate({"consolidation": {"cron": None},
                                              "limits": {"segment_bytes": 16 * 1024}})
FACTS = [f"Fact {i}: the {w} is kept in drawer {i}." for i, w in enumerate(
    ["stapler", "passport", "charger", "torch", "tape", "glue", "scissors", "ruler", "map",
     "compass", "whistle", "candle", "matches", "rope", "knife", "spoon", "kettle", "cup",
     "plate", "fork"])]


async def test_a_restart_loses_nothing(embedder: LocalEmbedder, tmp_path: Path) -> None:
    db = tmp_path / "agentos.db"
    clock = FakeClock()
    async with running(embedder, db, config=SMALL_SEGMENTS, clock=clock) as stack:
        await stack.agent("ada", ["self", "shared:team"])
        stored = [await stack.store("ada", fact, session_id="s1") for fact in FACTS]
        dup_a = await stack.store("ada", "I grew up in a small village near Porto, in Portugal.")
        dup_b = await stack.store("ada", "I grew up in a small village near Porto in Portugal!", importance=0.9)
        await stack.call("memory::forget", {"agent_id": "ada", "ids": [stored[3]["id"]]})
        assert (await stack.call("memory::consolidate", {"agent_id": "ada"}))["merged"] == 1
        await stack.store("ada", "Shared: the team retro is on Fridays.", scope="shared:team")
        await stack.call("memory::kg::add", {"agent_id": "ada", "entities": [
            {"id": "ada", "type": "person"}, {"id": "porto", "type": "city"}],
            "relations": [{"source": "ada", "type": "grew_up_in", "target": "porto"}]})
        await stack.call("kb::ingest", {"name": "notes.md", "text": "# Wifi\nThe guest network is called Harbour."})
        clock.advance(DAY)
        before = await stack.recall("ada", "where is the passport kept", limit=5)
        assert before[0]["id"] == stored[1]["id"]
        segments = (await stack.call("state::get", {"scope": "memory:agent:ada", "key": "meta"}))["segments"]
        assert len(segments) > 1  # the test really crosses segment boundaries
        # a segment written but never committed (a crash before the meta update) must not load
        await stack.call("state::set", {"scope": "memory:agent:ada", "key": "seg:000999", "value": {
            "items": {"ghost": {**(await stack.call("state::get", {"scope": "memory:agent:ada",
                                                                 "key": f"seg:{segments[0]:06d}"}))
                                ["items"][stored[0]["id"]], "id": "ghost"}}}})

    async with running(embedder, db, config=SMALL_SEGMENTS, clock=clock) as stack:
        after = await stack.recall("ada", "where is the passport kept", limit=5)
        assert [(m["id"], m["content"]) for m in after] == [(m["id"], m["content"]) for m in before]
        assert [m["score"] for m in after] == pytest.approx([m["score"] for m in before], abs=1e-6)
        assert after[0]["access_count"] == 2  # recall statistics survived too
        everything = await stack.recall("ada", "drawer fact village", limit=100, scopes=["self"])
        ids = {m["id"] for m in everything}
        assert len(ids) == len(FACTS) - 1 + 1 and stored[3]["id"] not in ids and "ghost" not in ids
        again = await stack.store("ada", FACTS[5])  # the dedup table was rebuilt
        assert again == {**again, "id": stored[5]["id"], "deduplicated": True}
        merged = await stack.store("ada", "I grew up in a small village near Porto, in Portugal.")
        assert merged["id"] == dup_b["id"] != dup_a["id"]  # merges are remembered too
        session = await stack.call("memory::session::get", {"agent_id": "ada", "session_id": "s1"})
        assert len(session["messages"]) == len(FACTS) - 1 and session["missing"] == [stored[3]["id"]]
        [team] = await stack.recall("ada", "when is the retrospective", scopes=["shared:team"])
        assert "Fridays" in team["content"]
        graph = await stack.call("memory::kg::traverse", {"agent_id": "ada", "start": "ada"})
        assert {n["id"] for n in graph["nodes"]} == {"ada", "porto"}
        [hit] = (await stack.call("kb::search", {"query": "what is the guest wifi called", "limit": 1}))["results"]
        assert "Harbour" in hit["content"] and hit["citation"]["heading"] == "Wifi"
