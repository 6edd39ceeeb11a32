"""The litellm embedding backend against a real HTTP server speaking OpenAI's /v1/embeddings."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from workers.memory import LiteLLMEmbedder, MemoryConfig
from workers.memory.errors import EmbeddingFailed


class FakeEmbeddings:
    """``POST /v1/embeddings``: a deterministic vector per input; records every request."""

    def __init__(self, dim: int) -> None:
        self.dim, self.fail = dim, False
        self.requests: list[list[str]] = []

    def vector(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).tolist()

    async def embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.requests.append(inputs)
        if self.fail:
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
        data = [{"object": "embedding", "index": i, "embedding": self.vector(t)} for i, t in enumerate(inputs)]
        return JSONResponse({"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": 1, "total_tokens": 1}})


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeEmbeddings, str]]:
    monkeypatch.setenv("FAKE_EMBEDDINGS_KEY", "sk-test")
    fake = FakeEmbeddings(8)
    app = Starlette(routes=[Route("/v1/embeddings", fake.embeddings, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    config = uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning",
                            access_log=False, ws="none", http="h11", timeout_graceful_shutdown=2)
    uv = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(uv.serve, [sock])
            yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
            uv.should_exit = True
    finally:
        sock.close()


def embedder(base: str, dim: int = 8, **extra: Any) -> LiteLLMEmbedder:
    config = MemoryConfig.model_validate({"embedding": {
        "provider": "litellm", "model": "openai/text-embedding-3-small", "dimensions": dim,
        "api_base": base, "api_key_env": "FAKE_EMBEDDINGS_KEY", "batch_size": 2, **extra}})
    return LiteLLMEmbedder(config.embedding)


async def test_vectors_come_back_normalised_in_order(server: tuple[FakeEmbeddings, str]) -> None:
    fake, base = server
    out = await embedder(base).encode(["alpha", "", "beta", "gamma"])
    assert [len(e.spans) for e in out] == [1, 0, 1, 1]
    assert fake.requests == [["alpha", "beta"], ["gamma"]]  # batches of 2, blanks skipped
    expected = np.array(fake.vector("beta"))
    assert np.allclose(out[2].vectors[0], expected / np.linalg.norm(expected), atol=1e-6)


async def test_long_texts_are_windowed(server: tuple[FakeEmbeddings, str]) -> None:
    fake, base = server
    text = "word " * 300
    [enc] = await embedder(base, max_window_chars=256).encode([text])
    assert len(enc.spans) > 1 and len(fake.requests) == (len(enc.spans) + 1) // 2
    assert enc.spans[0][0] == 0 and enc.spans[-1][1] == len(text.rstrip())
    assert all(e - s <= 256 for s, e in enc.spans)


async def test_failures_and_wrong_sizes_are_embedding_failed(server: tuple[FakeEmbeddings, str]) -> None:
    fake, base = server
    with pytest.raises(EmbeddingFailed, match="expected 1 of 16"):
        await embedder(base, dim=16).encode(["alpha"])
    fake.fail = True
    with pytest.raises(EmbeddingFailed, match="failed to embed"):
        await embedder(base).encode(["alpha"])


def test_the_provider_needs_a_model_and_dimensions() -> None:
    with pytest.raises(ValueError, match="needs 'model' and 'dimensions'"):
        MemoryConfig.model_validate({"embedding": {"provider": "litellm", "model": "x"}})
