"""The consumer's retry arithmetic (pure, from tables) and its backoff under a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from engine.adapters import Job, MemoryQueue
from engine.config import NodeConfig, QueueModuleConfig, QueueSettings
from engine.modules.queue import QueueModule
from engine.modules.queue_consumer import (
    MAX_BACKOFF_S,
    UNCOUNTED_CAP_S,
    retry_delay,
    uncounted_delay,
    uncounted_of,
)
from engine.node import Node
from workers.sdk import Connection, Worker, connect, function

T0 = 1_000_000.0


@pytest.mark.parametrize(("backoff_ms", "attempt", "seconds"), [
    (1000, 1, 1.0), (1000, 2, 2.0), (1000, 3, 4.0), (1000, 4, 8.0), (250, 3, 1.0),
    (0, 5, 0.0), (1000, 0, 1.0), (1000, 40, MAX_BACKOFF_S), (10**9, 1, MAX_BACKOFF_S),
])
def test_retry_delay_doubles_per_attempt(backoff_ms: int, attempt: int, seconds: float) -> None:
    assert retry_delay(backoff_ms, attempt) == seconds


@pytest.mark.parametrize(("backoff_ms", "poll_ms", "n", "seconds"), [
    (1000, 100, 1, 1.0), (1000, 100, 3, 4.0), (0, 100, 1, 0.1), (0, 100, 2, 0.2), (1000, 100, 50, UNCOUNTED_CAP_S),
])
def test_uncounted_delay_is_at_least_one_poll_and_capped(backoff_ms: int, poll_ms: int, n: int, seconds: float) -> None:
    settings = QueueSettings(backoff_ms=backoff_ms, poll_interval_ms=poll_ms)
    assert uncounted_delay(settings, n) == pytest.approx(seconds)


def _job(attempts: int, error: dict[str, Any] | None) -> Job:
    return Job(id="j", queue="q", function_id="f::g", attempts=attempts, last_error=error)


@pytest.mark.parametrize(("attempts", "error", "uncounted"), [
    (1, None, 0),
    (3, {"at": 2, "uncounted": 2}, 2),        # two lookups missed the function: attempt 1
    (4, {"at": 2, "uncounted": 2}, 2),        # a lease expired since (crash): still carried
    (1, {"at": 4, "uncounted": 2}, 0),        # redriven: attempts restarted, the count too
    (2, {"at": 1, "uncounted": 9}, 1),        # never more than attempts - 1
    (2, {"code": "x"}, 0), (2, {"at": "1", "uncounted": 1}, 0),
])
def test_uncounted_leases_are_read_back_from_the_stored_error(attempts: int, error: Any, uncounted: int) -> None:
    assert uncounted_of(_job(attempts, error)) == uncounted


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Fixture:
    queue: QueueModule
    backend: MemoryQueue
    conn: Connection
    clock: Clock

    async def until(self, predicate: Any) -> None:
        with anyio.fail_after(10):
            await self.queue.wait_until(predicate)


@asynccontextmanager
async def fake_clock_queue(fn: Any, **settings: Any) -> AsyncIterator[Fixture]:
    clock, backend = Clock(), MemoryQueue()
    config = QueueModuleConfig.model_validate({"adapter": {"name": "memory"},
                                               "queue_configs": {"default": {"poll_interval_ms": 20, **settings}}})
    async with Node(NodeConfig.model_validate({"engine": {"port": 0}})) as node:
        async with QueueModule(node, config, clock=clock, backend=backend) as queue:
            async with connect(node.url, workers=[Worker("w", functions=[fn])]) as conn:
                yield Fixture(queue, backend, conn, clock)


async def test_retries_wait_backoff_ms_times_two_to_the_attempt() -> None:
    calls: list[int] = []

    @function("flaky::twice")
    async def twice(data: dict[str, Any]) -> None:
        calls.append(data["_queue"]["attempt"])
        if len(calls) < 3:
            raise RuntimeError("not yet")

    async with fake_clock_queue(twice, backoff_ms=1000, max_retries=5) as f:
        await f.conn.enqueue("flaky::twice", {})
        await f.until(lambda: f.queue.statistics().retried == 1)
        assert (await f.backend.stats("default", now=T0 + 0.999)).delayed == 1
        assert (await f.backend.stats("default", now=T0 + 1.0)).ready == 1  # 1000 ms * 2^0
        f.clock.now = T0 + 1.0
        f.queue.consumers["default"].wake()
        await f.until(lambda: f.queue.statistics().retried == 2)
        assert (await f.backend.stats("default", now=T0 + 2.999)).delayed == 1
        assert (await f.backend.stats("default", now=T0 + 3.0)).ready == 1  # then 1000 ms * 2^1
        f.clock.now = T0 + 3.0
        f.queue.consumers["default"].wake()
        await f.until(lambda: f.queue.statistics().succeeded == 1)
        assert calls == [1, 2, 3]


async def test_the_queue_info_can_be_turned_off() -> None:
    class Config(QueueModuleConfig):
        inject_queue_info: bool = False

    seen: list[Any] = []
    done = anyio.Event()

    @function("raw::data")
    async def raw(data: Any) -> None:
        seen.append(data)
        done.set()

    config = Config.model_validate({"adapter": {"name": "memory"}})
    async with Node(NodeConfig.model_validate({"engine": {"port": 0}})) as node:
        async with QueueModule(node, config), connect(node.url, workers=[Worker("w", functions=[raw])]) as conn:
            await conn.enqueue("raw::data", {"a": 1})
            with anyio.fail_after(10):
                await done.wait()
    assert seen == [{"a": 1}]


async def test_statistics_and_clean_stop() -> None:
    @function("ok::f")
    async def ok(data: Any) -> None: ...

    async with fake_clock_queue(ok) as f:
        for n in range(5):
            await f.conn.enqueue("ok::f", n)
        await f.until(lambda: f.queue.statistics().succeeded == 5)
        stats = f.queue.statistics()
        assert (stats.queues, stats.in_flight, stats.pending_pushes, stats.delivered) == (1, 0, 0, 5)
    assert f.queue.router.enqueue_hook is None
    assert f.queue.router.registry.resolve("default", "iii::queue::redrive") is None
