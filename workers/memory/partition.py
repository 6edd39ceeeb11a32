"""One partition in the worker's memory: items, vectors, keyword index, dedup table, search.

Theory of operation
-------------------
A :class:`Partition` mirrors what :class:`~.storage.SegmentLog` holds for one (realm,
partition) pair. It is built once from storage (:meth:`Partition.build`) and then changed only
*after* the matching write succeeded, synchronously (no ``await`` between the first and the
last change), so a recall running on the event loop always sees a consistent partition. Writers
take :attr:`Partition.lock`; readers need none.

:meth:`Partition.search` is hybrid: cosine over all rows (:class:`~.vectors.VectorIndex`, in a
worker thread for big partitions), BM25 over the query terms (:class:`~.bm25.BM25Index`),
recency and importance from the per-row arrays, combined by :func:`~.ranking.combine`. Rows
are then folded into items (an item scores as its best row) and the top ``limit`` items are
explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from .bm25 import BM25Index, tokenize
from .config import MemoryConfig
from .errors import ModelMismatch, StorageError
from .items import Item
from .ranking import WeightsLike, combine, explain, recency
from .storage import Loaded, SegmentLog, json_size
from .vectors import Matrix, VectorIndex, decode_vectors

__all__ = ["Hit", "Partition"]

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Hit:
    item: Item
    score: float
    explain: dict[str, Any]


class Partition:
    """The live state of one partition (see the module docstring)."""

    def __init__(self, realm: str, name: str, model: str, dim: int, config: MemoryConfig) -> None:
        self.realm, self.name = realm, name
        self.model, self.dim = model, dim
        self.config = config
        self.log = SegmentLog(name)
        self.lock = anyio.Lock()
        self.items: dict[str, Item] = {}
        self.index = VectorIndex(dim)
        self.bm25 = BM25Index(config.recall.bm25_k1, config.recall.bm25_b)
        self.hashes: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.meta: dict[str, Any] | None = None
        self.segments: dict[int, set[str]] = {}
        self.open_bytes = 0
        self.verified = False
        """Set by a user of the partition that checked it once after loading (the KB does)."""

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def build(cls, realm: str, name: str, model: str, dim: int, config: MemoryConfig,
              loaded: Loaded) -> Partition:
        """The partition described by ``loaded`` (empty when it was never written).

        Raises:
            ModelMismatch: the stored vectors come from another model or size.
            StorageError: a stored record is malformed.
        """
        part = cls(realm, name, model, dim, config)
        meta = loaded.meta
        if meta is None:
            return part
        if meta.get("model") != model or meta.get("dim") != dim:
            raise ModelMismatch(
                f"partition {name} holds {meta.get('dim')}-d vectors of {meta.get('model')!r}, "
                f"but this worker embeds with {model!r} ({dim}-d); configure that model or "
                "re-ingest into a fresh partition")
        part.meta = meta
        for number in sorted(loaded.segments):
            part.segments[number] = set()
            for rec in loaded.segments[number].values():
                try:
                    item, vectors = Item.from_record(rec, number)
                    matrix = decode_vectors(vectors, dim)
                except (KeyError, TypeError, ValueError) as exc:
                    raise StorageError(f"partition {name}, segment {number}: bad record: {exc}") from exc
                stamp = loaded.access.get(item.id)
                if stamp and len(stamp) == 2:
                    item.accessed_at, item.access_count = float(stamp[0]), int(stamp[1])
                part.add(item, matrix)
        part.open_bytes = loaded.sizes.get(part.open_segment, 0) if part.open_segment is not None else 0
        return part

    @property
    def exists(self) -> bool:
        return self.meta is not None

    @property
    def open_segment(self) -> int | None:
        numbers = self.meta.get("segments") if self.meta else None
        return int(numbers[-1]) if numbers else None

    def new_meta(self, kind: str) -> dict[str, Any]:
        return {"version": 1, "kind": kind, "model": self.model, "dim": self.dim,
                "segments": [], "next_segment": 0}

    # -- changing (call only after the matching write succeeded) --------------------------------

    def add(self, item: Item, vectors: Matrix) -> None:
        """Index ``item`` whose rows are ``vectors``."""
        item.rows = self.index.append(vectors, item.id, item.importance, item.created_at)
        for row, (start, end) in zip(item.rows, item.spans, strict=True):
            self.bm25.add(row, tokenize(item.content[start:end]))
        self.items[item.id] = item
        self.hashes.setdefault(item.hash, item.id)
        for old_id, old_hash in zip(item.merged_from, item.merged_hashes, strict=False):
            self.aliases[old_id] = item.id
            self.hashes[old_hash] = item.id
        self.segments.setdefault(item.segment, set()).add(item.id)

    def remove(self, item_id: str) -> Item | None:
        """Forget ``item_id`` in memory; returns it (None if unknown)."""
        item = self.items.pop(item_id, None)
        if item is None:
            return None
        self.index.kill(item.rows)
        for row, (start, end) in zip(item.rows, item.spans, strict=True):
            self.bm25.remove(row, tokenize(item.content[start:end]))
        for key in [item.hash, *item.merged_hashes]:
            if self.hashes.get(key) == item.id:
                del self.hashes[key]
        self.segments.get(item.segment, set()).discard(item.id)
        return item

    def set_importance(self, item: Item, value: float) -> None:
        item.importance = value
        self.index.set_importance(item.rows, value)

    def resolve(self, item_id: str) -> Item | None:
        """The item ``item_id``, following merges."""
        seen = 0
        while item_id not in self.items and item_id in self.aliases and seen < 32:
            item_id, seen = self.aliases[item_id], seen + 1
        return self.items.get(item_id)

    def compact(self) -> int:
        """Drop dead rows from the matrix and the keyword index; returns how many went."""
        dead = self.index.n - self.index.live
        if dead == 0:
            return 0
        index, mapping = self.index.compact()
        for item in self.items.values():
            item.rows = [int(mapping[r]) for r in item.rows]
        bm25 = BM25Index(self.bm25.k1, self.bm25.b)  # new objects: a search in flight keeps the old
        bm25.rebuild(sorted(
            (row, tokenize(item.content[s:e]))
            for item in self.items.values() for row, (s, e) in zip(item.rows, item.spans, strict=True)
        ))
        self.index, self.bm25 = index, bm25
        return dead

    def record_bytes(self, records: Sequence[dict[str, Any]]) -> int:
        return sum(json_size(r) for r in records)

    # -- reading -------------------------------------------------------------------------------

    async def search(self, query: Matrix, text: str, limit: int, weights: WeightsLike,
                     now: float) -> list[Hit]:
        """The ``limit`` best items for the query vector and text (see the module docstring)."""
        # One snapshot of the index pair: a compaction while we wait for the thread swaps in
        # new ones with other row numbers; appends only add rows past the ``n`` we scored.
        index, bm25_index = self.index, self.bm25
        if index.live == 0 or limit <= 0:
            return []
        matrix = index.matrix()
        if len(matrix) >= self.config.recall.thread_rows:
            cosine = await anyio.to_thread.run_sync(VectorIndex.cosine, matrix, query)
        else:
            cosine = VectorIndex.cosine(matrix, query)
        n = len(cosine)
        alive = index.alive[:n]
        tokens = tokenize(text)
        use_keywords = bool(tokens) and weights.keyword > 0
        bm25 = bm25_index.scores(tokens, alive) if use_keywords else np.zeros(n, np.float32)
        ceiling = bm25_index.ceiling(tokens) if use_keywords else 0.0
        keyword = np.minimum(bm25 / ceiling, 1.0) if ceiling > 0 else bm25
        half_life = self.config.recall.recency_half_life_days * DAY_S
        fresh = recency(now - index.created[:n], half_life) if weights.recency else np.zeros(n)
        importance = index.importance[:n]
        total = np.where(alive, combine(cosine, keyword, fresh, importance, weights), -np.inf)
        want = min(n, max(limit * 4, limit + 16))
        while True:
            hits: list[Hit] = []
            seen: set[str] = set()
            top = np.argpartition(-total, want - 1)[:want] if want < n else np.arange(n)
            for row in top[np.argsort(-total[top], kind="stable")]:
                if not np.isfinite(total[row]) or len(hits) == limit:
                    break
                owner = index.owner(int(row))
                if owner in seen or owner not in self.items:
                    continue
                seen.add(owner)
                why = explain(cosine=float(cosine[row]), bm25=float(bm25[row]),
                              keyword=float(keyword[row]), recency_=float(fresh[row]),
                              importance=float(importance[row]), weights=weights)
                hits.append(Hit(self.items[owner], why["score"], why))
            if len(hits) == limit or want >= n:
                return hits
            want = min(n, want * 4)  # long items hold many rows: look further
