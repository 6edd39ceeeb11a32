"""Fixtures of the memory tests: a real engine, the real model, agent-core for agent records.

Nothing of ours is mocked. Each scenario runs an in-process :class:`engine.node.Node` (state on
SQLite in ``tmp_path``), the memory worker with the packaged all-MiniLM-L6-v2 (loaded once per
session: it is the slow part), agent-core (agents are created with ``agent::create``, so the
memory worker reads real agent records) and a client connection. Scenarios that summarise add
the llm-router pointed at :class:`tests.fakes.FakeUpstream`. Time is a :class:`FakeClock`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest  # noqa: E402

from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import FakeUpstream  # noqa: E402
from tests.fakes.llm_config import fake_llm_config as llm_config  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.llm_router import LlmRouter  # noqa: E402
from workers.memory import LocalEmbedder, MemoryConfig, MemoryWorker  # noqa: E402
from workers.sdk import Connection, connect  # noqa: E402

CALL_TIMEOUT = 60.0
"""Deadline of one call from a test (a bound, never a synchronisation)."""
T0 = 1_750_000_000.0
DAY = 86_400.0
TOKENS = {"tokens": [{"token": "t-worker", "role": "worker"},
                     {"token": "t-acme", "role": "client", "realm": "acme"},
                     {"token": "t-beta", "role": "client", "realm": "beta"}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # litellm (summaries) runs on asyncio only


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded offline once for the whole session."""
    return LocalEmbedder.load()


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Stack:
    node: Node
    client: Connection
    memory: MemoryWorker
    clock: FakeClock

    async def call(self, function_id: str, payload: Any, *, client: Connection | None = None) -> Any:
        return await (client or self.client).trigger(function_id, payload, timeout=CALL_TIMEOUT)

    async def agent(self, name: str, scopes: list[str] | None = None, *,
                    client: Connection | None = None) -> None:
        await self.call("agent::create", {"name": name, "capabilities": {
            "memory_scopes": ["self"] if scopes is None else scopes}}, client=client)

    async def store(self, agent: str, content: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "memory::store", {"agent_id": agent, "content": content, **extra})
        return result

    async def recall(self, agent: str, query: str, **extra: Any) -> list[dict[str, Any]]:
        result = await self.call("memory::recall", {"agent_id": agent, "query": query, **extra})
        memories: list[dict[str, Any]] = result["memories"]
        return memories


def node_config(db: Path | None, *, auth: bool = False, cron: bool = False) -> NodeConfig:
    adapter = {"name": "sqlite", "config": {"path": str(db)}} if db else {"name": "memory"}
    workers: list[dict[str, Any]] = [{"name": "iii-state", "config": {"adapter": adapter}},
                                     {"name": "iii-pubsub", "config": {}}]
    if cron:
        workers.append({"name": "iii-cron", "config": {"adapter": {"name": "memory"}}})
    engine: dict[str, Any] = {"port": 0, **({"auth": TOKENS} if auth else {})}
    return NodeConfig.model_validate({"engine": engine, "workers": workers})


@asynccontextmanager
async def running(
    embedder: LocalEmbedder,
    db: Path | None,
    *,
    config: MemoryConfig | None = None,
    clock: FakeClock | None = None,
    fake: FakeUpstream | None = None,
    auth: bool = False,
    cron: bool = False,
) -> AsyncIterator[Stack]:
    """Engine, memory worker, agent-core (and llm-router with ``fake``) and a client.

    With ``auth``, the client is bound to realm ``acme`` (see :data:`TOKENS`).
    """
    clock = clock or FakeClock()
    config = config or MemoryConfig.model_validate({"consolidation": {"cron": None}})
    memory = MemoryWorker(config, embedder=embedder, clock=clock)
    core = AgentCore(AgentCoreConfig(agents_dir=None), templates=TemplateLibrary())
    worker_token, client_token = ("t-worker", "t-acme") if auth else (None, None)
    async with Node(node_config(db, auth=auth, cron=cron)) as node, AsyncExitStack() as stack:
        workers = [memory.worker(), core.worker()]
        if fake is not None:
            workers.append(LlmRouter(llm_config(fake)).worker())
        await stack.enter_async_context(connect(node.url, workers=workers, token=worker_token))
        client = await stack.enter_async_context(
            connect(node.url, workers=[], name="client", token=client_token))
        yield Stack(node, client, memory, clock)


@pytest.fixture
async def stack(embedder: LocalEmbedder, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running(embedder, tmp_path / "state.db") as s:
        yield s
