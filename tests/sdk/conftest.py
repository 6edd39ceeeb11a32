"""Fixtures of the SDK tests: the stub engine and a fast reconnect backoff."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from workers.sdk import Backoff

from .stub_engine import StubEngine

FAST = Backoff(initial=0.001, maximum=0.01, jitter=0.0)
"""Reconnect at once: tests wait on events, never on the backoff."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["msgpack", "json"])
def codec(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def engine() -> AsyncIterator[StubEngine]:
    async with StubEngine() as stub:
        yield stub
    assert not stub.errors, stub.errors
