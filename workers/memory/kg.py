"""The knowledge graph: typed entities, typed edges valid over a time interval.

Theory of operation
-------------------
A graph belongs to a memory scope, like memories do (``self`` → ``kg:agent:<id>``,
``shared:x`` → ``kg:shared:x``), in the caller's realm. Each entity is one state value::

    kg:<partition> / <entity id>  {id, type, name, properties, created_at, updated_at,
                                   out: {edge id: edge}, in: {edge id: edge}}

so one read gives a node with every edge that touches it, and a traversal costs one read per
node visited (one round of concurrent reads per level). ``kg_index:<partition>`` lists
``{id, type, name}`` of every entity for lookups by type or name.

An edge is ``{id, type, source, target, properties, valid_from, valid_to, created_at}``; it is
valid at ``t`` when ``valid_from <= t < valid_to`` (either bound may be open). Its id is derived
from ``(source, type, target, valid_from)``: adding the same relation again updates it (e.g.
sets ``valid_to`` to close it), while the same relation over a new interval is a new edge, so
history is kept. Queries see the edges valid *now* unless given ``at`` or ``include_expired``.

``memory::kg::add`` validates everything first (types, times, that every edge's endpoints exist
or are added in the same call), then writes entities, then edges, each write atomic and
idempotent: a failed call can simply be repeated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
from pydantic import Field, model_validator

from workers.sdk import Context

from .errors import InvalidArguments, NotFound
from .requests import AgentScoped, Request
from .storage import StateClient

__all__ = ["EdgeIn", "EntityIn", "Graph", "KgAddRequest", "KgQueryRequest", "KgTraverseRequest",
           "parse_time", "valid_at"]

EntityId = Annotated[str, Field(pattern=r"^\S{1,200}$")]
TypeName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_:.-]{0,63}$")]
Time = float | str


def parse_time(value: Time | None, field: str) -> float | None:
    """Epoch seconds from a number or an ISO 8601 string (naive = UTC).

    Raises:
        InvalidArguments: neither.
    """
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidArguments(f"{field}: not an ISO 8601 time or epoch seconds: {value!r}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def valid_at(edge: dict[str, Any], at: float) -> bool:
    """Whether ``edge`` holds at time ``at``."""
    start, end = edge.get("valid_from"), edge.get("valid_to")
    return (start is None or start <= at) and (end is None or at < end)


class EntityIn(Request):
    id: EntityId
    type: TypeName
    name: str | None = Field(default=None, max_length=500)
    properties: dict[str, Any] | None = None


class EdgeIn(Request):
    source: EntityId
    type: TypeName
    target: EntityId
    properties: dict[str, Any] | None = None
    valid_from: Time | None = None
    valid_to: Time | None = None


class KgAddRequest(AgentScoped):
    entities: list[EntityIn] = Field(default_factory=list, max_length=500)
    relations: list[EdgeIn] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _something(self) -> KgAddRequest:
        if not self.entities and not self.relations:
            raise ValueError("give 'entities' or 'relations'")
        return self


class _When(AgentScoped):
    at: Time | None = Field(default=None, description="Time to view the graph at (default: now)")
    include_expired: bool = False


class KgQueryRequest(_When):
    entity_id: EntityId | None = None
    type: TypeName | None = None
    name: str | None = Field(default=None, description="Case-insensitive substring of the name")
    relation_type: TypeName | None = None
    limit: int = Field(default=50, ge=1, le=1000)


class KgTraverseRequest(_When):
    start: EntityId
    depth: int = Field(default=2, ge=1, le=5)
    direction: Literal["out", "in", "both"] = "out"
    relation_types: list[TypeName] | None = None
    max_nodes: int = Field(default=200, ge=1, le=5000)


def _edge_id(source: str, type_: str, target: str, valid_from: float | None) -> str:
    key = f"{source}\x1f{type_}\x1f{target}\x1f{valid_from!r}"
    return "e_" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _node(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("id", "type", "name", "properties", "created_at", "updated_at")}


class Graph:
    """The graph functions over one partition name (``agent:<id>`` or ``shared:<name>``)."""

    def __init__(self, ctx: Context, partition: str, now: float) -> None:
        self.client = StateClient(ctx)
        self.scope, self.index_scope = f"kg:{partition}", f"kg_index:{partition}"
        self.now = now

    async def _get(self, entity_id: str) -> dict[str, Any] | None:
        value = await self.client.get(self.scope, entity_id)
        return value if isinstance(value, dict) and value.get("id") else None

    async def add(self, request: KgAddRequest) -> dict[str, Any]:
        """``memory::kg::add`` (see the module docstring)."""
        edges: list[dict[str, Any]] = []
        for i, rel in enumerate(request.relations):
            start = parse_time(rel.valid_from, f"relations.{i}.valid_from")
            end = parse_time(rel.valid_to, f"relations.{i}.valid_to")
            if start is not None and end is not None and end <= start:
                raise InvalidArguments(f"relations.{i}: valid_to must be after valid_from")
            edges.append({"id": _edge_id(rel.source, rel.type, rel.target, start), "type": rel.type,
                          "source": rel.source, "target": rel.target,
                          "properties": rel.properties or {}, "valid_from": start, "valid_to": end,
                          "created_at": self.now})
        given = {e.id for e in request.entities}
        needed = sorted({e[k] for e in edges for k in ("source", "target")} - given)
        existing = await self._many(needed)
        missing = [n for n in needed if n not in existing]
        if missing:
            raise NotFound(f"unknown entities {missing}: add them in 'entities' first")
        current = await self._many([e.id for e in request.entities])
        for ent in request.entities:
            ops: list[dict[str, Any]] = [
                {"type": "merge", "value": {"id": ent.id, "type": ent.type,
                                            "name": ent.name or current.get(ent.id, {}).get("name") or ent.id,
                                            "updated_at": self.now}},
                {"type": "merge", "path": ["properties"], "value": ent.properties or {}},
            ]
            if ent.id not in current:
                ops.append({"type": "set", "path": ["created_at"], "value": self.now})
            value = await self.client.update(self.scope, ent.id, ops)
            await self.client.set(self.index_scope, ent.id,
                                  {"id": ent.id, "type": ent.type, "name": value.get("name")})
        for edge in edges:
            await self.client.update(self.scope, edge["source"],
                                     [{"type": "set", "path": ["out", edge["id"]], "value": edge}])
            await self.client.update(self.scope, edge["target"],
                                     [{"type": "set", "path": ["in", edge["id"]], "value": edge}])
        return {"entities": [e.id for e in request.entities], "relations": [e["id"] for e in edges]}

    async def _many(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        limiter = anyio.Semaphore(16)

        async def one(entity_id: str) -> None:
            async with limiter:
                value = await self._get(entity_id)
            if value is not None:
                found[entity_id] = value

        async with anyio.create_task_group() as tg:
            for entity_id in dict.fromkeys(ids):
                tg.start_soon(one, entity_id)
        return found

    def _edges(self, record: dict[str, Any], side: str, request: _When,
               types: Sequence[str] | None) -> list[dict[str, Any]]:
        at = parse_time(request.at, "at") if request.at is not None else self.now
        assert at is not None
        edges = [e for e in (record.get(side) or {}).values()
                 if (request.include_expired or valid_at(e, at)) and (not types or e["type"] in types)]
        return sorted(edges, key=lambda e: (e["type"], e["target"], e["source"], e["valid_from"] or 0))

    async def query(self, request: KgQueryRequest) -> dict[str, Any]:
        """``memory::kg::query``: one entity with its edges, or entities by type/name."""
        types = [request.relation_type] if request.relation_type else None
        if request.entity_id is not None:
            record = await self._get(request.entity_id)
            if record is None:
                raise NotFound(f"no entity {request.entity_id!r}")
            return {"entity": _node(record),
                    "outgoing": self._edges(record, "out", request, types),
                    "incoming": self._edges(record, "in", request, types)}
        needle = (request.name or "").casefold()
        rows = [r for r in await self.client.list(self.index_scope) if isinstance(r, dict)
                and (request.type is None or r.get("type") == request.type)
                and needle in str(r.get("name") or r.get("id")).casefold()]
        rows.sort(key=lambda r: str(r.get("id")))
        return {"entities": rows[: request.limit], "total": len(rows)}

    async def traverse(self, request: KgTraverseRequest) -> dict[str, Any]:
        """``memory::kg::traverse``: breadth-first from ``start``, ``depth`` levels."""
        start = await self._get(request.start)
        if start is None:
            raise NotFound(f"no entity {request.start!r}")
        sides = ["out", "in"] if request.direction == "both" else [request.direction]
        nodes = {start["id"]: {**_node(start), "depth": 0}}
        edges: dict[str, dict[str, Any]] = {}
        frontier, truncated = [start], False
        for depth in range(1, request.depth + 1):
            wanted: list[str] = []
            for record in frontier:
                for side in sides:
                    for edge in self._edges(record, side, request, request.relation_types):
                        edges[edge["id"]] = edge
                        other = edge["target"] if side == "out" else edge["source"]
                        if other not in nodes and other not in wanted:
                            wanted.append(other)
            room = request.max_nodes - len(nodes)
            truncated = truncated or len(wanted) > room
            found = await self._many(wanted[: max(room, 0)])
            frontier = [found[i] for i in wanted if i in found]
            for record in frontier:
                nodes[record["id"]] = {**_node(record), "depth": depth}
            if not frontier:
                break
        kept = [e for e in edges.values() if e["source"] in nodes and e["target"] in nodes]
        return {"start": request.start, "nodes": list(nodes.values()), "edges": kept,
                "truncated": truncated}
