"""Where partitions live: ``state::*`` calls, made in the caller's realm, laid out in segments.

Theory of operation
-------------------
Every read and write goes through :class:`StateClient`, i.e. ``ctx.trigger("state::…")`` of the
invocation being served, so the engine scopes it to the caller's realm (the realm is never part
of a key we build) and the configured state adapter (memory, SQLite, Redis) makes it durable.

A partition is the state scope ``memory:<partition>`` holding::

    meta          {version, model, dim, segments: [n…], next_segment, …}   the commit point
    seg:<n>       {items: {id: record}}     ≤ segment_bytes of JSON (records carry their vectors)
    acc:<n>       {id: [accessed_at, access_count]}   recall statistics of segment n's items

Loading reads ``meta``, then every listed segment (and its ``acc``), a bounded number at a time.
A store appends its records to the newest segment with one ``state::update`` (a batch of
``set`` ops, atomic) while it has room; otherwise the records go into a fresh segment
(``state::set``), which only becomes part of the partition when one ``state::update`` appends
its number to ``meta.segments``. A segment written but never committed (a crash in between) is
invisible, so nothing is ever stored half-way. Segments stay under the state module's
``max_value_bytes`` (1 MiB by default) and a 100k-memory partition loads in a few hundred reads
without ever needing one frame larger than a segment.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import anyio

from workers.sdk import Context, InvocationError
from workers.sdk.types import REALM_BAGGAGE_KEY

from .errors import StorageError

__all__ = ["StateClient", "SegmentLog", "in_realm", "json_size", "acc_key", "seg_key"]

LOAD_CONCURRENCY = 16


def json_size(value: Any) -> int:
    """Bytes of ``value`` as the state adapters store it (compact JSON, UTF-8)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def seg_key(n: int) -> str:
    return f"seg:{n:06d}"


def acc_key(n: int) -> str:
    return f"acc:{n:06d}"


def in_realm(ctx: Context, realm: str | None) -> Context:
    """``ctx`` with its calls made in ``realm`` (None: the default realm).

    Only for sweeps the worker runs on its own (cron consolidation, the partition registry):
    a worker credential may carry a realm, a realm-bound client never can.
    """
    kept = [part for part in (ctx.baggage or "").split(",")
            if part.strip() and part.partition("=")[0].strip() != REALM_BAGGAGE_KEY]
    if realm:
        kept.append(f"{REALM_BAGGAGE_KEY}={realm}")
    return dataclasses.replace(ctx, baggage=",".join(kept) or None)


