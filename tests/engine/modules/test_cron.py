"""``iii-cron`` driven by a fake clock (no sleeping), plus one real-time check on a real Node.

The fake-clock tests build a :class:`CronModule` by hand on a running Node (so the clock can be
injected); the bound functions are SDK workers on a real socket or, for the several-engine
tests, built-in functions registered on each node.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import pytest
import redis
from anyio import wait_all_tasks_blocked
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from redis.asyncio import Redis

from engine.config import CronModuleConfig, NodeConfig
from engine.errors import WireError
from engine.modules.cron import CronModule, SystemClock, rfc3339
from engine.node import Node
from engine.registry import TriggerEntry
from engine.types import Call
from workers.sdk import Context, TriggerBinding, Worker, connect, function

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
T0 = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@functools.cache
def redis_unavailable() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis answering at {REDIS_URL}: {exc}"
    finally:
        client.close()
    return None


class FakeClock:
    """Time that moves only when the test says so; sleepers wake on every move."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start
        self._moved: anyio.Event | None = None

    def now(self) -> datetime:
        return self.t

    async def sleep_until(self, when: datetime) -> None:
        while self.t < when:
            if self._moved is None:
                self._moved = anyio.Event()
            await self._moved.wait()

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
        moved, self._moved = self._moved, None
        if moved is not None:
            moved.set()


class Inbox:
    def __init__(self) -> None:
        self.tx: MemoryObjectSendStream[Any]
        self.rx: MemoryObjectReceiveStream[Any]
        self.tx, self.rx = anyio.create_memory_object_stream[Any](1000)

    async def next(self, timeout: float = 5) -> Any:
        with anyio.fail_after(timeout):
            return await self.rx.receive()

    def empty(self) -> bool:
        return self.rx.statistics().current_buffer_used == 0


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.tx.close()
    box.rx.close()


def recorder(function_id: str, inbox: Inbox) -> Any:
    @function(function_id)
    async def handler(data: Any, ctx: Context) -> None:
        await inbox.tx.send((function_id, data))

    return handler


def node_config(*workers: dict[str, Any]) -> NodeConfig:
    return NodeConfig.model_validate({
        "engine": {"host": "127.0.0.1", "port": 0, "registration_namespace_grace_ms": 0},
        "workers": list(workers),
    })


def cron_config(lock_ttl_ms: int = 1000, adapter: dict[str, Any] | None = None) -> CronModuleConfig:
    return CronModuleConfig.model_validate({"adapter": adapter or {"name": "memory"}, "lock_ttl_ms": lock_ttl_ms})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Rig(NamedTuple):
    node: Node
    cron: CronModule


@pytest.fixture
async def rig(clock: FakeClock) -> AsyncIterator[Rig]:
    async with Node(node_config()) as node, CronModule(node, cron_config(), clock=clock) as module:
        yield Rig(node, module)


def at(second: int, minute: int = 0) -> str:
    return rfc3339(T0.replace(minute=minute, second=second))


async def scheduled(inbox: Inbox) -> str:
    _, payload = await inbox.next()
    return str(payload["scheduled_time"])


# -- fake clock --------------------------------------------------------------------------------


async def test_fires_each_slot_with_the_iii_payload(clock: FakeClock, inbox: Inbox) -> None:
    async with Node(node_config()) as node, CronModule(node, cron_config(), clock=clock) as cron:
        worker = Worker("tick", functions=[recorder("tick::on", inbox)],
                        triggers=[TriggerBinding("cron", "tick::on", {"expression": "*/10 * * * * *"}, id="every-10s")])
        async with connect(node.url, workers=[worker]):
            assert cron.statistics().bindings == 1
            clock.advance(5)  # 00:00:10
            fid, payload = await inbox.next()
            assert fid == "tick::on"
            assert payload == {"trigger": "cron", "job_id": "every-10s", "scheduled_time": "2026-01-01T00:00:10Z",
                               "actual_time": "2026-01-01T00:00:10Z"}
            clock.advance(10.25)  # 00:00:20.250
            _, payload = await inbox.next()
            assert payload["scheduled_time"] == at(20) and payload["actual_time"] == "2026-01-01T00:00:20.250Z"
            assert datetime.fromisoformat(payload["actual_time"]) >= datetime.fromisoformat(payload["scheduled_time"])


async def test_missed_slots_fire_once_for_the_latest(rig: Rig, clock: FakeClock, inbox: Inbox) -> None:
    cron = rig.cron
    cron.router.register_local("tick::on", local_recorder("tick::on", inbox))
    await bind(cron, "missed", "*/10 * * * * *")
    clock.advance(5)
    assert await scheduled(inbox) == at(10)
    clock.advance(30.5)  # 00:00:40.5 — slots 20, 30 and 40 went by while "blocked"
    assert await scheduled(inbox) == at(40)
    clock.advance(20)  # 00:01:00.5 in one jump: slot 50 is missed, 01:00 fires
    assert await scheduled(inbox) == at(0, minute=1)
    stats = cron.statistics()
    assert (stats.fired, stats.skipped) == (3, 3)  # 20, 30 and 50 missed


