"""vectors: the contiguous matrix, tombstones, compaction, the storage encoding."""

from __future__ import annotations

import numpy as np
import pytest

from workers.memory.vectors import VectorIndex, decode_vectors, encode_vector, normalize_rows


def unit(*rows: list[float]) -> np.ndarray:
    return normalize_rows(np.array(rows, dtype=np.float32))


def test_append_grows_and_scores_by_cosine() -> None:
    index = VectorIndex(3, capacity=1)
    a = index.append(unit([1, 0, 0]), "a", 0.5, 10.0)
    b = index.append(unit([0, 1, 0], [1, 1, 0]), "b", 0.7, 20.0)
    assert (a, b) == ([0], [1, 2])
    assert index.statistics().capacity >= 3 and index.n == index.live == 3
    scores = VectorIndex.cosine(index.matrix(), unit([1, 0, 0])[0])
    assert scores == pytest.approx([1.0, 0.0, np.sqrt(0.5)], abs=1e-6)
    assert [index.owner(r) for r in range(3)] == ["a", "b", "b"]
    assert index.importance.tolist() == pytest.approx([0.5, 0.7, 0.7])
    assert index.created.tolist() == [10.0, 20.0, 20.0]


def test_kill_and_compact_keep_live_rows_in_order() -> None:
    index = VectorIndex(2)
    for i in range(5):
        index.append(unit([1, i]), f"m{i}", i / 10, float(i))
    index.kill([1, 3, 3, 99])
    assert index.live == 3 and index.alive.tolist() == [True, False, True, False, True]
    fresh, mapping = index.compact()
    assert mapping.tolist() == [0, -1, 1, -1, 2]
    assert [fresh.owner(r) for r in range(fresh.n)] == ["m0", "m2", "m4"]
    assert fresh.importance.tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert np.allclose(fresh.matrix(), index.matrix()[[0, 2, 4]])


def test_a_snapshot_survives_growth() -> None:
    index = VectorIndex(2, capacity=1)
    index.append(unit([1, 0]), "a", 0.5, 0.0)
    snapshot = index.matrix()
    index.append(unit([0, 1], [1, 1], [1, 2]), "b", 0.5, 0.0)
    assert snapshot.shape == (1, 2) and np.allclose(snapshot[0], [1, 0])


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        VectorIndex(0)
    with pytest.raises(ValueError):
        VectorIndex(3).append(np.zeros((1, 2), dtype=np.float32), "x", 0.5, 0.0)


def test_storage_encoding_round_trips() -> None:
    rows = normalize_rows(np.random.default_rng(1).standard_normal((3, 384)))
    texts = [encode_vector(r) for r in rows]
    assert all(len(t) == 2048 for t in texts)
    assert np.array_equal(decode_vectors(texts, 384), rows)
    with pytest.raises(ValueError):
        decode_vectors(texts, 383)


def test_normalize_rows_leaves_zero_rows_alone() -> None:
    out = normalize_rows([[3, 4], [0, 0]])
    assert out.tolist() == [pytest.approx([0.6, 0.8]), [0.0, 0.0]] and out.dtype == np.float32
