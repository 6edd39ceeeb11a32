# ruff: noqa: E402  (sys.path and the BLAS thread count are fixed before the imports; see below)
"""Memory recall and store, against a plain FAISS flat index over the same vectors; embedding speed.

    .venv/bin/python bench/memory_recall.py              # 1k, 10k, 100k memories (~3 min)
    .venv/bin/python bench/memory_recall.py --quick      # 1k, 10k, fewer queries: a smoke test
    .venv/bin/python bench/memory_recall.py --blas-threads 2

What is measured (one process; the machine's other load skews the numbers, compare rows of one run):

* **recall, index only** — the same N unit vectors (384-d, clustered, synthetic) go into
  ``faiss.IndexFlatIP`` and into a memory-worker :class:`~workers.memory.partition.Partition`
  (our contiguous float32 matrix + BM25 over each memory's synthetic text). Per query (a noisy
  copy of a stored vector and three of its words), the p50/p99 of: FAISS ``search(k=10)``; our
  search with the cosine weight only; our full hybrid search (cosine + BM25 + recency +
  importance, rows folded into memories, every score explained). Exact search on both sides.
* **recall, end to end** — ``memory::recall`` from a client through an in-process engine
  (SQLite state) to the memory worker: agent check, query embedding with the real model, the
  hybrid search over the same N memories (the synthetic partition is handed to the worker),
  access statistics written back.
* **store** — index inserts one memory at a time (ours: matrix append + BM25; FAISS: ``add`` of
  one vector), and ``memory::store`` end to end (embedding, SQLite), single and batches of 32.
* **embedding** — all-MiniLM-L6-v2 texts/s, batched (32) and one text per call.

``--blas-threads`` (default 1) is exported as ``OPENBLAS_NUM_THREADS`` before numpy loads; FAISS
gets as many OpenMP threads (so both sides scan with the same number of threads) and torch as
many intra-op threads.
"""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path and os.path.abspath(sys.path[0]) == os.path.join(_ROOT, "bench"):
    sys.path[0] = _ROOT
_THREADS = "1"
for _i, _arg in enumerate(sys.argv):
    if _arg == "--blas-threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
os.environ.setdefault("OPENBLAS_NUM_THREADS", _THREADS)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import faiss
import numpy as np

from bench._procs import emit, format_table, percentile
from engine.config import NodeConfig
from engine.node import Node
from workers.memory import LocalEmbedder, MemoryConfig, MemoryWorker
from workers.memory.config import EmbeddingConfig, Weights
from workers.memory.items import Item
from workers.memory.partition import Partition
from workers.memory.vectors import normalize_rows
from workers.sdk import Connection, connect

DIM = 384
K = 10
VOCAB = [f"w{i}" for i in range(8000)]
TOPICS = 256
AGENT = "bench"


