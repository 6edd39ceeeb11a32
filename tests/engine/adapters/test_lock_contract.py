"""The ``Lock`` contract, run against every backend; expiry is driven by ``now``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from engine.adapters import AdapterClosedError

if TYPE_CHECKING:
    from conftest import Backend

pytestmark = pytest.mark.anyio


async def test_first_claim_wins_until_expiry(backend: Backend) -> None:
    lock, other_engine = await backend.open_lock(), await backend.open_lock()
    assert await lock.claim("cron:job:1", 10, now=100) is True
    assert await lock.claim("cron:job:1", 10, now=100) is False
    assert await other_engine.claim("cron:job:1", 10, now=109.9) is False
    assert await other_engine.claim("cron:job:1", 10, now=110) is True  # expired at 100 + 10
    assert await lock.claim("cron:job:1", 10, now=115) is False


async def test_keys_are_independent(backend: Backend) -> None:
    lock = await backend.open_lock()
    assert await lock.claim("a", 10, now=0) is True
    assert await lock.claim("b", 10, now=0) is True
    assert await lock.claim("a", 10, now=1) is False


async def test_release_frees_the_key(backend: Backend) -> None:
    lock, other_engine = await backend.open_lock(), await backend.open_lock()
    assert await lock.claim("k", 60, now=0) is True
    await other_engine.release("k")
    await lock.release("never-claimed")  # no-op
    assert await other_engine.claim("k", 60, now=1) is True


async def test_concurrent_claims_have_one_winner(backend: Backend) -> None:
    locks = [await backend.open_lock(), await backend.open_lock()]
    results: list[bool] = []

    async def claim(i: int) -> None:
        results.append(await locks[i % 2].claim("fire:2026-01-01T00:00:00Z", 30, now=0))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(claim, i)
    assert sorted(results) == [False] * 19 + [True]


async def test_default_now_is_the_wall_clock(backend: Backend) -> None:
    lock = await backend.open_lock()
    assert await lock.claim("wall", 30) is True
    assert await lock.claim("wall", 30) is False


async def test_claim_validates_ttl_and_closed(backend: Backend) -> None:
    lock = await backend.open_lock()
    with pytest.raises(ValueError):
        await lock.claim("k", 0, now=0)
    await lock.close()
    with pytest.raises(AdapterClosedError):
        await lock.claim("k", 1, now=0)


async def test_many_expired_claims_do_not_block_new_ones(backend: Backend) -> None:
    lock = await backend.open_lock()
    for i in range(1100):  # crosses the memory and sqlite sweep thresholds
        assert await lock.claim(f"once:{i}", 1, now=i) is True
    assert await lock.claim("once:1099", 1, now=1099.5) is False
    assert await lock.claim("once:0", 1, now=2000) is True
