"""The vectors of one partition: a contiguous float32 matrix, append-only, with tombstones.

Theory of operation
-------------------
Why brute force: all vectors are L2-normalised, so cosine similarity is one matrix-vector
product, ``M[:n] @ q``, a single BLAS ``sgemv`` that streams the matrix once. It is exact (no
recall loss, nothing to train or tune) and costs nothing on insert. ``bench/memory_recall.py``
runs it beside ``faiss.IndexFlatIP`` on the same vectors: the full hybrid recall is within
1.0–1.3× of FAISS's search at 10k and 100k rows (same top 10 every time), and both are bound by
streaming 150 MiB per query at 100k. An approximate index (IVF, HNSW) would only pay off beyond
the per-partition sizes the consolidation cap (10k by default) allows.

Rows are appended at the end (the matrix doubles its capacity when full, so an append is
amortised O(dim)); a forgotten row is only marked dead in ``alive``, which every scorer
applies. Rows never move, so a row number is a stable id until :meth:`VectorIndex.compact`
builds a fresh index of the live rows and returns the old→new mapping. A reader may score a
snapshot (``matrix()``) in a worker thread while the event loop appends: growth allocates a new
buffer and never writes to rows a reader can see.

Each row also carries its owner (the memory id), its importance and its creation time, kept in
arrays beside the matrix so recall can rank 100k rows without touching a Python object.

:func:`encode_vector` / :func:`decode_vectors` are the storage format: base64 of little-endian
float32, 2 KiB of text for a 384-d vector.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt

__all__ = ["VectorIndex", "VectorStatistics", "decode_vectors", "encode_vector", "normalize_rows"]

Matrix = npt.NDArray[np.float32]


def normalize_rows(vectors: npt.ArrayLike) -> Matrix:
    """``vectors`` as float32 rows of unit length (zero rows stay zero)."""
    m = np.asarray(vectors, dtype=np.float32)
    if m.ndim == 1:
        m = m[None, :]
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.ascontiguousarray(m / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def encode_vector(vector: npt.NDArray[np.float32]) -> str:
    """The storage text of one vector: base64 of its little-endian float32 bytes."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vectors(texts: Sequence[str], dim: int) -> Matrix:
    """Rows decoded from :func:`encode_vector` texts.

    Raises:
        ValueError: a text is not base64 of ``dim`` float32 values.
    """
    raw = b"".join(base64.b64decode(t, validate=True) for t in texts)
    if len(raw) != len(texts) * dim * 4:
        raise ValueError(f"stored vectors are not {dim}-dimensional float32")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(len(texts), dim)


class VectorStatistics(NamedTuple):
    rows: int
    """Rows appended (dead ones included)."""
    live: int
    """Rows not forgotten."""
    capacity: int
    bytes: int
    """Memory held by the matrix and the per-row arrays."""


class VectorIndex:
    """Unit vectors of one partition, scored by brute force (see the module docstring).

    Args:
        dim: the vector size.
        capacity: initial rows allocated (grows by doubling).
    """

    def __init__(self, dim: int, capacity: int = 256) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        capacity = max(1, capacity)
        self._m: Matrix = np.zeros((capacity, dim), dtype=np.float32)
        self._alive = np.zeros(capacity, dtype=bool)
        self._importance = np.zeros(capacity, dtype=np.float32)
        self._created = np.zeros(capacity, dtype=np.float64)
        self._owner: list[str] = []
        self.n = 0
        self.live = 0

    # -- writing -------------------------------------------------------------------------------

    def _grow(self, need: int) -> None:
        capacity = len(self._m)
        if need <= capacity:
            return
        while capacity < need:
            capacity *= 2
        m = np.zeros((capacity, self.dim), dtype=np.float32)
        m[: self.n] = self._m[: self.n]
        self._m = m
        for name in ("_alive", "_importance", "_created"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def append(self, vectors: Matrix, owner: str, importance: float, created: float) -> list[int]:
        """Add ``vectors`` (k × dim, unit rows) owned by memory ``owner``; returns their rows.

        Raises:
            ValueError: wrong shape.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected k × {self.dim} vectors, got shape {vectors.shape}")
        k = len(vectors)
        self._grow(self.n + k)
        start = self.n
        self._m[start:start + k] = vectors
        self._alive[start:start + k] = True
        self._importance[start:start + k] = importance
        self._created[start:start + k] = created
        self._owner.extend([owner] * k)
        self.n += k
        self.live += k
        return list(range(start, start + k))

    def kill(self, rows: Sequence[int]) -> None:
        """Mark ``rows`` dead (idempotent)."""
        for row in rows:
            if 0 <= row < self.n and self._alive[row]:
                self._alive[row] = False
                self.live -= 1

    def set_importance(self, rows: Sequence[int], value: float) -> None:
        self._importance[list(rows)] = value

    # -- reading -------------------------------------------------------------------------------

    def matrix(self) -> Matrix:
        """The appended rows (a view; dead rows included)."""
        return self._m[: self.n]

    @property
    def alive(self) -> npt.NDArray[np.bool_]:
        return self._alive[: self.n]

    @property
    def importance(self) -> npt.NDArray[np.float32]:
        return self._importance[: self.n]

    @property
    def created(self) -> npt.NDArray[np.float64]:
        return self._created[: self.n]

    def owner(self, row: int) -> str:
        return self._owner[row]

    def vector(self, row: int) -> Matrix:
        return cast(Matrix, self._m[row])

    @staticmethod
    def cosine(matrix: Matrix, query: Matrix) -> npt.NDArray[np.float32]:
        """``matrix @ query``: the cosine of every row (unit vectors). Safe in a worker thread."""
        return cast(npt.NDArray[np.float32], np.dot(matrix, np.asarray(query, dtype=np.float32)))

    def compact(self) -> tuple[VectorIndex, npt.NDArray[np.int64]]:
        """A fresh index of the live rows, and ``old row → new row`` (-1 for dead rows)."""
        keep = np.flatnonzero(self.alive)
        fresh = VectorIndex(self.dim, capacity=max(256, len(keep)))
        k = len(keep)
        fresh._m[:k] = self._m[keep]
        fresh._alive[:k] = True
        fresh._importance[:k] = self._importance[keep]
        fresh._created[:k] = self._created[keep]
        fresh._owner = [self._owner[i] for i in keep]
        fresh.n = fresh.live = k
        mapping = np.full(self.n, -1, dtype=np.int64)
        mapping[keep] = np.arange(k)
        return fresh, mapping

    def statistics(self) -> VectorStatistics:
        capacity = len(self._m)
        size = self._m.nbytes + self._alive.nbytes + self._importance.nbytes + self._created.nbytes
        return VectorStatistics(self.n, self.live, capacity, size)
