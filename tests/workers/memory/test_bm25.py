"""bm25: tokenising, incremental add/remove, scores lined up with rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers.memory.bm25 import BM25Index, tokenize


@pytest.mark.parametrize(("text", "expected"), [
    ("The cats sat on the mat", ["cat", "sat", "mat"]),
    ("What is my Wi-Fi password?", ["wi", "fi", "password"]),
    ("glass glasses class", ["glass", "glasse", "class"]),
    ("Ünïcode wörds_and_more 42", ["ünïcode", "wörd", "more", "42"]),
    ("a I x", []),
])
def test_tokenize(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def build(*docs: str) -> BM25Index:
    index = BM25Index()
    for row, doc in enumerate(docs):
        index.add(row, tokenize(doc))
    return index


def test_scores_rank_by_term_rarity_and_frequency() -> None:
    index = build("apple banana", "apple apple cherry", "banana cherry date", "eggplant")
    alive = np.ones(4, dtype=bool)
    apple = index.scores(["apple"], alive)
    assert apple[1] > apple[0] > 0 and apple[2] == apple[3] == 0
    rare = index.scores(["date"], alive)
    assert rare[2] > 0 and rare[2] > index.scores(["cherry"], alive)[2]


def test_idf_and_ceiling() -> None:
    index = build("apple banana", "apple cherry", "banana")
    assert index.idf("apple") == pytest.approx(math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))
    assert index.idf("unseen") == pytest.approx(math.log(1 + 3.5 / 0.5))
    assert index.ceiling(["apple", "apple", "unseen"]) == pytest.approx(index.idf("apple") + index.idf("unseen"))


def test_removed_rows_score_zero_and_leave_the_statistics() -> None:
    index = build("apple banana", "apple cherry")
    before = index.idf("cherry")
    index.remove(1, tokenize("apple cherry"))
    alive = np.array([True, False])
    assert index.scores(["cherry"], alive)[1] == 0
    assert index.statistics().documents == 1
    assert index.idf("cherry") > before  # cherry is now unseen
    index.rebuild([(0, tokenize("apple banana"))])
    assert index.statistics().postings == 2


def test_rows_are_added_once_in_order() -> None:
    index = build("a b c")
    with pytest.raises(ValueError):
        index.add(0, ["again"])
    index.add(5, ["late"])  # gaps are fine (dead rows of a compacted index)
    assert index.scores(["late"], np.ones(6, dtype=bool))[5] > 0


def test_scores_only_cover_the_rows_asked_for() -> None:
    index = build("apple", "apple", "apple")
    assert len(index.scores(["apple"], np.ones(2, dtype=bool))) == 2
