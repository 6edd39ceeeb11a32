"""Fixtures of the security tests: a real engine, the real security worker, real clients.

Nothing of ours is mocked. Each scenario runs an in-process :class:`engine.node.Node` with the
SQLite state and queue adapters (on one file under ``tmp_path``, as ``config.yaml`` does) and
in-memory pubsub, the security worker connected through our SDK, and a client connection the
test talks through. Time-dependent behaviour (token windows, expiries) uses :class:`FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import Connection, InvocationError, Worker, connect
from workers.security import SecurityConfig, SecurityService

TOKENS = {"tokens": [{"token": "t-system", "role": "system"},
                     {"token": "t-worker", "role": "worker"},
                     {"token": "t-acme", "role": "client", "realm": "acme"},
                     {"token": "t-beta", "role": "client", "realm": "beta"}]}
"""With ``auth=True``: the security worker connects as ``worker``; clients as realm acme/beta."""
VAULT_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def node_config(db: Path, *, auth: bool = False) -> NodeConfig:
    sqlite = {"name": "sqlite", "config": {"path": str(db)}}
    return NodeConfig.model_validate({
        "engine": {"port": 0, **({"auth": TOKENS} if auth else {})},
        "workers": [{"name": "iii-state", "config": {"adapter": sqlite}},
                    {"name": "iii-pubsub", "config": {}},
                    {"name": "iii-queue", "config": {"adapter": sqlite}}],
    })


@dataclass
class Stack:
    node: Node
    service: SecurityService
    client: Connection
    clock: FakeClock

    async def call(self, function_id: str, data: Any = None, *, timeout: float = 30.0) -> Any:
        return await self.client.trigger(function_id, data, timeout=timeout)

    async def code_of(self, function_id: str, data: Any = None) -> str:
        """The error code ``function_id`` answers ``data`` with (fails if it succeeds)."""
        with pytest.raises(InvocationError) as err:
            await self.client.trigger(function_id, data, timeout=30)
        return err.value.code


@asynccontextmanager
async def running(tmp_path: Path, *, config: SecurityConfig | None = None,
                  extra: Sequence[Worker] = (), auth: bool = False,
                  client_token: str | None = None, clock: FakeClock | None = None,
                  db: Path | None = None) -> AsyncIterator[Stack]:
    """The engine, the security worker (plus ``extra`` workers) and a client; all closed on exit.

    With ``auth``, workers connect with the ``worker`` token and the client with
    ``client_token`` (default: the ``system`` token, so it acts in the default realm).
    """
    clock = clock or FakeClock()
    config = config or SecurityConfig(data_dir=tmp_path / "data", vault_key=VAULT_KEY)
    service = SecurityService(config, clock=clock)
    worker_token = "t-worker" if auth else None
    client_token = (client_token or "t-system") if auth else None
    async with Node(node_config(db or tmp_path / "s.db", auth=auth)) as node, AsyncExitStack() as stack:
        await stack.enter_async_context(connect(node.url, workers=[service.worker()], token=worker_token))
        if extra:
            await stack.enter_async_context(connect(node.url, workers=list(extra), token=worker_token))
        client = await stack.enter_async_context(
            connect(node.url, workers=[], name="client", token=client_token))
        yield Stack(node, service, client, clock)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running(tmp_path) as s:
        yield s
