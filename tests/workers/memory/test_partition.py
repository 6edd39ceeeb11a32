"""partition: hybrid search over rows folded into items, forgetting, compaction (no engine)."""

from __future__ import annotations

import numpy as np
import pytest

from workers.memory.config import MemoryConfig, Weights
from workers.memory.items import Item
from workers.memory.partition import Partition
from workers.memory.vectors import normalize_rows

NOW = 1_000_000.0
COSINE = Weights(cosine=1.0, keyword=0.0, recency=0.0, importance=0.0)


def unit(*rows: list[float]) -> np.ndarray:
    return normalize_rows(np.array(rows, dtype=np.float32))


def add(part: Partition, item_id: str, text: str, *rows: list[float], importance: float = 0.5,
        age: float = 0.0) -> Item:
    cut = len(text) // len(rows)
    spans = [(i * cut, (i + 1) * cut if i < len(rows) - 1 else len(text)) for i in range(len(rows))]
    item = Item(id=item_id, kind="memory", content=text, hash=item_id, importance=importance,
                created_at=NOW - age, spans=spans, segment=0)
    part.add(item, unit(*rows))
    return item


@pytest.fixture
def part() -> Partition:
    p = Partition("", "agent:x", "m", 3, MemoryConfig())
    add(p, "a", "apples and pears", [1, 0, 0])
    add(p, "b", "long text first half about boats second half about trains", [0, 1, 0], [0.9, 0.1, 0])
    add(p, "c", "cherries", [0, 0, 1])
    return p


async def test_rows_fold_into_items_by_their_best_row(part: Partition) -> None:
    query = unit([0.9, 0.1, 0])[0]
    hits = await part.search(query, "", 10, COSINE, NOW)
    assert [h.item.id for h in hits] == ["b", "a", "c"]  # b's second row is the query itself
    assert hits[0].explain["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert hits[1].explain["cosine"] == pytest.approx(0.99388, abs=1e-4)
    assert [h.item.id for h in await part.search(query, "", 2, COSINE, NOW)] == ["b", "a"]


async def test_keywords_count_as_the_share_of_the_query_matched(part: Partition) -> None:
    weights = Weights(cosine=0.0, keyword=1.0, recency=0.0, importance=0.0)
    [top, *_] = await part.search(unit([0, 0, 1])[0], "cherries", 3, weights, NOW)
    assert top.item.id == "c" and top.explain["keyword"] > 0.5
    [top, *_] = await part.search(unit([0, 0, 1])[0], "cherries zeppelin quantum", 3, weights, NOW)
    assert top.item.id == "c" and top.explain["keyword"] < 0.5  # one word of three


async def test_recency_and_importance_decide_between_equals() -> None:
    part = Partition("", "agent:x", "m", 2, MemoryConfig())
    add(part, "old", "same", [1, 0], age=30 * 86_400)
    add(part, "new", "same", [1, 0])
    add(part, "vip", "same", [1, 0], importance=1.0, age=30 * 86_400)
    hits = await part.search(unit([1, 0])[0], "same", 3, Weights(), NOW)
    assert [h.item.id for h in hits] == ["new", "vip", "old"]


async def test_forget_and_compact_keep_results_consistent(part: Partition) -> None:
    part.remove("b")
    assert [h.item.id for h in await part.search(unit([1, 0, 0])[0], "boats", 5, Weights(), NOW)] == ["a", "c"]
    assert part.compact() == 2 and part.index.n == 2
    hits = await part.search(unit([1, 0, 0])[0], "boats", 5, Weights(), NOW)
    assert [h.item.id for h in hits] == ["a", "c"] and hits[0].explain["bm25"] == 0
    assert part.bm25.statistics().documents == 2
    add(part, "d", "boats again", [1, 0, 0])
    assert (await part.search(unit([1, 0, 0])[0], "boats", 1, Weights(), NOW))[0].item.id == "d"


async def test_an_empty_partition_finds_nothing() -> None:
    part = Partition("", "agent:x", "m", 2, MemoryConfig())
    assert await part.search(unit([1, 0])[0], "x", 5, Weights(), NOW) == []
