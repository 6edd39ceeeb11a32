"""The ``Queue``/``QueueAdmin`` contract, run against every backend; time is driven by ``now``."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from engine.adapters import AdapterClosedError, Job, QueueBackend, QueueStats, SerializationError

if TYPE_CHECKING:
    from conftest import Backend

pytestmark = pytest.mark.anyio

ERR = {"code": "invocation_failed", "message": "boom"}


def job(
    job_id: str, *, queue: str = "q", group: str | None = None, not_before: float = 0.0, **kw: Any
) -> Job:
    return Job(
        id=job_id,
        queue=queue,
        function_id="jobs::run",
        data={"id": job_id},
        group=group,
        enqueued_at=0.0,
        not_before=not_before,
        **kw,
    )


def ids(jobs: list[Job]) -> list[str]:
    return [j.id for j in jobs]


async def test_push_reserve_ack(backend: Backend) -> None:
    q = await backend.open_queue()
    full = job(
        "a",
        max_retries=7,
        idempotency_key="idem",
        namespace="ns",
        realm="r1",
        metadata={"traceparent": "00-x"},
    )
    await q.push(full)
    await q.push_many([job("b"), job("c")])
    got = await q.reserve("q", limit=10, lease_s=30, now=1)
    assert sorted(ids(got)) == ["a", "b", "c"]
    assert {j.attempts for j in got} == {1}
    first = next(j for j in got if j.id == "a")
    assert first == Job(**(full.to_dict() | {"attempts": 1}))
    assert await q.reserve("q", limit=10, lease_s=30, now=2) == []
    assert await q.queues() == ["q"]
    for j in got:
        await q.ack("q", j.id)
    await q.ack("q", "unknown")  # no-op
    assert await q.stats("q", now=2) == QueueStats(0, 0, 0, 0)
    assert await q.queues() == []


async def test_push_is_idempotent_on_id(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push(job("a"))
    await q.push_many([job("a"), job("b"), job("b")])
    assert sorted(ids(await q.reserve("q", limit=10, lease_s=5, now=0))) == ["a", "b"]


async def test_push_refuses_non_json_data(backend: Backend) -> None:
    q = await backend.open_queue()
    with pytest.raises(SerializationError):
        await q.push(Job(id="x", queue="q", function_id="f", data=object()))
    assert await q.queues() == []


async def test_reserve_validates_arguments(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push(job("a"))
    with pytest.raises(ValueError):
        await q.reserve("q", limit=1, lease_s=0, now=0)
    with pytest.raises(ValueError):
        await q.reserve("q", limit=-1, lease_s=1, now=0)
    assert await q.reserve("q", limit=0, lease_s=1, now=0) == []
    assert await q.reserve("other", limit=5, lease_s=1, now=0) == []


async def test_not_before_delays_a_job(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push(job("later", not_before=5))
    assert await q.reserve("q", limit=1, lease_s=1, now=4.999) == []
    assert ids(await q.reserve("q", limit=1, lease_s=1, now=5)) == ["later"]


async def test_expired_lease_is_reclaimed(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push(job("a"))
    assert [j.attempts for j in await q.reserve("q", limit=1, lease_s=10, now=0)] == [1]
    assert await q.reserve("q", limit=1, lease_s=10, now=9.5) == []
    reclaimed = await q.reserve("q", limit=1, lease_s=10, now=10)
    assert ids(reclaimed) == ["a"]
    assert reclaimed[0].attempts == 2


async def test_retry_releases_the_lease_until_not_before(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push(job("a"))
    await q.reserve("q", limit=1, lease_s=100, now=0)
    await q.retry("q", "a", not_before=20, error=ERR)
    await q.retry("q", "unknown", not_before=20, error=ERR)  # no-op
    assert await q.stats("q", now=1) == QueueStats(ready=0, leased=0, delayed=1, dead=0)
    assert await q.reserve("q", limit=1, lease_s=100, now=19) == []
    (again,) = await q.reserve("q", limit=1, lease_s=100, now=20)
    assert (again.id, again.attempts, again.not_before, again.last_error) == ("a", 2, 20, ERR)


async def test_dead_letter_redrive_discard(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push_many([job("a"), job("b"), job("c")])
    await q.reserve("q", limit=3, lease_s=10, now=0)
    await q.dead_letter("q", "b", error=ERR)
    await q.dead_letter("q", "a", error={"code": "timeout"})
    await q.dead_letter("q", "unknown", error=ERR)  # no-op
    assert await q.stats("q", now=1) == QueueStats(ready=0, leased=1, delayed=0, dead=2)
    dead = await q.dlq_list("q")
    assert ids(dead) == ["b", "a"]
    assert (dead[0].attempts, dead[0].last_error, dead[0].data) == (1, ERR, {"id": "b"})
    assert ids(await q.dlq_list("q", limit=1)) == ["b"]
    await q.push(job("b"))  # an id in the DLQ is not pushed twice
    assert await q.reserve("q", limit=5, lease_s=10, now=1) == []

    assert await q.redrive("q", "a") == 1
    assert await q.redrive("q", "a") == 0
    (back,) = await q.reserve("q", limit=5, lease_s=10, now=1)
    assert (back.id, back.attempts, back.not_before) == ("a", 1, 0.0)

    await q.dead_letter("q", "a", error=ERR)
    assert await q.discard("q", "a") is True
    assert await q.discard("q", "a") is False
    assert await q.redrive("q") == 1
    assert ids(await q.reserve("q", limit=5, lease_s=10, now=1)) == ["b"]
    assert await q.dlq_list("q") == []
    assert await q.redrive("q") == 0


async def test_fifo_groups_are_ordered_and_exclusive(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push_many(
        [job("a1", group="a"), job("b1", group="b"), job("a2", group="a"), job("n1")]
        + [job("a3", group="a"), job("b2", group="b"), job("n2")]
    )
    first = await q.reserve("q", limit=10, lease_s=10, now=0, fifo=True)
    assert sorted(ids(first)) == ["a1", "b1", "n1"]
    assert await q.reserve("q", limit=10, lease_s=10, now=1, fifo=True) == []

    await q.ack("q", "a1")
    await q.retry("q", "b1", not_before=50, error=ERR)  # b waits for b1: b2 must not overtake
    assert ids(await q.reserve("q", limit=10, lease_s=10, now=2, fifo=True)) == ["a2"]
    assert await q.reserve("q", limit=10, lease_s=10, now=3, fifo=True) == []

    # n1's lease expires: n1 comes back, never n2 before it.
    assert ids(await q.reserve("q", limit=10, lease_s=10, now=10, fifo=True)) == ["n1"]
    await q.dead_letter("q", "a2", error=ERR)  # a dead head unblocks its group
    assert ids(await q.reserve("q", limit=10, lease_s=10, now=11, fifo=True)) == ["a3"]
    await q.ack("q", "n1")
    assert ids(await q.reserve("q", limit=10, lease_s=10, now=12, fifo=True)) == ["n2"]
    await q.ack("q", "a3")
    await q.ack("q", "n2")
    (b1,) = await q.reserve("q", limit=10, lease_s=10, now=50, fifo=True)
    assert (b1.id, b1.attempts) == ("b1", 2)
    await q.ack("q", "b1")
    assert ids(await q.reserve("q", limit=10, lease_s=10, now=51, fifo=True)) == ["b2"]


async def test_fifo_limit_takes_one_job_per_group(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push_many([job(f"{g}{i}", group=g) for i in range(3) for g in "abcd"])
    got = await q.reserve("q", limit=2, lease_s=10, now=0, fifo=True)
    assert len(got) == 2
    assert all(j.id.endswith("0") for j in got)
    rest = await q.reserve("q", limit=10, lease_s=10, now=0, fifo=True)
    assert sorted(ids(got + rest)) == ["a0", "b0", "c0", "d0"]


async def test_stats_and_queues(backend: Backend) -> None:
    q = await backend.open_queue()
    await q.push_many([job("r1"), job("r2"), job("d", not_before=100), job("l")])
    await q.push(job("x", queue="other"))
    await q.reserve("q", limit=1, lease_s=10, now=0)
    await q.reserve("other", limit=1, lease_s=10, now=0)
    await q.dead_letter("other", "x", error=ERR)
    assert await q.stats("q", now=5) == QueueStats(ready=2, leased=1, delayed=1, dead=0)
    assert await q.stats("q", now=10) == QueueStats(ready=3, leased=0, delayed=1, dead=0)
    assert await q.stats("other", now=5) == QueueStats(0, 0, 0, 1)
    assert await q.stats("none", now=5) == QueueStats(0, 0, 0, 0)
    assert await q.queues() == ["other", "q"]
    await q.discard("other", "x")
    assert await q.queues() == ["q"]


async def test_jobs_survive_close_and_reopen(backend: Backend) -> None:
    if not backend.durable:
        pytest.skip("memory storage does not outlive its instance")
    q = await backend.open_queue()
    await q.push_many([job("a"), job("b", group="g"), job("c")])
    await q.reserve("q", limit=1, lease_s=10, now=0)  # a is leased when we "crash"
    await q.dead_letter("q", "c", error=ERR)
    await q.close()
    with pytest.raises(AdapterClosedError):
        await q.reserve("q", limit=1, lease_s=10, now=0)
    again = await backend.open_queue()
    assert await again.stats("q", now=1) == QueueStats(ready=1, leased=1, delayed=0, dead=1)
    got = await again.reserve("q", limit=5, lease_s=10, now=10)
    assert sorted((j.id, j.attempts) for j in got) == [("a", 2), ("b", 1)]
    assert ids(await again.dlq_list("q")) == ["c"]


async def _drain(q: QueueBackend, seen: list[str], now: float) -> None:
    while batch := await q.reserve("bulk", limit=100, lease_s=60, now=now):
        assert len(batch) <= 100
        seen.extend(ids(batch))
        await anyio.lowlevel.checkpoint()


async def test_1000_jobs_no_loss_no_duplicates(backend: Backend) -> None:
    first, second = await backend.open_queue(), await backend.open_queue()
    await first.push_many([job(f"j{i:04}", queue="bulk") for i in range(1000)])
    seen: list[str] = []
    async with anyio.create_task_group() as tg:  # 4 competing consumers on 2 connections
        for consumer in (first, second, first, second):
            tg.start_soon(_drain, consumer, seen, 1.0)
    assert len(seen) == 1000
    assert Counter(seen).most_common(1)[0][1] == 1
    assert await first.stats("bulk", now=2) == QueueStats(ready=0, leased=1000, delayed=0, dead=0)
    await second.ack_many("bulk", seen[:990] + ["unknown"])
    for job_id in seen[990:]:
        await first.ack("bulk", job_id)
    assert await first.stats("bulk", now=100) == QueueStats(0, 0, 0, 0)
    assert await first.queues() == []
