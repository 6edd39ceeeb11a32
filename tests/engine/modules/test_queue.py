"""The queue module through a real Node and our SDK, on the memory, sqlite and redis adapters.

Nothing sleeps: handlers block on events, and waits for the queue's own bookkeeping go through
``QueueModule.wait_until`` (re-checked after every ack, retry and dead-letter), under a deadline.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis

from engine.config import NodeConfig
from engine.errors import EnqueueError
from engine.modules.queue import QueueModule
from engine.node import Node
from workers.sdk import (
    Connection,
    Context,
    InvocationError,
    TriggerBinding,
    Worker,
    connect,
    function,
)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
DEADLINE_S = 10.0
FAST = {"backoff_ms": 0, "poll_interval_ms": 20, "max_retries": 3}


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


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The ``adapter:`` entry of the module config, one per backend."""
    if request.param == "memory":
        yield {"name": "memory"}
    elif request.param == "sqlite":
        yield {"name": "sqlite", "config": {"path": str(tmp_path / "queue.db")}}
    else:
        if (reason := redis_unavailable()) is not None:
            pytest.skip(reason)
        prefix = f"agentos-test:{uuid.uuid4().hex}:"
        yield {"name": "redis", "config": {"url": REDIS_URL, "prefix": prefix}}
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def node_config(adapter: dict[str, Any] | None, queues: dict[str, Any] | None = None, **engine: Any) -> NodeConfig:
    modules = [] if adapter is None else [
        {"name": "iii-queue", "config": {"adapter": adapter, "queue_configs": queues or {"default": FAST}}}]
    return NodeConfig.model_validate({"engine": {"port": 0, **engine}, "workers": modules})


@dataclass
class Harness:
    node: Node
    conn: Connection
    queue: QueueModule

    async def until(self, predicate: Callable[[], bool]) -> None:
        with anyio.fail_after(DEADLINE_S):
            await self.queue.wait_until(predicate)

    async def stats(self, queue: str = "default") -> dict[str, Any]:
        return await self.conn.trigger("engine::queue::topic_stats", {"queue": queue})  # type: ignore[no-any-return]


@asynccontextmanager
async def running(adapter: dict[str, Any], *fns: Any, queues: dict[str, Any] | None = None,
                  triggers: Sequence[TriggerBinding] = ()) -> AsyncIterator[Harness]:
    async with Node(node_config(adapter, queues)) as node:
        async with connect(node.url, workers=[Worker("w", functions=fns, triggers=triggers)]) as conn:
            yield Harness(node, conn, node.modules["queue"])


class Gate:
    """Handlers wait on ``open``; ``entered`` counts arrivals and tracks the peak concurrency."""

    def __init__(self) -> None:
        self.open = anyio.Event()
        self.running = 0
        self.peak = 0
        self.seen: list[Any] = []
        self._arrived = anyio.Event()

    async def enter(self, data: Any) -> None:
        self.seen.append(data)
        self.running += 1
        self.peak = max(self.peak, self.running)
        self._arrived.set()
        try:
            await self.open.wait()
        finally:
            self.running -= 1

    async def arrivals(self, n: int) -> None:
        with anyio.fail_after(DEADLINE_S):
            while len(self.seen) < n:
                self._arrived = anyio.Event()
                await self._arrived.wait()


# -- delivery --------------------------------------------------------------------------------


async def test_enqueue_answers_a_receipt_then_runs_the_job_later(adapter: dict[str, Any]) -> None:
    gate = Gate()

    @function("jobs::run")
    async def run(data: dict[str, Any]) -> None:
        await gate.enter(data)

    async with running(adapter, run) as h:
        receipt = await h.conn.enqueue("jobs::run", {"x": 1}, queue="default")
        assert uuid.UUID(receipt)
        await gate.arrivals(1)  # the receipt came back while the handler had not finished
        gate.open.set()
        await h.until(lambda: h.queue.statistics().succeeded == 1)
        assert gate.seen[0]["x"] == 1
        assert gate.seen[0]["_queue"] == {"message_id": receipt, "attempt": 1, "queue": "default",
                                          "idempotency_key": receipt}
        assert (await h.stats())["depth"] == 0


async def test_a_failing_job_is_retried_then_dead_lettered(adapter: dict[str, Any]) -> None:
    attempts: list[int] = []

    @function("jobs::flaky")
    async def flaky(data: dict[str, Any]) -> None:
        attempts.append(data["_queue"]["attempt"])
        raise ValueError(f"boom {len(attempts)}")

    async with running(adapter, flaky) as h:
        receipt = await h.conn.enqueue("jobs::flaky", {"idempotency_key": "k-1"})
        await h.until(lambda: h.queue.statistics().dead_lettered == 1)
        assert attempts == [1, 2, 3]  # max_retries=3: three deliveries, as in iii
        stats = await h.stats()
        assert (stats["dead"], stats["depth"]) == (1, 0)
        [dead] = await h.conn.trigger("engine::queue::dlq_messages", {"queue": "default"})
        assert dead["message_id"] == receipt and dead["attempts"] == 3
        assert dead["idempotency_key"] == "k-1" and dead["function_id"] == "jobs::flaky"
        assert dead["error"]["code"] == "invocation_failed" and dead["error"]["message"] == "boom 3"
        assert "ValueError" in dead["error"]["stacktrace"]


