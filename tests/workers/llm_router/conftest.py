"""Fixtures of the llm-router tests: fake upstreams, a config builder, an engine with the router.

Everything is real except the provider: an in-process engine (:class:`engine.node.Node`), the
router served by our SDK, a client connection calling ``llm::*`` through the engine, litellm,
and :class:`tests.fakes.FakeUpstream` speaking HTTP on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# `tests.fakes` lives at the repository root, which only `python -m pytest` (run from there) puts
# on sys.path; a bare `pytest` or another working directory needs it added.
_REPO = str(Path(__file__).resolve().parents[3])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

import pytest  # noqa: E402

from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import FakeUpstream  # noqa: E402
from workers.llm_router import LlmConfig, LlmRouter  # noqa: E402
from workers.llm_router.config import build_config  # noqa: E402
from workers.sdk import Connection, Worker, connect  # noqa: E402

FAST_RETRY = {"initial_backoff_s": 0.001, "multiplier": 2, "max_backoff_s": 0.004, "jitter": 0,
              "max_retry_after_s": 0.02}
"""The product's backoff, shrunk: retries happen at once, tests never wait on them."""

TOKENS = {"tokens": [{"token": "t-acme", "role": "client", "realm": "acme"},
                     {"token": "t-sys", "role": "system"}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # litellm runs on asyncio only


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
async def fake2() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(models=["gpt-4o"]) as upstream:
        yield upstream


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    yield port


def spec(upstream: FakeUpstream, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    """A chain entry for an OpenAI model served by ``upstream`` (priced by litellm's map)."""
    return {"model": f"openai/{model}", "api_base": upstream.base_url, "api_key": "sk-test", **extra}


def make_config(aliases: dict[str, Any] | None = None, *, env: dict[str, str] | None = None,
                **sections: Any) -> LlmConfig:
    """A config with fast retries and no Ollama probe unless ``sections`` say otherwise.

    ``${VAR}`` references are expanded from ``env`` (default: empty), never the real environment.
    """
    raw: dict[str, Any] = {"aliases": aliases or {}, "retry": FAST_RETRY,
                           "ollama": {"autodetect": False}, "defaults": {"timeout_s": 10}}
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) and isinstance(value, dict) else value
    return build_config(raw, env=env or {})


@asynccontextmanager
async def engine(*, auth: bool = False, modules: list[str] = ()) -> AsyncIterator[Node]:  # type: ignore[assignment]
    settings: dict[str, Any] = {"port": 0}
    if auth:
        settings["auth"] = TOKENS
    config = {"engine": settings, "modules": [{"name": name} for name in modules]}
    async with Node(NodeConfig.model_validate(config)) as node:
        yield node


@asynccontextmanager
async def serving(router: LlmRouter, *, auth: bool = False, client_token: str | None = None,
                  extra: list[Worker] | None = None, modules: list[str] = ()) -> AsyncIterator[Connection]:  # type: ignore[assignment]
    """An engine (with ``modules``) serving ``router`` and ``extra`` workers; yields a client."""
    async with engine(auth=auth, modules=modules) as node:
        token = "t-sys" if auth else None
        async with connect(node.url, workers=[router.worker()], token=token):
            async with connect(node.url, workers=extra or [], name="helpers", token=token):
                async with connect(node.url, workers=[], name="client",
                                   token=client_token or token) as client:
                    yield client


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]