async def test_registration_catches_up_the_latest_slot_within_lock_ttl(clock: FakeClock, inbox: Inbox) -> None:
    clock.advance(5.4)  # 00:00:10.4: the 00:00:10 slot is 0.4 s old (lock_ttl is 1 s)
    async with Node(node_config()) as node, CronModule(node, cron_config(), clock=clock) as cron:
        node.router.register_local("tick::on", local_recorder("tick::on", inbox))
        await bind(cron, "late-start", "*/10 * * * * *")
        assert await scheduled(inbox) == at(10)
        await bind(cron, "late-start", "*/10 * * * * *")  # re-registered (a reconnect): already fired
        await bind(cron, "every-2s", "*/2 * * * * *")  # its latest slot (00:00:10) is caught up too
        assert await inbox.next() == ("tick::on", {"trigger": "cron", "job_id": "every-2s",
                                                   "scheduled_time": at(10), "actual_time": "2026-01-01T00:00:10.400Z"})
        await wait_all_tasks_blocked()
        await cron.settle()
        assert inbox.empty() and cron.statistics().contended == 1
        clock.advance(1.6)  # 00:00:12
        assert (await inbox.next())[1]["job_id"] == "every-2s"


async def test_no_catch_up_for_a_slot_older_than_lock_ttl(clock: FakeClock, inbox: Inbox) -> None:
    clock.advance(7)  # 00:00:12: the 00:00:10 slot is 2 s old
    async with Node(node_config()) as node, CronModule(node, cron_config(), clock=clock) as cron:
        node.router.register_local("tick::on", local_recorder("tick::on", inbox))
        await bind(cron, "fresh", "*/10 * * * * *")
        clock.advance(8)
        assert await scheduled(inbox) == at(20)
        assert cron.statistics().fired == 1


async def test_unregister_stops_at_once(rig: Rig, clock: FakeClock, inbox: Inbox) -> None:
    cron = rig.cron
    worker = Worker("tick", functions=[recorder("tick::gone", inbox), recorder("tick::stays", inbox)])
    async with connect(rig.node.url, workers=[worker]) as conn:
        binding = await conn.bind("cron", "tick::gone", {"expression": "* * * * * *"})
        assert await inbox.next() == ("tick::gone", {"trigger": "cron", "job_id": binding.id,  # caught up
                                                     "scheduled_time": at(5), "actual_time": at(5)})
        clock.advance(1)
        assert await inbox.next() == ("tick::gone", {"trigger": "cron", "job_id": binding.id,
                                                     "scheduled_time": at(6), "actual_time": at(6)})
        await binding.unregister()
        await conn.trigger("engine::health::check")
        assert cron.statistics().bindings == 0
        clock.advance(3)
        await conn.bind("cron", "tick::stays", {"expression": "* * * * * *"})
        await conn.trigger("engine::health::check")  # applied: caught up for 00:00:09
        clock.advance(1)
        assert [(await inbox.next())[0] for _ in range(2)] == ["tick::stays"] * 2  # nothing from the unbound one


async def test_unregister_cancels_a_firing_in_flight(rig: Rig, clock: FakeClock, inbox: Inbox) -> None:
    cron = rig.cron
    entered = anyio.Event()

    async def never(data: Any, call: Call) -> bool:
        entered.set()
        await anyio.sleep_forever()
        return True

    cron.router.register_local("cond::never", never)
    cron.router.register_local("tick::on", local_recorder("tick::on", inbox))
    await bind(cron, "stuck", "* * * * * *", condition="cond::never")
    clock.advance(1)
    with anyio.fail_after(5):
        await entered.wait()
    assert cron.statistics().firing == 1
    clock.advance(1)  # the next slot is skipped: the previous firing is still running
    await wait_all_tasks_blocked()
    assert cron.statistics().skipped == 1
    assert await cron.router.remove_trigger("stuck")
    with anyio.fail_after(5):
        await cron.settle()
    assert cron.statistics().firing == 0 and inbox.empty()


