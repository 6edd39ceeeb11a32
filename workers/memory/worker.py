"""The memory worker: ``embedding::*``, ``memory::*`` and ``kb::*``, served by one :class:`Worker`.

``MemoryWorker(config, embedder=...).worker()`` is what ``python -m workers.memory`` serves.
The embedder is built before the worker (it loads a model: seconds), once per process; tests
share one across the session. Function contracts (payload → answer; errors in
:mod:`.errors`)::

    embedding::generate      {text | batch, per_chunk?} → {embedding | embeddings, chunks, dim, model}
    memory::store            {agent_id, scope?, session_id?, content, role?, importance?, metadata?
                              | items: [...]} → {items: [{id, deduplicated, chunks, importance}], id?}
    memory::recall           {agent_id, query, limit?, scopes?, min_score?}
                              → {memories: [{id, content, role, scope, score, explain, …}]}
    memory::forget           {agent_id, scope?, ids} → {forgotten, missing}
    memory::session::list    {agent_id} → {sessions: [{session_id, messages, updated_at}]}
    memory::session::get     {agent_id, session_id, limit?} → {messages, missing}
    memory::session::compact {agent_id, session_id, keep_last?, model?} → {compacted, summary_id, kept}
    memory::consolidate      {agent_id?} → {partitions, merged, decayed, evicted, …}   (+ cron)
    memory::kg::add          {agent_id, scope?, entities?, relations?} → {entities, relations}
    memory::kg::query        {agent_id, scope?, entity_id? | type?/name?, at?} → entity + edges | entities
    memory::kg::traverse     {agent_id, scope?, start, depth?, direction?, relation_types?, at?}
                              → {nodes, edges, truncated}
    kb::ingest               {name, collection?, text | content_base64, format?} → {version, chunks, …}
    kb::search               {query, collection?, limit?} → {results: [{content, score, citation}]}
    kb::list / kb::delete    {collection?} / {name, collection?}

Every ``memory::*`` call names an ``agent_id`` that must exist in the caller's realm, and may
only touch the scopes its ``capabilities.memory_scopes`` allow (:mod:`.scopes`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from workers.sdk import Context, FunctionDef, TriggerBinding, Worker, function

from .config import MemoryConfig
from .consolidate import ConsolidateRequest, Consolidator
from .embedder import Embedder, Encoded
from .errors import InvalidArguments
from .items import new_id
from .kb import KbDeleteRequest, KbIngestRequest, KbListRequest, KbSearchRequest, KnowledgeBase
from .kg import Graph, KgAddRequest, KgQueryRequest, KgTraverseRequest
from .ranking import importance_of
from .requests import EmbedRequest, ForgetRequest, RecallRequest, StoreRequest, parse
from .scopes import canonical_scope, load_agent
from .sessions import CompactRequest, SessionRequest, Sessions, add_refs
from .storage import json_size
from .store import MemoryStore, NewItem

__all__ = ["MemoryWorker", "WORKER_NAME"]

WORKER_NAME = "memory"
MAX_METADATA_BYTES = 8192
Handler = Callable[[Any, Context], Awaitable[Any]]


def define(function_id: str, handler: Handler, description: str, model: type[BaseModel]) -> FunctionDef:
    """A :class:`FunctionDef` serving ``handler`` with ``model``'s JSON Schema as its format."""

    async def serve(data: Any, ctx: Context) -> Any:
        return await handler(data, ctx)

    serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
    return FunctionDef.of(function(function_id, description=description,
                                   request_format=model.model_json_schema())(serve))