async def test_redrive_runs_a_dead_job_again_and_discard_deletes_one(adapter: dict[str, Any]) -> None:
    healthy = False
    ran: list[dict[str, Any]] = []

    @function("jobs::fixable")
    async def fixable(data: dict[str, Any]) -> None:
        if not healthy:
            raise RuntimeError("not yet")
        ran.append(data)

    async with running(adapter, fixable, queues={"default": {**FAST, "max_retries": 1}}) as h:
        first = await h.conn.enqueue("jobs::fixable", {"n": 1})
        second = await h.conn.enqueue("jobs::fixable", {"n": 2})
        await h.until(lambda: h.queue.statistics().dead_lettered == 2)
        healthy = True
        answer = await h.conn.trigger("iii::queue::redrive_message", {"queue": "default", "message_id": first})
        assert answer == {"queue": "default", "message_id": first, "redriven": 1}
        await h.until(lambda: h.queue.statistics().succeeded == 1)
        assert [(d["n"], d["_queue"]["attempt"]) for d in ran] == [(1, 1)]  # attempts start over
        answer = await h.conn.trigger("iii::queue::discard_message", {"queue": "default", "message_id": second})
        assert answer == {"queue": "default", "message_id": second, "discarded": 1}
        assert await h.conn.trigger("engine::queue::dlq_messages", {"queue": "default"}) == []
        again = await h.conn.trigger("queue::dlq::discard", {"queue": "default", "message_id": second})
        assert again["discarded"] == 0
        assert await h.conn.trigger("iii::queue::redrive", {"queue": "default"}) == {"queue": "default", "redriven": 0}


async def test_redrive_all(adapter: dict[str, Any]) -> None:
    healthy = False

    @function("jobs::later")
    async def later(data: Any) -> None:
        if not healthy:
            raise RuntimeError("down")

    async with running(adapter, later, queues={"default": {**FAST, "max_retries": 1}}) as h:
        for n in range(3):
            await h.conn.enqueue("jobs::later", n)
        await h.until(lambda: h.queue.statistics().dead_lettered == 3)
        healthy = True
        assert await h.conn.trigger("iii::queue::redrive", {"topic": "default"}) == {"queue": "default", "redriven": 3}
        await h.until(lambda: h.queue.statistics().succeeded == 3)
        assert (await h.stats())["dead"] == 0


async def test_concurrency_limit_is_respected(adapter: dict[str, Any]) -> None:
    gate = Gate()

    @function("jobs::block")
    async def block(data: Any) -> None:
        await gate.enter(data)

    async with running(adapter, block, queues={"default": {**FAST, "concurrency": 3}}) as h:
        for n in range(10):
            await h.conn.enqueue("jobs::block", n)
        await gate.arrivals(3)
        stats = await h.stats()
        assert (stats["leased"], stats["ready"], stats["in_flight"]) == (3, 7, 3)  # leasing is what a 4th needs
        gate.open.set()
        await h.until(lambda: h.queue.statistics().succeeded == 10)
        assert gate.peak == 3 and sorted(gate.seen) == list(range(10))