async def test_condition_function_decides(rig: Rig, clock: FakeClock, inbox: Inbox) -> None:
    cron = rig.cron
    async def on_even_tens(data: Any, call: Call) -> bool:
        return datetime.fromisoformat(data["scheduled_time"]).second % 20 == 0

    cron.router.register_local("cond::even", on_even_tens)
    cron.router.register_local("tick::on", local_recorder("tick::on", inbox))
    await bind(cron, "cond", "*/10 * * * * *", condition="cond::even")
    for seconds in (5, 10, 10, 10):
        await step(cron, clock, seconds)  # slots 10, 20, 30, 40
    assert [await scheduled(inbox), await scheduled(inbox)] == [at(20), at(40)]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"expression": "61 * * * * *"}, "second field '61' is not valid"),
        ({"expression": "* * *"}, "expected 6 or 7 fields"),
        ({"expression": "0 0 0 30 2 *"}, "can never fire"),
        ({"expression": 5}, "needs config.expression"),
        ({}, "needs config.expression"),
        ({"expression": "* * * * * *", "condition_function_id": ""}, "condition_function_id"),
    ],
)
async def test_invalid_bindings_are_refused(rig: Rig, inbox: Inbox, config: dict[str, Any], message: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    cron = rig.cron
    worker = Worker("bad", functions=[recorder("tick::bad", inbox)])
    async with connect(rig.node.url, workers=[worker]) as conn:
        with caplog.at_level(logging.WARNING, logger="workers.sdk"):
            await conn.bind("cron", "tick::bad", config)
            await conn.trigger("engine::health::check")
        assert not cron.router.registry.triggers and cron.statistics().bindings == 0
        refusals = [r.getMessage() for r in caplog.records if "refused trigger" in r.getMessage()]
        assert len(refusals) == 1 and message in refusals[0], refusals
    with pytest.raises(WireError, match="refused the binding"):
        await cron.router.invoke("engine::register_trigger", {"trigger_type": "cron", "function_id": "tick::bad",
                                                                "config": config})


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def test_two_engines_on_one_store_fire_each_slot_once(kind: str, tmp_path: Path, clock: FakeClock,
                                                             inbox: Inbox) -> None:
    if kind == "redis" and (reason := redis_unavailable()) is not None:
        pytest.skip(reason)
    prefix = f"agentos-test:{uuid.uuid4().hex}:"
    adapter = ({"name": "sqlite", "config": {"path": str(tmp_path / "cron.db")}} if kind == "sqlite"
               else {"name": "redis", "config": {"url": REDIS_URL, "prefix": prefix}})
    try:
        async with (Node(node_config()) as one, CronModule(one, cron_config(30_000, adapter), clock=clock) as c1,
                    Node(node_config()) as two, CronModule(two, cron_config(30_000, adapter), clock=clock) as c2):
            for name, module in (("one", c1), ("two", c2)):
                module.router.register_local("tick::on", local_recorder(name, inbox))
                await bind(module, "shared-job", "*/10 * * * * *")
            for slot in (10, 20, 30):
                clock.advance(10 if slot > 10 else 5)
                _, payload = await inbox.next()
                assert payload["scheduled_time"] == at(slot)
                await wait_all_tasks_blocked()
                await c1.settle()
                await c2.settle()
                assert inbox.empty()
            assert c1.statistics().fired + c2.statistics().fired == 3
            assert c1.statistics().contended + c2.statistics().contended == 3
    finally:
        if kind == "redis":
            client = Redis.from_url(REDIS_URL)
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


# -- real time ---------------------------------------------------------------------------------


async def test_every_second_fires_within_two_seconds_on_a_real_node(inbox: Inbox) -> None:
    config = node_config({"name": "iii-cron", "config": {"adapter": {"name": "memory"}}})
    async with Node(config) as node:
        worker = Worker("tick", functions=[recorder("tick::real", inbox)])
        async with connect(node.url, workers=[worker]) as conn:
            binding = await conn.bind("cron", "tick::real", {"expression": "* * * * * *"})
            fid, payload = await inbox.next(timeout=2.5)
            assert fid == "tick::real" and set(payload) == {"trigger", "job_id", "scheduled_time", "actual_time"}
            assert payload["trigger"] == "cron" and payload["job_id"] == binding.id
            lag = datetime.fromisoformat(payload["actual_time"]) - datetime.fromisoformat(payload["scheduled_time"])
            assert timedelta(0) <= lag < timedelta(seconds=2)
            await binding.unregister()
            await conn.trigger("engine::health::check")
            assert node.modules["cron"].statistics().bindings == 0


async def test_system_clock_sleeps_until_a_time() -> None:
    clock = SystemClock()
    target = clock.now() + timedelta(milliseconds=20)
    await clock.sleep_until(target)
    await clock.sleep_until(target - timedelta(days=1))  # the past: returns at once
    assert clock.now() >= target - timedelta(milliseconds=5)


# -- helpers -----------------------------------------------------------------------------------


def local_recorder(name: str, inbox: Inbox) -> Any:
    async def handler(data: Any, call: Call) -> None:
        await inbox.tx.send((name, data))

    return handler


async def step(cron: CronModule, clock: FakeClock, seconds: float) -> None:
    """Move the clock and wait until the scheduler has handled it and every firing is done."""
    clock.advance(seconds)
    await wait_all_tasks_blocked()
    await cron.settle()


async def bind(cron: CronModule, trigger_id: str, expression: str, *, condition: str | None = None) -> None:
    config: dict[str, Any] = {"expression": expression}
    if condition:
        config["condition_function_id"] = condition
    await cron.router.add_trigger(TriggerEntry(trigger_id, "cron", "tick::on", config, owner=None))
