"""Storing, recalling and forgetting items: the service behind ``memory::*`` and ``kb::*``.

Theory of operation
-------------------
:class:`MemoryStore` keeps every partition it has touched in memory, keyed by ``(realm,
partition)`` — the realm being the one the engine stamped on the invocation, so two realms can
never share a :class:`~.partition.Partition`. A partition is loaded from state on first use
(once, even when several calls race for it) and then kept up to date by the writes this worker
makes. One memory worker serves a cluster's memory; a second one would not see the first one's
writes until restarted.

Writing (:meth:`MemoryStore.write`) is: embed (no lock held), then, under the partition's lock,
drop what is already stored (same content hash → the existing id, ``deduplicated: true``), write
the records (:mod:`.storage`: one atomic segment update, or fresh segments committed by one meta
update), and only then index them in memory. A failure anywhere before the commit leaves
nothing behind, in state or in memory.

Recall embeds the query once, searches each partition it may read, merges by score and, when
``track_access`` is on, records the hits' access time (what protects them from decay).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from workers.sdk import Context

from .chunking import content_hash
from .config import MemoryConfig
from .embedder import Embedder, Encoded
from .errors import Conflict, ContentTooLarge, InvalidArguments
from .items import Item
from .partition import Hit, Partition
from .ranking import WeightsLike
from .storage import SegmentLog, StateClient, in_realm, json_size
from .vectors import encode_vector

__all__ = ["MemoryStore", "NewItem", "Written", "REGISTRY_SCOPE"]

log = logging.getLogger(__name__)

REGISTRY_SCOPE = "memory_partitions"
"""Default-realm scope listing every (realm, partition) ever created, for cron sweeps."""
SEGMENT_OVERHEAD = 64


@dataclass(slots=True)
class NewItem:
    """An item to store, before it has an id and vectors."""

    id: str
    kind: str
    content: str
    importance: float
    role: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    hash_key: str | None = None
    """What the dedup hash covers instead of the content (knowledge-base chunks: their place)."""


@dataclass(frozen=True, slots=True)
class Written:
    """The outcome for one :class:`NewItem`: its id and whether it was already stored."""

    id: str
    deduplicated: bool
    chunks: int
    item: Item


class MemoryStore:
    """Partitions by realm, loaded on demand (see the module docstring).

    Args:
        embedder: the embedding backend (loaded).
        config: the worker's configuration.
        clock: wall-clock seconds, for timestamps and recency.
    """

    def __init__(self, embedder: Embedder, config: MemoryConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.embedder, self.config, self.clock = embedder, config, clock
        self._partitions: dict[tuple[str, str], Partition] = {}
        self._loading: dict[tuple[str, str], anyio.Lock] = {}

    # -- partitions ----------------------------------------------------------------------------

    async def partition(self, ctx: Context, name: str) -> Partition:
        """The partition ``name`` of the caller's realm, loaded if needed.

        Raises:
            StorageError, ModelMismatch: it cannot be loaded.
        """
        key = (ctx.realm or "", name)
        part = self._partitions.get(key)
        if part is not None:
            return part
        lock = self._loading.setdefault(key, anyio.Lock())
        async with lock:
            part = self._partitions.get(key)
            if part is None:
                loaded = await SegmentLog(name).load(StateClient(ctx))
                # decoding vectors and indexing text take seconds for a big partition
                part = await anyio.to_thread.run_sync(
                    Partition.build, key[0], name, self.embedder.model, self.embedder.dim,
                    self.config, loaded)
                self._partitions[key] = part
                log.info("loaded partition %s of realm %r: %d items", name, key[0], len(part.items))
        return part

    # -- writing -------------------------------------------------------------------------------

    def check_content(self, content: str, what: str = "content") -> None:
        """Raises InvalidArguments (blank) or ContentTooLarge (over ``max_content_chars``)."""
        if not content.strip():
            raise InvalidArguments(f"{what} is empty")
        limit = self.config.limits.max_content_chars
        if len(content) > limit:
            raise ContentTooLarge(f"{what} is {len(content)} characters, over the limit of {limit}; "
                                  "split it, or ingest it as a document with kb::ingest")

    async def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return await self.embedder.encode(texts)

    async def write(self, ctx: Context, part: Partition, new: Sequence[NewItem],
                    encoded: Sequence[Encoded], kind: str = "memory") -> list[Written]:
        """Store ``new`` (already embedded as ``encoded``) in ``part``; see the module docstring.

        Raises:
            ContentTooLarge: one record cannot fit in a segment.
            StorageError: a write failed (nothing was stored).
        """
        now = self.clock()
        async with part.lock:
            out: list[Written | None] = []
            fresh: list[tuple[Item, Encoded, dict[str, Any]]] = []
            batch_hashes: dict[str, Item] = {}
            for entry, enc in zip(new, encoded, strict=True):
                digest = content_hash(entry.kind, entry.hash_key or entry.content)
                existing = part.resolve(part.hashes.get(digest, "")) or batch_hashes.get(digest)
                if existing is not None:
                    out.append(Written(existing.id, True, len(existing.spans), existing))
                    continue
                item = Item(id=entry.id, kind=entry.kind, content=entry.content, hash=digest,
                            importance=entry.importance, created_at=now, spans=list(enc.spans),
                            role=entry.role, agent_id=entry.agent_id, session_id=entry.session_id,
                            metadata=entry.metadata, source=entry.source)
                record = item.record([encode_vector(v) for v in enc.vectors])
                if json_size(record) + SEGMENT_OVERHEAD > self.config.limits.max_value_bytes:
                    raise ContentTooLarge(f"{entry.kind} {entry.id} needs more than one stored "
                                          "segment; shorten it")
                batch_hashes[digest] = item
                fresh.append((item, enc, record))
                out.append(None)
            if fresh:
                segment_of = await self._persist(ctx, part, [r for _, _, r in fresh], kind)
                for item, enc, _ in fresh:
                    item.segment = segment_of[item.id]
                    part.add(item, enc.vectors)
            results: list[Written] = []
            pending = iter(fresh)
            for written in out:
                if written is None:
                    item = next(pending)[0]
                    written = Written(item.id, False, len(item.spans), item)
                results.append(written)
            return results

    async def _persist(self, ctx: Context, part: Partition, records: list[dict[str, Any]],
                       kind: str) -> dict[str, int]:
        """Write ``records`` and commit them; returns each record's segment."""
        client = StateClient(ctx)
        limits = self.config.limits
        if part.meta is None:
            await StateClient(in_realm(ctx, None)).set(
                REGISTRY_SCOPE, f"{part.realm}|{part.name}",
                {"realm": part.realm or None, "partition": part.name})
            meta = part.new_meta(kind)
            if not await part.log.create(client, meta):
                raise Conflict(f"partition {part.name} was created by another writer; retry")
            part.meta = meta
        size = sum(json_size(r) for r in records)
        open_segment = part.open_segment
        if open_segment is not None and part.open_bytes + size <= limits.segment_bytes:
            await part.log.append(client, open_segment, records)
            part.open_bytes += size
            return {r["id"]: open_segment for r in records}
        groups = _pack(records, limits.segment_bytes)
        first = int(part.meta.get("next_segment", 0))
        numbers = list(range(first, first + len(groups)))
        for number, group in zip(numbers, groups, strict=True):
            await part.log.write_new(client, number, group)
        await part.log.commit(client, numbers, first + len(groups))
        part.meta["segments"] = [*part.meta.get("segments", []), *numbers]
        part.meta["next_segment"] = first + len(groups)
        part.open_bytes = sum(json_size(r) for r in groups[-1])
        return {r["id"]: number for number, group in zip(numbers, groups, strict=True)
                for r in group}

    # -- reading -------------------------------------------------------------------------------

    async def search(self, ctx: Context, targets: Sequence[tuple[str, Partition]], query: str,
                     limit: int, weights: WeightsLike, min_score: float = 0.0,
                     track: bool = True) -> list[tuple[str, Hit]]:
        """The best ``limit`` items of ``targets`` (``(scope label, partition)``) for ``query``.

        Raises:
            InvalidArguments: a blank query.
        """
        [encoded] = await self.embedder.encode([query])
        if not len(encoded.vectors):
            raise InvalidArguments("query is empty")
        vector = encoded.pooled()
        now = self.clock()
        found: list[tuple[str, Partition, Hit]] = []
        for label, part in targets:
            found.extend((label, part, h) for h in await part.search(vector, query, limit, weights, now))
        found.sort(key=lambda t: -t[2].score)
        found = [t for t in found[:limit] if t[2].score >= min_score]
        if track and self.config.recall.track_access and found:
            await self._touch(ctx, [(part, hit.item) for _, part, hit in found], now)
        return [(label, hit) for label, _, hit in found]

    async def _touch(self, ctx: Context, hits: list[tuple[Partition, Item]], now: float) -> None:
        by_segment: dict[tuple[int, int], tuple[Partition, dict[str, list[float]]]] = {}
        for part, item in hits:
            item.accessed_at, item.access_count = now, item.access_count + 1
            slot = by_segment.setdefault((id(part), item.segment), (part, {}))
            slot[1][item.id] = [now, item.access_count]
        client = StateClient(ctx)
        try:
            async with anyio.create_task_group() as tg:
                for (_, segment), (part, stamps) in by_segment.items():
                    tg.start_soon(part.log.touch, client, segment, stamps)
        except Exception:  # statistics only: the recall itself succeeded
            log.warning("could not record recall statistics", exc_info=True)

    # -- forgetting ----------------------------------------------------------------------------

    async def forget(self, ctx: Context, part: Partition, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Remove items ``ids`` from ``part``; returns ``(forgotten, missing)``.

        Raises:
            StorageError: a write failed (what was removed before it stays removed).
        """
        client = StateClient(ctx)
        async with part.lock:
            found = [part.items[i] for i in dict.fromkeys(ids) if i in part.items]
            missing = [i for i in dict.fromkeys(ids) if i not in part.items]
            by_segment: dict[int, list[Item]] = {}
            for item in found:
                by_segment.setdefault(item.segment, []).append(item)
            for segment, items in by_segment.items():
                await part.log.patch(client, segment, {}, [i.id for i in items])
                for item in items:
                    part.remove(item.id)
        return [i.id for i in found], missing


def _pack(records: list[dict[str, Any]], budget: int) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = [[]]
    size = 0
    for r in records:
        n = json_size(r)
        if groups[-1] and size + n > budget:
            groups.append([])
            size = 0
        groups[-1].append(r)
        size += n
    return groups

