"""memory: embeddings, agent memory (recall, sessions, consolidation), knowledge graph, knowledge base.

Modules, one concern each::

    config        MemoryConfig (weights, limits, embedding backend), AGENTOS_MEMORY_CONFIG
    errors        the wire errors
    chunking      split_text / token_windows / content_hash (pure)
    embedder      Embedder protocol; LocalEmbedder (sentence-transformers), LiteLLMEmbedder
    vectors       VectorIndex: contiguous float32 matrix, tombstones, brute-force cosine
    bm25          incremental BM25 over the rows
    ranking       hybrid score, explanation, importance, decay (pure)
    scopes        memory scopes ↔ partitions, the agent's capabilities
    items         Item and its storage record
    storage       state::* through the caller's context; segments + meta commit point
    partition     one partition in memory: index, dedup table, hybrid search
    store         MemoryStore: partitions by realm; write / search / forget
    requests      payload models of embedding::*, memory::store/recall/forget
    sessions      memory::session::list/get/compact
    consolidate   memory::consolidate (merge, decay, evict, compact)
    kg            memory::kg::add/query/traverse
    readers       text / Markdown / PDF / DOCX → sections
    kb            kb::ingest/search/list/delete
    worker        MemoryWorker: the Worker (``python -m workers.memory``)
"""

from .config import MemoryConfig
from .embedder import Embedder, Encoded, LiteLLMEmbedder, LocalEmbedder, build_embedder
from .errors import MemoryWorkerError
from .vectors import VectorIndex
from .worker import WORKER_NAME, MemoryWorker

__all__ = [
    "WORKER_NAME",
    "Embedder",
    "Encoded",
    "LiteLLMEmbedder",
    "LocalEmbedder",
    "MemoryConfig",
    "MemoryWorker",
    "MemoryWorkerError",
    "VectorIndex",
    "build_embedder",
]