class MemoryWorker:
    """The service behind the worker.

    Args:
        config: the worker's settings.
        embedder: the loaded embedding backend (:func:`~.embedder.build_embedder`).
        clock: wall-clock seconds (timestamps, recency, decay).
    """

    def __init__(self, config: MemoryConfig | None = None, *, embedder: Embedder,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config or MemoryConfig()
        self.store = MemoryStore(embedder, self.config, clock)
        self.sessions = Sessions(self.store, self.config.sessions)
        self.consolidator = Consolidator(self.store, self.config.consolidation)
        self.kb = KnowledgeBase(self.store, self.config)

    # -- embedding -----------------------------------------------------------------------------

    async def generate(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``embedding::generate``: a pooled unit vector per text (and each window's, on request)."""
        request = parse(EmbedRequest, data)
        texts = [request.text] if request.text is not None else list(request.batch or [])
        if len(texts) > self.config.limits.max_batch_items:
            raise InvalidArguments(f"batch has {len(texts)} texts, over the limit of "
                                   f"{self.config.limits.max_batch_items}")
        for i, text in enumerate(texts):
            self.store.check_content(text, "text" if request.text is not None else f"batch[{i}]")
        encoded = await self.store.encode(texts)
        embedder = self.store.embedder
        shared = {"dim": embedder.dim, "model": embedder.model}

        def one(enc: Encoded) -> dict[str, Any]:
            out: dict[str, Any] = {"embedding": enc.pooled().tolist(), "chunks": len(enc.spans)}
            if request.per_chunk:
                out["windows"] = [{"start": s, "end": e, "embedding": v.tolist()}
                                  for (s, e), v in zip(enc.spans, enc.vectors, strict=True)]
            return out

        if request.text is not None:
            return {**one(encoded[0]), **shared}
        each = [one(e) for e in encoded]
        return {"embeddings": [e["embedding"] for e in each], "chunks": [e["chunks"] for e in each],
                **({"windows": [e["windows"] for e in each]} if request.per_chunk else {}), **shared}

    # -- memories ------------------------------------------------------------------------------

    async def store_memory(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``memory::store``: all items or none; a session reference per item when in a session."""
        request = parse(StoreRequest, data)
        access = await load_agent(ctx, request.agent_id)
        partition = access.check(request.scope)
        scope = canonical_scope(request.scope)
        entries = request.entries()
        if len(entries) > self.config.limits.max_batch_items:
            raise InvalidArguments(f"{len(entries)} items, over the limit of "
                                   f"{self.config.limits.max_batch_items}")
        for i, entry in enumerate(entries):
            self.store.check_content(entry.content, "content" if request.items is None else f"items[{i}].content")
            if entry.metadata is not None and json_size(entry.metadata) > MAX_METADATA_BYTES:
                raise InvalidArguments(f"metadata is over {MAX_METADATA_BYTES} bytes of JSON")
        encoded = await self.store.encode([e.content for e in entries])
        part = await self.store.partition(ctx, partition)
        new = [NewItem(id=new_id(), kind="memory", content=e.content,
                       importance=e.importance if e.importance is not None else importance_of(e.content, e.role),
                       role=e.role, agent_id=access.agent_id, session_id=request.session_id,
                       metadata=e.metadata) for e in entries]
        written = await self.store.write(ctx, part, new, encoded)
        if request.session_id:
            now = self.store.clock()
            refs = [{"id": w.id, "role": e.role, "scope": scope, "ts": now}
                    for w, e in zip(written, entries, strict=True)]
            try:
                await add_refs(ctx, access.agent_id, request.session_id, refs, now)
            except Exception:  # undo the store: a turn is in its session or nowhere
                await self.store.forget(ctx, part, [w.id for w in written if not w.deduplicated])
                raise
        items = [{"id": w.id, "deduplicated": w.deduplicated, "chunks": w.chunks,
                  "importance": w.item.importance} for w in written]
        out: dict[str, Any] = {"agent_id": access.agent_id, "scope": scope,
                               "session_id": request.session_id, "items": items}
        if request.items is None:
            out.update(items[0])
        return out

    async def recall(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``memory::recall``: the best memories over the scopes asked (default: the agent's own)."""
        request = parse(RecallRequest, data)
        access = await load_agent(ctx, request.agent_id)
        self.store.check_content(request.query, "query")
        scopes = [canonical_scope(s) for s in request.scopes] if request.scopes else access.defaults()
        targets = [(scope, await self.store.partition(ctx, access.check(scope)))
                   for scope in dict.fromkeys(scopes)]
        hits = await self.store.search(ctx, targets, request.query,
                                       request.limit or self.config.recall.default_limit,
                                       self.config.recall.weights, request.min_score)
        return {"agent_id": access.agent_id, "scopes": list(dict.fromkeys(scopes)),
                "memories": [{**hit.item.public(scope), "score": hit.score, "explain": hit.explain}
                             for scope, hit in hits]}

    async def forget(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``memory::forget``: remove memories by id from one scope."""
        request = parse(ForgetRequest, data)
        access = await load_agent(ctx, request.agent_id)
        part = await self.store.partition(ctx, access.check(request.scope))
        forgotten, missing = await self.store.forget(ctx, part, request.ids)
        return {"forgotten": forgotten, "missing": missing}

    # -- sessions and consolidation ------------------------------------------------------------

    async def session_list(self, data: Any, ctx: Context) -> dict[str, Any]:
        request = parse(SessionRequest, data)
        return await self.sessions.list_sessions(ctx, await load_agent(ctx, request.agent_id))

    async def session_get(self, data: Any, ctx: Context) -> dict[str, Any]:
        request = parse(SessionRequest, data)
        if request.session_id is None:
            raise InvalidArguments("session_id: Field required")
        access = await load_agent(ctx, request.agent_id)
        return await self.sessions.get(ctx, access, request.session_id, request.limit)

    async def session_compact(self, data: Any, ctx: Context) -> dict[str, Any]:
        request = parse(CompactRequest, data)
        return await self.sessions.compact(ctx, await load_agent(ctx, request.agent_id), request)

    async def consolidate(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``memory::consolidate``: one agent's scopes, the caller's realm, or (cron) everything."""
        request = parse(ConsolidateRequest, data)
        partitions = None
        if request.agent_id is not None:
            access = await load_agent(ctx, request.agent_id)
            partitions = [access.check(s) for s in access.defaults()]
        return (await self.consolidator.sweep(ctx, partitions)).public()

    # -- knowledge graph -----------------------------------------------------------------------

    async def _graph(self, ctx: Context, agent_id: str, scope: str) -> Graph:
        access = await load_agent(ctx, agent_id)
        return Graph(ctx, access.check(scope), self.store.clock())

    async def kg_add(self, data: Any, ctx: Context) -> dict[str, Any]:
        request = parse(KgAddRequest, data)
        return await (await self._graph(ctx, request.agent_id, request.scope)).add(request)

    async def kg_query(self, data: Any, ctx: Context) -> dict[str, Any]:
        request = parse(KgQueryRequest, data)
        return await (await self._graph(ctx, request.agent_id, request.scope)).query(request)

    async def kg_traverse(self, data: Any, ctx: Context) -> dict[str, Any]:
        request = parse(KgTraverseRequest, data)
        return await (await self._graph(ctx, request.agent_id, request.scope)).traverse(request)

    # -- knowledge base ------------------------------------------------------------------------

    async def kb_ingest(self, data: Any, ctx: Context) -> dict[str, Any]:
        return await self.kb.ingest(ctx, parse(KbIngestRequest, data))

    async def kb_search(self, data: Any, ctx: Context) -> dict[str, Any]:
        return await self.kb.search(ctx, parse(KbSearchRequest, data))

    async def kb_list(self, data: Any, ctx: Context) -> dict[str, Any]:
        return await self.kb.list(ctx, parse(KbListRequest, data))

    async def kb_delete(self, data: Any, ctx: Context) -> dict[str, Any]:
        return await self.kb.delete(ctx, parse(KbDeleteRequest, data))

    # -- the worker ----------------------------------------------------------------------------

    def worker(self) -> Worker:
        """The worker serving every function above (and the consolidation cron, if set)."""
        table: list[tuple[str, Handler, str, type[BaseModel]]] = [
            ("embedding::generate", self.generate, "Embed a text or a batch of texts", EmbedRequest),
            ("memory::store", self.store_memory, "Remember a text for an agent (deduplicated)", StoreRequest),
            ("memory::recall", self.recall, "Recall an agent's memories relevant to a query, with scores", RecallRequest),
            ("memory::forget", self.forget, "Forget memories by id", ForgetRequest),
            ("memory::session::list", self.session_list, "List an agent's memory sessions", SessionRequest),
            ("memory::session::get", self.session_get, "The memories of one session, in order", SessionRequest),
            ("memory::session::compact", self.session_compact, "Summarise a session's old turns into one memory", CompactRequest),
            ("memory::consolidate", self.consolidate, "Merge near-duplicate memories, decay and evict", ConsolidateRequest),
            ("memory::kg::add", self.kg_add, "Add entities and time-bounded typed relations to the knowledge graph", KgAddRequest),
            ("memory::kg::query", self.kg_query, "Look up a knowledge-graph entity and its relations", KgQueryRequest),
            ("memory::kg::traverse", self.kg_traverse, "Walk the knowledge graph from an entity", KgTraverseRequest),
            ("kb::ingest", self.kb_ingest, "Add a text, Markdown, PDF or DOCX document to the knowledge base", KbIngestRequest),
            ("kb::search", self.kb_search, "Search the knowledge base; results cite their source", KbSearchRequest),
            ("kb::list", self.kb_list, "List the documents of a knowledge-base collection", KbListRequest),
            ("kb::delete", self.kb_delete, "Remove a document from the knowledge base", KbDeleteRequest),
        ]
        cron = self.config.consolidation.cron
        triggers = [TriggerBinding("cron", "memory::consolidate", {"expression": cron},
                                   id="memory-consolidate")] if cron else []
        return Worker(WORKER_NAME, description="Memory, embeddings, knowledge graph and knowledge base",
                      functions=[define(*row) for row in table], triggers=triggers)