class StateClient:
    """``state::*`` through one invocation's context; failures become :class:`StorageError`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _call(self, function_id: str, payload: dict[str, Any]) -> Any:
        try:
            return await self.ctx.trigger(function_id, payload)
        except InvocationError as exc:
            where = f"{payload.get('scope')}/{payload.get('key', '')}"
            raise StorageError(f"{function_id} {where} failed: {exc.code}: {exc.message}") from exc

    async def get(self, scope: str, key: str) -> Any:
        return await self._call("state::get", {"scope": scope, "key": key})

    async def set(self, scope: str, key: str, value: Any) -> None:
        await self._call("state::set", {"scope": scope, "key": key, "value": value})

    async def delete(self, scope: str, key: str) -> Any:
        return await self._call("state::delete", {"scope": scope, "key": key})

    async def update(self, scope: str, key: str, ops: list[dict[str, Any]]) -> Any:
        """Apply ``ops`` atomically; returns the new value."""
        answer = await self._call("state::update", {"scope": scope, "key": key, "ops": ops})
        return answer.get("new_value") if isinstance(answer, dict) else None

    async def cas(self, scope: str, key: str, expected: Any, value: Any) -> tuple[bool, Any]:
        """Compare-and-set; ``(True, new value)`` or ``(False, current value)``."""
        answer = await self._call("state::cas", {"scope": scope, "key": key,
                                                 "expected": expected, "value": value})
        if isinstance(answer, dict) and answer.get("ok"):
            return True, answer.get("new_value")
        return False, answer.get("current") if isinstance(answer, dict) else None

    async def list(self, scope: str) -> list[Any]:
        values = await self._call("state::list", {"scope": scope})
        return values if isinstance(values, list) else []


@dataclasses.dataclass
class Loaded:
    """What :meth:`SegmentLog.load` read: ``meta`` (None: the partition does not exist)."""

    meta: dict[str, Any] | None
    segments: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    access: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    sizes: dict[int, int] = dataclasses.field(default_factory=dict)


class SegmentLog:
    """The stored form of one partition (see the module docstring)."""

    def __init__(self, partition: str) -> None:
        self.partition = partition
        self.scope = f"memory:{partition}"

    async def load(self, client: StateClient) -> Loaded:
        """Read the partition: meta, then each committed segment and its access statistics.

        Raises:
            StorageError: a read failed.
        """
        meta = await client.get(self.scope, "meta")
        if not isinstance(meta, dict):
            return Loaded(None)
        loaded = Loaded(meta)
        numbers = [int(n) for n in meta.get("segments", [])]
        limiter = anyio.Semaphore(LOAD_CONCURRENCY)

        async def one(n: int) -> None:
            async with limiter:
                seg = await client.get(self.scope, seg_key(n))
                acc = await client.get(self.scope, acc_key(n))
            items = seg.get("items") if isinstance(seg, dict) else None
            loaded.segments[n] = items if isinstance(items, dict) else {}
            loaded.sizes[n] = json_size(seg) if n == max(numbers) else 0
            if isinstance(acc, dict):
                loaded.access.update({k: v for k, v in acc.items() if isinstance(v, list)})

        async with anyio.create_task_group() as tg:
            for n in numbers:
                tg.start_soon(one, n)
        return loaded

    async def create(self, client: StateClient, meta: dict[str, Any]) -> bool:
        """Write the first ``meta``; False if another writer created it first."""
        ok, _ = await client.cas(self.scope, "meta", None, meta)
        return ok

    async def append(self, client: StateClient, segment: int, records: Sequence[dict[str, Any]]) -> None:
        """Add ``records`` to committed segment ``segment`` in one atomic update."""
        ops = [{"type": "set", "path": ["items", r["id"]], "value": r} for r in records]
        await client.update(self.scope, seg_key(segment), ops)

    async def write_new(self, client: StateClient, segment: int, records: Sequence[dict[str, Any]]) -> None:
        """Write a fresh, not yet committed segment."""
        await client.set(self.scope, seg_key(segment), {"items": {r["id"]: r for r in records}})

    async def commit(self, client: StateClient, segments: Sequence[int], next_segment: int) -> None:
        """Make fresh segments part of the partition (one atomic update of ``meta``)."""
        ops: list[dict[str, Any]] = [{"type": "append", "path": ["segments"], "value": n}
                                     for n in segments]
        ops.append({"type": "set", "path": ["next_segment"], "value": next_segment})
        await client.update(self.scope, "meta", ops)

    async def patch(self, client: StateClient, segment: int, sets: dict[str, dict[str, Any]],
                    removes: Sequence[str] = ()) -> None:
        """Change fields of (``sets``: id → field → value) and remove items of one segment."""
        ops: list[dict[str, Any]] = [
            {"type": "set", "path": ["items", item_id, name], "value": value}
            for item_id, fields in sets.items() for name, value in fields.items()
        ]
        ops += [{"type": "remove", "path": ["items", item_id]} for item_id in removes]
        if ops:
            await client.update(self.scope, seg_key(segment), ops)
        if removes:
            await client.update(self.scope, acc_key(segment),
                                [{"type": "remove", "path": [i]} for i in removes])

    async def touch(self, client: StateClient, segment: int, stamps: dict[str, list[float]]) -> None:
        """Record recall statistics (``id → [accessed_at, access_count]``) of one segment."""
        await client.update(self.scope, acc_key(segment), [{"type": "merge", "value": stamps}])

    async def set_meta(self, client: StateClient, fields: dict[str, Any]) -> None:
        await client.update(self.scope, "meta", [{"type": "merge", "value": fields}])

    async def drop(self, client: StateClient, segments: Sequence[int], remaining: Sequence[int]) -> None:
        """Uncommit empty ``segments`` (meta first, so a crash leaves garbage, not holes)."""
        await client.update(self.scope, "meta",
                            [{"type": "set", "path": ["segments"], "value": list(remaining)}])
        for n in segments:
            await client.delete(self.scope, seg_key(n))
            await client.delete(self.scope, acc_key(n))
