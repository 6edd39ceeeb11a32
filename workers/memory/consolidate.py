"""``memory::consolidate``: merge near-duplicates, decay idle memories, evict down to the cap.

Theory of operation
-------------------
Run per partition, under its lock, in four passes, each counted in the answer:

1. **Merge.** Memories stored since the last run (up to ``merge_batch``, oldest first; the
   watermark ``merge_mark`` in the partition's meta remembers where a run stopped) are compared
   by cosine with every live memory of the partition, 64 at a time (one matrix product per
   block). A pair at or above ``merge_threshold`` is merged: the survivor (higher importance,
   else the older) keeps its content, takes the higher importance, the sum of access counts and
   the victim's id and hash (so a session reference or a re-store of the victim resolves to
   it), and the victim is removed. Each merge is one or two atomic segment updates.
2. **Decay** (:func:`~.ranking.decayed`): idle memories lose importance, one segment update per
   segment touched.
3. **Evict**: memories under ``evict_below`` idle for ``evict_idle_days`` go; then, over
   ``cap``, the least important and longest idle go until ``cap`` remain.
4. **Compact**: committed segments left empty are dropped; when over a quarter of the matrix
   rows are dead, the in-memory index is rebuilt without them.

Knowledge-base partitions are only compacted. Called from cron (no realm), the function sweeps
every partition listed in the registry (default realm), each in its own realm; called from a
realm, only that realm's partitions; with an ``agent_id``, only that agent's scopes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

import anyio.to_thread
import numpy as np
from pydantic import ConfigDict

from workers.sdk import Context

from .config import ConsolidationConfig
from .items import Item
from .partition import Partition
from .ranking import DAY_S, decayed, eviction_key
from .requests import AgentId, Request
from .storage import StateClient, in_realm
from .store import REGISTRY_SCOPE, MemoryStore

__all__ = ["ConsolidateRequest", "Consolidator", "Counts"]

log = logging.getLogger(__name__)

BLOCK = 64
MERGE_BONUS = 0.05


class ConsolidateRequest(Request):
    """Every field optional; what cron sends (``trigger``, ``job_id``…) is ignored."""

    model_config = ConfigDict(extra="ignore")
    agent_id: AgentId | None = None


@dataclass
class Counts:
    partitions: int = 0
    merged: int = 0
    decayed: int = 0
    evicted: int = 0
    compacted_rows: int = 0
    dropped_segments: int = 0
    items_before: int = 0
    items_after: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def public(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Consolidator:
    def __init__(self, store: MemoryStore, config: ConsolidationConfig) -> None:
        self.store, self.config = store, config

    async def sweep(self, ctx: Context, partitions: list[str] | None = None) -> Counts:
        """Consolidate ``partitions`` of the caller's realm, or every registered one in reach."""
        total = Counts()
        if partitions is not None:
            targets = [(ctx, p) for p in partitions]
        else:
            entries = await StateClient(in_realm(ctx, None)).list(REGISTRY_SCOPE)
            targets = [(in_realm(ctx, e.get("realm")), str(e["partition"])) for e in entries
                       if isinstance(e, dict) and e.get("partition")
                       and (ctx.realm is None or e.get("realm") == ctx.realm)]
        for target_ctx, name in targets:
            part = await self.store.partition(target_ctx, name)
            if part.exists:
                total.add(await self.partition(target_ctx, part))
        return total

    async def partition(self, ctx: Context, part: Partition) -> Counts:
        """Run the four passes over one partition."""
        counts = Counts(partitions=1)
        async with part.lock:
            counts.items_before = len(part.items)
            if part.meta is not None and part.meta.get("kind") != "kb":
                counts.merged = await self._merge(ctx, part)
                counts.decayed = await self._decay(ctx, part)
                counts.evicted = await self._evict(ctx, part)
            counts.dropped_segments = await self._drop_empty(ctx, part)
            if part.index.n and (part.index.n - part.index.live) * 4 > part.index.n:
                counts.compacted_rows = part.compact()
            counts.items_after = len(part.items)
        log.info("consolidated %s of realm %r: %s", part.name, part.realm, counts.public())
        return counts

    # -- passes --------------------------------------------------------------------------------

    async def _merge(self, ctx: Context, part: Partition) -> int:
        assert part.meta is not None
        mark = tuple(part.meta.get("merge_mark") or (0.0, ""))
        fresh = sorted((i for i in part.items.values()
                        if i.kind == "memory" and (i.created_at, i.id) > mark),
                       key=lambda i: (i.created_at, i.id))[: self.config.merge_batch]
        merged = 0
        for start in range(0, len(fresh), BLOCK):
            block = [i for i in fresh[start:start + BLOCK] if i.id in part.items]
            if not block:
                continue
            queries = np.stack([part.index.vector(i.rows[0]) for i in block])
            # 64 × rows × dim multiply-adds: off the event loop (the lock keeps the matrix still)
            sims = await anyio.to_thread.run_sync(np.matmul, queries, part.index.matrix().T)
            for item, row_sims in zip(block, sims, strict=True):
                if item.id not in part.items:
                    continue  # merged away earlier in this block
                other = self._best_match(part, item, row_sims)
                if other is not None:
                    await self._merge_pair(ctx, part, item, other)
                    merged += 1
        if fresh:
            last = fresh[-1]
            part.meta["merge_mark"] = [last.created_at, last.id]
            await part.log.set_meta(StateClient(ctx), {"merge_mark": [last.created_at, last.id]})
        return merged

    def _best_match(self, part: Partition, item: Item, sims: np.ndarray) -> Item | None:
        alive = part.index.alive
        candidates = np.flatnonzero((sims[: len(alive)] >= self.config.merge_threshold) & alive)
        for row in candidates[np.argsort(-sims[candidates])]:
            owner = part.items.get(part.index.owner(int(row)))
            if owner is not None and owner.id != item.id and owner.kind == "memory":
                return owner
        return None

    async def _merge_pair(self, ctx: Context, part: Partition, a: Item, b: Item) -> None:
        survivor, victim = sorted((a, b), key=lambda i: (-i.importance, i.created_at, i.id))
        changes: dict[str, Any] = {
            "importance": min(1.0, max(a.importance, b.importance) + MERGE_BONUS),
            "merged_from": [*survivor.merged_from, victim.id, *victim.merged_from],
            "merged_hashes": [*survivor.merged_hashes, victim.hash, *victim.merged_hashes],
        }
        client = StateClient(ctx)
        if survivor.segment == victim.segment:
            await part.log.patch(client, survivor.segment, {survivor.id: changes}, [victim.id])
        else:
            await part.log.patch(client, survivor.segment, {survivor.id: changes})
            await part.log.patch(client, victim.segment, {}, [victim.id])
        accessed = max(survivor.accessed_at, victim.accessed_at)
        count = survivor.access_count + victim.access_count
        await part.log.touch(client, survivor.segment, {survivor.id: [accessed, count]})
        part.remove(victim.id)
        part.set_importance(survivor, changes["importance"])
        survivor.merged_from, survivor.merged_hashes = changes["merged_from"], changes["merged_hashes"]
        survivor.accessed_at, survivor.access_count = accessed, count
        for old_id, old_hash in zip(survivor.merged_from, survivor.merged_hashes, strict=True):
            part.aliases[old_id] = survivor.id
            part.hashes[old_hash] = survivor.id

    async def _decay(self, ctx: Context, part: Partition) -> int:
        now = self.store.clock()
        by_segment: dict[int, dict[str, dict[str, Any]]] = {}
        for item in part.items.values():
            value = decayed(item.importance, last_active=item.last_active, decayed_at=item.decayed_at,
                            now=now, after_s=self.config.decay_after_days * DAY_S,
                            per_day=self.config.decay_per_day, floor=self.config.importance_floor)
            if value < item.importance - 1e-9:
                by_segment.setdefault(item.segment, {})[item.id] = {
                    "importance": round(value, 6), "decayed_at": now}
        client = StateClient(ctx)
        for segment, sets in by_segment.items():
            await part.log.patch(client, segment, sets)
            for item_id, change in sets.items():
                part.set_importance(part.items[item_id], change["importance"])
                part.items[item_id].decayed_at = now
        return sum(len(s) for s in by_segment.values())

    async def _evict(self, ctx: Context, part: Partition) -> int:
        now = self.store.clock()
        idle = self.config.evict_idle_days * DAY_S
        doomed = [i for i in part.items.values()
                  if i.importance < self.config.evict_below and now - i.last_active >= idle]
        rest = len(part.items) - len(doomed)
        if rest > self.config.cap:
            gone = {i.id for i in doomed}
            ranked = sorted((i for i in part.items.values() if i.id not in gone),
                            key=lambda i: eviction_key(i.importance, i.last_active))
            doomed += ranked[: rest - self.config.cap]
        by_segment: dict[int, list[str]] = {}
        for item in doomed:
            by_segment.setdefault(item.segment, []).append(item.id)
        client = StateClient(ctx)
        for segment, ids in by_segment.items():
            await part.log.patch(client, segment, {}, ids)
            for item_id in ids:
                part.remove(item_id)
        return len(doomed)

    async def _drop_empty(self, ctx: Context, part: Partition) -> int:
        if part.meta is None:
            return 0
        numbers = [int(n) for n in part.meta.get("segments", [])]
        empty = [n for n in numbers[:-1] if not part.segments.get(n)]
        if not empty:
            return 0
        remaining = [n for n in numbers if n not in empty]
        await part.log.drop(StateClient(ctx), empty, remaining)
        part.meta["segments"] = remaining
        for n in empty:
            part.segments.pop(n, None)
        return len(empty)