async def test_fifo_groups_run_in_order_one_at_a_time(adapter: dict[str, Any]) -> None:
    order: dict[str, list[int]] = {"a": [], "b": []}
    running_in: dict[str, int] = {"a": 0, "b": 0}
    failed_once: set[str] = set()

    @function("jobs::ordered")
    async def ordered(data: dict[str, Any]) -> None:
        group = data["account"]
        running_in[group] += 1
        assert running_in[group] == 1, f"two jobs of group {group} ran at once"
        try:
            await anyio.lowlevel.checkpoint()
            if data["i"] == 0 and group not in failed_once:  # the head fails once: nothing overtakes it
                failed_once.add(group)
                raise RuntimeError("retry me")
            order[group].append(data["i"])
        finally:
            running_in[group] -= 1

    fifo = {"payments": {**FAST, "type": "fifo", "message_group_field": "account", "concurrency": 10}}
    async with running(adapter, ordered, queues=fifo) as h:
        for i in range(5):
            for group in ("a", "b"):
                await h.conn.enqueue("jobs::ordered", {"account": group, "i": i}, queue="payments")
        await h.until(lambda: h.queue.statistics().succeeded == 10)
        assert order == {"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4]}


async def test_a_function_not_registered_yet_is_retried_without_charging_attempts(adapter: dict[str, Any]) -> None:
    got: list[dict[str, Any]] = []
    done = anyio.Event()

    @function("late::f")
    async def late(data: dict[str, Any]) -> None:
        got.append(data)
        done.set()

    @function("other::g")
    async def other(data: Any) -> None: ...

    async with running(adapter, other, queues={"default": {**FAST, "max_retries": 1}}) as h:
        await h.conn.enqueue("late::f", {"v": 1})
        await h.until(lambda: h.queue.statistics().uncounted >= 2)
        async with connect(h.node.url, workers=[Worker("late", functions=[late])]):
            with anyio.fail_after(DEADLINE_S):
                await done.wait()
        assert got[0]["_queue"]["attempt"] == 1 and h.queue.statistics().dead_lettered == 0


async def test_handlers_run_with_the_enqueuers_realm_and_role(tmp_path: Path) -> None:
    seen: list[str | None] = []
    done = anyio.Event()

    @function("realm::echo")
    async def echo(data: Any, ctx: Context) -> None:
        seen.append(ctx.realm)
        done.set()

    tokens = [{"token": "w-token", "role": "worker"}, {"token": "c-token", "role": "client", "realm": "acme"}]
    config = node_config({"name": "memory"}, {"default": FAST}, auth={"tokens": tokens})
    async with Node(config) as node:
        async with connect(node.url, workers=[Worker("w", functions=[echo])], token="w-token"), \
                connect(node.url, workers=[], token="c-token", name="client") as client:
            await client.enqueue("realm::echo", {})
            with anyio.fail_after(DEADLINE_S):
                await done.wait()
            assert seen == ["acme"]
            # A client may enqueue, but its job runs with its own role: a worker-only function
            # is dead-lettered as forbidden at once, not retried, and never runs.
            await client.enqueue("engine::queue::dlq_topics", {})
            module: QueueModule = node.modules["queue"]
            with anyio.fail_after(DEADLINE_S):
                await module.wait_until(lambda: module.statistics().dead_lettered == 1)
            [dead] = await module.backend.dlq_list("default")
            assert dead.last_error is not None and dead.last_error["code"] == "forbidden" and dead.attempts == 1
            with pytest.raises(InvocationError) as info:
                await client.trigger("iii::queue::redrive", {"queue": "default"})
            assert info.value.code == "forbidden"


async def test_jobs_survive_an_engine_restart(tmp_path: Path) -> None:
    adapter = {"name": "sqlite", "config": {"path": str(tmp_path / "queue.db")}}
    async with Node(node_config(adapter)) as node:
        async with connect(node.url, workers=[], name="producer") as producer:
            receipts = [await producer.enqueue("later::run", {"n": n}) for n in range(3)]
    got: list[dict[str, Any]] = []

    @function("later::run")
    async def run(data: dict[str, Any]) -> None:
        got.append(data)

    async with running(adapter, run) as h:
        await h.until(lambda: h.queue.statistics().succeeded == 3)
    assert sorted(d["_queue"]["message_id"] for d in got) == sorted(receipts)
    assert all(d["_queue"]["attempt"] == 1 for d in got)


# -- durable topics ----------------------------------------------------------------------------


async def test_durable_publish_fans_out_one_copy_per_subscribed_function(adapter: dict[str, Any]) -> None:
    got: dict[str, list[Any]] = {"a": [], "b": []}

    @function("sub::a")
    async def sub_a(data: dict[str, Any]) -> None:
        got["a"].append(data)

    @function("sub::b")
    async def sub_b(data: dict[str, Any]) -> None:
        got["b"].append(data)
        if data["_queue"]["attempt"] == 1:
            raise RuntimeError("b fails once")  # retried on its own: a is not run again

    triggers = [TriggerBinding("durable:subscriber", "sub::a", {"topic": "orders"}),
                TriggerBinding("durable:subscriber", "sub::a", {"topic": "orders"}),  # same function twice
                TriggerBinding("durable:subscriber", "sub::b", {"topic": "orders", "queue_config": FAST})]
    async with running(adapter, sub_a, sub_b, triggers=triggers) as h:
        assert await h.conn.trigger("iii::durable::publish", {"topic": "orders", "data": {"id": 7}}) is None
        await h.until(lambda: h.queue.statistics().succeeded == 2)
        assert [d["id"] for d in got["a"]] == [7]
        assert [(d["id"], d["_queue"]["attempt"]) for d in got["b"]] == [(7, 1), (7, 2)]
        assert got["a"][0]["_queue"]["queue"] == "orders"
        assert got["a"][0]["_queue"]["message_id"] != got["b"][0]["_queue"]["message_id"]
        topics = {t["name"]: t for t in await h.conn.trigger("engine::queue::list_topics")}
        assert topics["orders"] == {"name": "orders", "broker_type": "topic", "subscriber_count": 3}
        assert topics["default"]["broker_type"] == "function_queue"
        # Nobody subscribed: the message is dropped, as in iii.
        await h.conn.trigger("iii::durable::publish", {"topic": "nobody", "data": 1})
        assert (await h.stats("nobody"))["depth"] == 0


async def test_a_topic_subscribers_queue_config_drives_its_dead_letters(adapter: dict[str, Any]) -> None:
    @function("sub::broken")
    async def broken(data: Any) -> None:
        raise RuntimeError("always")

    binding = TriggerBinding("durable:subscriber", "sub::broken", {"topic": "audit", "queue_config": {**FAST, "max_retries": 1}})
    async with running(adapter, broken, triggers=[binding]) as h:
        await h.conn.trigger("iii::durable::publish", {"topic": "audit", "data": {"e": 1}})
        await h.until(lambda: h.queue.statistics().dead_lettered == 1)
        [dead] = (await h.conn.trigger("queue::dlq::list", {"queue": "audit"}))["messages"]
        assert (dead["function_id"], dead["data"], dead["attempts"]) == ("sub::broken", {"e": 1}, 1)
        dlq = {t["topic"]: t["message_count"] for t in await h.conn.trigger("engine::queue::dlq_topics")}
        assert dlq["audit"] == 1 and dlq["default"] == 0


async def test_a_bad_subscriber_config_is_refused(adapter: dict[str, Any]) -> None:
    @function("sub::x")
    async def x(data: Any) -> None: ...

    async with running(adapter, x) as h:
        for config in ({"topic": ""}, {"topic": "t", "queue_config": {"max_retries": -1}}, "t"):
            await h.conn.bind("durable:subscriber", "sub::x", config)
        assert not h.queue.admin.subscribers.get("t")


# -- bad input ---------------------------------------------------------------------------------


async def test_enqueue_without_a_queue_module_is_an_enqueue_error() -> None:
    async with Node(node_config(None)) as node, connect(node.url, workers=[], name="p") as conn:
        with pytest.raises(InvocationError) as info:
            await conn.enqueue("jobs::x", {})
        assert info.value.code == "enqueue_error" and "queue" in str(info.value)


@pytest.mark.parametrize(("queue", "fragment"), [("", "non-empty"), ("   ", "non-empty"), (" q", "whitespace"),
                                                 ("nope", "not configured"), ("x" * 201, "limit")])
async def test_bad_queue_names_are_enqueue_errors(queue: str, fragment: str) -> None:
    async with running({"name": "memory"}) as h:
        with pytest.raises(EnqueueError, match=fragment):  # engine side (our SDK sends "" as "default")
            await h.node.router.enqueue("jobs::x", {}, queue=queue)
        if queue:
            with pytest.raises(InvocationError) as info:  # and over the wire
                await h.conn.enqueue("jobs::x", {}, queue=queue)
            assert info.value.code == "enqueue_error" and fragment in str(info.value)


async def test_payload_limits_and_fifo_group_field_are_checked_at_enqueue() -> None:
    queues = {"default": FAST, "fifo": {**FAST, "type": "fifo", "message_group_field": "account"}}
    async with running({"name": "memory"}, queues=queues) as h:
        with pytest.raises(InvocationError) as info:
            await h.conn.enqueue("jobs::x", {"blob": "x" * (1024 * 1024)})
        assert info.value.code == "enqueue_error" and "max_job_bytes" in str(info.value)
        for payload in ({"other": 1}, {"account": None}, [1, 2]):
            with pytest.raises(InvocationError) as info:
                await h.conn.enqueue("jobs::x", payload, queue="fifo")
            assert info.value.code == "enqueue_error" and "'account'" in str(info.value)
        await h.conn.enqueue("jobs::x", {"account": 42}, queue="fifo")  # any JSON value groups
        assert (await h.stats("fifo"))["depth"] == 1


@pytest.mark.parametrize(("fid", "payload"), [
    ("iii::queue::redrive", {}), ("iii::queue::redrive", {"queue": " "}), ("iii::queue::redrive", [1]),
    ("iii::queue::redrive_message", {"queue": "default"}), ("iii::queue::discard_message", {"queue": "default", "message_id": 3}),
    ("engine::queue::dlq_messages", {"queue": "default", "limit": -1}), ("engine::queue::topic_stats", None),
    ("iii::durable::publish", {"data": 1}),
])
async def test_admin_functions_refuse_bad_arguments(fid: str, payload: Any) -> None:
    async with running({"name": "memory"}) as h:
        with pytest.raises(InvocationError) as info:
            await h.conn.trigger(fid, payload)
        assert info.value.code == "invalid_arguments"
