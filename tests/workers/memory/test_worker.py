"""The worker as the engine sees it: exports, function ids and schemas, the cron binding, config."""

from __future__ import annotations

from pathlib import Path

import pytest

import workers.memory as memory
from workers.memory import LocalEmbedder, MemoryConfig, MemoryWorker
from workers.memory.errors import InvalidArguments

from .conftest import running

FUNCTIONS = [
    "embedding::generate", "memory::store", "memory::recall", "memory::forget",
    "memory::session::list", "memory::session::get", "memory::session::compact",
    "memory::consolidate", "memory::kg::add", "memory::kg::query", "memory::kg::traverse",
    "kb::ingest", "kb::search", "kb::list", "kb::delete",
]


def test_exports() -> None:
    assert sorted(memory.__all__) == sorted([
        "WORKER_NAME", "Embedder", "Encoded", "LiteLLMEmbedder", "LocalEmbedder", "MemoryConfig",
        "MemoryWorker", "MemoryWorkerError", "VectorIndex", "build_embedder"])
    for name in memory.__all__:
        assert getattr(memory, name) is not None


def test_the_worker_serves_every_function_with_a_schema(embedder: LocalEmbedder) -> None:
    worker = MemoryWorker(embedder=embedder).worker()
    assert [f.id for f in worker.functions] == FUNCTIONS
    assert all(f.description and f.request_format["type"] == "object" for f in worker.functions)
    search = next(f for f in worker.functions if f.id == "kb::search")
    assert search.request_format["required"] == ["query"]  # what an agent's model is shown
    [cron] = worker.triggers
    assert (cron.type, cron.function_id, cron.config) == ("cron", "memory::consolidate",
                                                          {"expression": "0 0 */6 * * *"})
    off = MemoryWorker(MemoryConfig.model_validate({"consolidation": {"cron": None}}), embedder=embedder)
    assert off.worker().triggers == ()


@pytest.mark.slow
async def test_the_consolidation_cron_is_bound_on_the_engine(embedder: LocalEmbedder, tmp_path: Path) -> None:
    async with running(embedder, None, config=MemoryConfig(), cron=True) as stack:
        listing = await stack.call("engine::registered-triggers::list", {})
        [bound] = [t for t in listing["triggers"] if t["function_id"] == "memory::consolidate"]
        assert bound["trigger_type"] == "cron" and bound["config"] == {"expression": "0 0 */6 * * *"}


def test_config_from_env(tmp_path: Path) -> None:
    assert MemoryConfig.from_env({}) == MemoryConfig()
    path = tmp_path / "memory.yaml"
    path.write_text("recall:\n  weights: {cosine: 0.5, keyword: 0.5, recency: 0, importance: 0}\n"
                    "consolidation: {cap: 50, cron: null}\n")
    config = MemoryConfig.from_env({"AGENTOS_MEMORY_CONFIG": str(path)})
    assert config.recall.weights.keyword == 0.5 and config.consolidation.cap == 50
    assert config.consolidation.cron is None and config.limits == MemoryConfig().limits
    path.write_text("recall: {weights: {cosine: 2}}\n")
    with pytest.raises(InvalidArguments, match="AGENTOS_MEMORY_CONFIG"):
        MemoryConfig.from_env({"AGENTOS_MEMORY_CONFIG": str(path)})
    with pytest.raises(InvalidArguments):
        MemoryConfig.from_env({"AGENTOS_MEMORY_CONFIG": str(tmp_path / "missing.yaml")})