def corpus(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``n`` clustered unit vectors, a text per vector (topic words + Zipf words), the topics."""
    centers = normalize_rows(rng.standard_normal((TOPICS, DIM)))
    topics = rng.integers(0, TOPICS, n)
    vectors = normalize_rows(centers[topics] + rng.standard_normal((n, DIM)) * (0.9 / np.sqrt(DIM)))
    ranks = np.minimum(rng.zipf(1.3, size=(n, 10)), len(VOCAB)) - 1
    texts = [f"t{t}a t{t}b t{t}c " + " ".join(VOCAB[r] for r in row) for t, row in zip(topics, ranks, strict=True)]
    return vectors, texts, topics


def partition(vectors: np.ndarray, texts: list[str], config: MemoryConfig, now: float,
              name: str = f"agent:{AGENT}") -> tuple[Partition, list[float]]:
    """A partition holding the corpus, and the seconds each insert took."""
    part = Partition("", name, "all-MiniLM-L6-v2", DIM, config)
    part.meta = part.new_meta("memory")
    times = []
    for i, text in enumerate(texts):
        item = Item(id=f"m{i}", kind="memory", content=text, hash=f"h{i}", importance=0.5,
                    created_at=now - i, spans=[(0, len(text))], role="user", segment=0)
        start = time.perf_counter()
        part.add(item, vectors[i:i + 1])
        times.append(time.perf_counter() - start)
    return part, times


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return percentile(ordered, 50) * 1000, percentile(ordered, 99) * 1000


def ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f} / {pair[1]:.2f}"


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        await call()
        out.append(time.perf_counter() - start)
    return out


async def end_to_end(embedder: LocalEmbedder, part: Partition, queries: list[str],
                     store_texts: list[str]) -> dict[str, Any]:
    """memory::recall over ``part`` and memory::store, through an in-process engine on SQLite."""
    config = MemoryConfig.model_validate({"consolidation": {"cron": None}})
    memory = MemoryWorker(config, embedder=embedder)
    with tempfile.TemporaryDirectory() as tmp:
        node_config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [
            {"name": "iii-state", "config": {"adapter": {"name": "sqlite",
                                                         "config": {"path": str(Path(tmp) / "b.db")}}}}]})
        async with Node(node_config) as node, \
                connect(node.url, workers=[memory.worker()]), \
                connect(node.url, workers=[], name="client") as client:
            await client.trigger("state::set", {"scope": "agents", "key": AGENT, "value": {
                "agent_id": AGENT, "capabilities": {"memory_scopes": ["self"]}}})
            memory.store._partitions[("", part.name)] = part  # the synthetic corpus, as if loaded
            await timed([_recall(client, q) for q in queries[:5]])  # warm-up, not counted
            recall = await timed([_recall(client, q) for q in queries])
            await client.trigger("state::set", {"scope": "agents", "key": f"{AGENT}-store", "value": {
                "agent_id": f"{AGENT}-store", "capabilities": {"memory_scopes": ["self"]}}})
            single_texts, batch_texts = store_texts[: len(store_texts) // 2], store_texts[len(store_texts) // 2:]
            started = time.perf_counter()
            for text in single_texts:
                await client.trigger("memory::store", {"agent_id": f"{AGENT}-store", "content": text})
            single = len(single_texts) / (time.perf_counter() - started)
            started = time.perf_counter()
            for i in range(0, len(batch_texts), 32):
                await client.trigger("memory::store", {"agent_id": f"{AGENT}-store", "items": [
                    {"content": t} for t in batch_texts[i:i + 32]]}, timeout=120)
            batched = len(batch_texts) / (time.perf_counter() - started)
    return {"recall": stats(recall), "store_single": single, "store_batch": batched}


def _recall(client: Connection, query: str) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return await client.trigger("memory::recall", {"agent_id": AGENT, "query": query, "limit": K})
    return call


def sentences(n: int, rng: np.random.Generator) -> list[str]:
    subjects = ["The team", "My sister", "Our client", "The server", "A neighbour", "The manager"]
    verbs = ["moved", "fixed", "planned", "cancelled", "reviewed", "discussed"]
    objects = ["the budget", "the garden party", "the database migration", "a trip to Rome",
               "the quarterly report", "the new onboarding flow", "a birthday dinner"]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} on day {i} "
            f"because of item {int(rng.integers(1000))}." for i in range(n)]


async def main(args: argparse.Namespace) -> None:
    faiss.omp_set_num_threads(int(_THREADS))
    rng = np.random.default_rng(7)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    n_queries = 50 if args.quick else args.queries
    config = MemoryConfig()
    vector_only = Weights(cosine=1.0, keyword=0.0, recency=0.0, importance=0.0)
    emit(f"loading the model (BLAS threads {_THREADS})", err=True)
    embedder = LocalEmbedder.load(EmbeddingConfig(threads=int(_THREADS)))
    embedder.encode_sync(sentences(64, rng))  # warm-up
    recall_rows, store_rows = [], []
    e2e_rows = []
    store_e2e = (0.0, 0.0)
    for n in sizes:
        emit(f"{n} memories: building", err=True)
        vectors, texts, _ = corpus(n, rng)
        now = time.time()
        part, insert_times = partition(vectors, texts, config, now)
        index = faiss.IndexFlatIP(DIM)
        faiss_add = []
        for i in range(n):
            start = time.perf_counter()
            index.add(vectors[i:i + 1])
            faiss_add.append(time.perf_counter() - start)
        picks = rng.integers(0, n, n_queries)
        qs = normalize_rows(vectors[picks] + rng.standard_normal((n_queries, DIM)) * (0.5 / np.sqrt(DIM)))
        qtexts = [" ".join(texts[p].split()[::4][:3]) for p in picks]
        emit(f"{n} memories: querying", err=True)
        f_times, v_times, h_times, agree = [], [], [], 0
        for q, text in zip(qs, qtexts, strict=True):
            start = time.perf_counter()
            _, ids = index.search(q[None, :], K)
            f_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            hits = await part.search(q, text, K, vector_only, now)
            v_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            await part.search(q, text, K, config.recall.weights, now)
            h_times.append(time.perf_counter() - start)
            agree += [h.item.id for h in hits] == [f"m{i}" for i in ids[0]]
        f, v, h = stats(f_times), stats(v_times), stats(h_times)
        recall_rows.append([f"{n:,}", ms(f), ms(v), ms(h), f"{h[0] / f[0]:.2f}x",
                            f"{agree}/{n_queries}", f"{part.index.statistics().bytes / 2**20:.0f} MiB"])
        store_rows.append([f"{n:,}", f"{len(faiss_add) / sum(faiss_add):,.0f}",
                           f"{len(insert_times) / sum(insert_times):,.0f}"])
        emit(f"{n} memories: end to end", err=True)
        e2e = await end_to_end(embedder, part, sentences(n_queries, rng),
                               sentences(64 if args.quick else 256, rng) if n == sizes[0] else [])
        e2e_rows.append([f"{n:,}", ms(e2e["recall"])])
        if n == sizes[0]:
            store_e2e = (e2e["store_single"], e2e["store_batch"])
    emit("embedding throughput", err=True)
    texts = sentences(512, rng)
    embedder.encode_sync(texts[:32])
    start = time.perf_counter()
    embedder.encode_sync(texts)
    batched = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    for text in texts[:100]:
        embedder.encode_sync([text])
    single = 100 / (time.perf_counter() - start)

    emit(f"## Recall latency, ms p50 / p99 (k={K}, {n_queries} queries, BLAS/OpenMP threads {_THREADS})\n")
    emit(format_table(["memories", "faiss flat", "ours, cosine only", "ours, hybrid", "hybrid / faiss p50",
                       "same top-10 as faiss", "matrix RAM"], recall_rows))
    emit("\n## memory::recall end to end, ms p50 / p99 (engine + agent check + query embedding + hybrid search)\n")
    emit(format_table(["memories", "memory::recall"], e2e_rows))
    emit("\n## Store throughput, memories/s\n")
    emit(format_table(["memories", "faiss add (1 vector/call)", "ours, index insert (vector + BM25)"], store_rows))
    emit(f"\nmemory::store end to end (embedding + SQLite): {store_e2e[0]:,.0f}/s one per call, "
         f"{store_e2e[1]:,.0f}/s in batches of 32")
    emit(f"\n## Embedding throughput (all-MiniLM-L6-v2, CPU)\n\nbatched (32): {batched:,.0f} texts/s; "
         f"one text per call: {single:,.0f} texts/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--blas-threads", default="1")
    anyio.run(main, parser.parse_args())
