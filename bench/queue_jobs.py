# ruff: noqa: E402  (sys.path is fixed before the imports; see below)
"""Queue throughput, enqueue to handled: AgentOS (SQLite, then Redis) vs arq vs a plain Redis list.

    .venv/bin/python bench/queue_jobs.py [--jobs 5000] [--concurrency 64] [--redis-url URL]

For each system the script starts a consumer process with a trivial handler (it counts, and
prints ``done`` when it has handled N jobs), waits until it is ready, then times from the first
enqueue to that ``done`` line while this process enqueues N jobs, 256 in flight:

* ``agentos-sqlite`` / ``agentos-redis``: ``python -m engine start`` with the iii-queue module,
  queue ``default`` with ``concurrency`` and the given adapter; our SDK worker process serves the
  handler; our SDK enqueues (``conn.enqueue``, one WebSocket round trip each, the engine
  group-commits the pushes; the receipt comes back once the job is stored).
* ``arq``: an arq worker process (``max_jobs=concurrency``, ``poll_delay=0.05`` s,
  ``keep_result=0``) and ``ArqRedis.enqueue_job``.
* ``redis-list``: ``LPUSH`` from here, one ``BRPOP`` loop in the consumer process: no leases, no
  retries, no durability past Redis itself; the floor any Redis-based queue builds on.

It prints one table: system, jobs/s, ratio vs arq, ratio vs redis-list. ``--only`` picks systems;
``BENCH_PROFILE="-m cProfile -o engine.prof"`` runs the engine under a profiler. The ``--role``
options are how the script runs its own consumer processes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml

READY = re.compile(r"agentos ready bus=(ws://\S+)")
IN_FLIGHT = 256
TIMEOUT_S = 300.0
PROFILE = os.environ["BENCH_PROFILE"].split() if os.environ.get("BENCH_PROFILE") else []


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- consumer processes ------------------------------------------------------------------------


def agentos_worker(url: str, n: int) -> None:
    import anyio

    from workers.sdk import Worker, connect, function

    handled = 0

    @function("bench::noop")
    async def noop(data: Any) -> None:
        nonlocal handled
        handled += 1
        if handled == n:
            say("done")

    async def main() -> None:
        async with connect(url, workers=[Worker("bench", functions=[noop])]) as conn:
            say("ready")
            await conn.serve_forever()

    anyio.run(main)


def arq_worker(redis_url: str, queue: str, n: int, concurrency: int) -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    handled = 0

    async def noop(ctx: dict[str, Any], i: int) -> None:
        nonlocal handled
        handled += 1
        if handled == n:
            say("done")

    async def started(ctx: dict[str, Any]) -> None:
        say("ready")

    worker = Worker([func(noop, name="noop")], queue_name=queue, redis_settings=RedisSettings.from_dsn(redis_url), max_jobs=concurrency,
                    poll_delay=0.05, keep_result=0, on_startup=started, handle_signals=True, log_results=False)
    worker.run()


def list_worker(redis_url: str, key: str, n: int) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    say("ready")
    for _ in range(n):
        client.brpop([key], timeout=0)
    say("done")


# -- the runner --------------------------------------------------------------------------------


class Child:
    def __init__(self, argv: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=(cwd / f"{len(os.listdir(cwd))}.log").open("wb"), text=True,
                                      start_new_session=True)

    def line(self, pattern: str) -> re.Match[str]:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if m := re.search(pattern, line):
                return m
        raise RuntimeError(f"{self.popen.args} exited {self.popen.wait()} before {pattern!r}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


async def timed(consumer: Child, produce: Callable[[], Awaitable[None]], n: int) -> float:
    """Jobs/s from the first enqueue to the consumer's ``done`` line."""
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    done = loop.run_in_executor(None, consumer.line, "^done$")
    await produce()
    await done
    return n / (time.perf_counter() - start)


async def bounded(n: int, one: Callable[[int], Awaitable[Any]]) -> None:
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def run(i: int) -> None:
        async with limit:
            await one(i)

    await asyncio.gather(*(run(i) for i in range(n)))


async def bench_agentos(adapter: dict[str, Any], n: int, concurrency: int, workdir: Path) -> float:
    from workers.sdk import connect

    config = workdir / f"agentos-{adapter['name']}.yaml"
    config.write_text(yaml.safe_dump({
        "engine": {"host": "127.0.0.1", "port": 0},
        "workers": [{"name": "iii-queue", "config": {
            "adapter": adapter, "queue_configs": {"default": {"concurrency": concurrency}}}}],
    }))
    engine = Child([sys.executable, *PROFILE, "-m", "engine", "start", "--config", str(config), "--log-level", "warning"], workdir)
    worker = None
    try:
        url = engine.line(READY.pattern).group(1)
        worker = Child([sys.executable, __file__, "--role", "agentos-worker", url, str(n)], workdir)
        worker.line("^ready$")
        async with connect(url, workers=[], name="bench-producer") as conn:

            async def produce() -> None:
                await bounded(n, lambda i: conn.enqueue("bench::noop", {"i": i}))

            return await timed(worker, produce, n)
    finally:
        for child in (worker, engine):
            if child is not None:
                child.stop()


async def bench_arq(redis_url: str, n: int, concurrency: int, workdir: Path) -> float:
    from arq.connections import RedisSettings, create_pool

    queue = f"bench-arq:{uuid.uuid4().hex}"
    worker = Child([sys.executable, __file__, "--role", "arq-worker", redis_url, queue, str(n), str(concurrency)], workdir)
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
    try:
        worker.line("^ready$")

        async def produce() -> None:
            await bounded(n, lambda i: pool.enqueue_job("noop", i))

        return await timed(worker, produce, n)
    finally:
        worker.stop()
        await pool.delete(queue)
        await pool.aclose()


async def bench_list(redis_url: str, n: int, workdir: Path) -> float:
    from redis.asyncio import Redis

    key = f"bench-list:{uuid.uuid4().hex}"
    worker = Child([sys.executable, __file__, "--role", "list-worker", redis_url, key, str(n)], workdir)
    client = Redis.from_url(redis_url)
    try:
        worker.line("^ready$")

        async def produce() -> None:
            await bounded(n, lambda i: client.lpush(key, str(i)))

        return await timed(worker, produce, n)
    finally:
        worker.stop()
        await client.delete(key)
        await client.aclose()


SYSTEMS = ("agentos-sqlite", "agentos-redis", "arq", "redis-list")


async def run_one(name: str, n: int, concurrency: int, redis_url: str, workdir: Path) -> float:
    if name == "agentos-sqlite":
        sqlite = {"name": "sqlite", "config": {"path": str(workdir / "queue.db")}}
        return await bench_agentos(sqlite, n, concurrency, workdir)
    if name == "arq":
        return await bench_arq(redis_url, n, concurrency, workdir)
    if name == "redis-list":
        return await bench_list(redis_url, n, workdir)
    prefix = f"agentos-bench:{uuid.uuid4().hex}:"
    try:
        return await bench_agentos({"name": "redis", "config": {"url": redis_url, "prefix": prefix}}, n, concurrency, workdir)
    finally:
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url)
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def run_all(systems: list[str], n: int, concurrency: int, redis_url: str) -> list[tuple[str, float]]:
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        for name in systems:
            rate = await asyncio.wait_for(run_one(name, n, concurrency, redis_url, Path(tmp)), TIMEOUT_S)
            sys.stderr.write(f"{name}: {rate:.0f} jobs/s\n")
            results.append((name, rate))
    return results


def table(results: list[tuple[str, float]], n: int, concurrency: int) -> str:
    rates = dict(results)
    lines = [f"queue throughput, enqueue to handled: {n} jobs, concurrency {concurrency}, {IN_FLIGHT} enqueues in flight",
             f"{'system':<16}{'jobs/s':>10}{'vs arq':>10}{'vs redis-list':>15}"]
    for name, rate in results:
        vs = [f"{rate / rates[peer]:.2f}x" if peer in rates else "-" for peer in ("arq", "redis-list")]
        lines.append(f"{name:<16}{rate:>10.0f}{vs[0]:>10}{vs[1]:>15}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    parser.add_argument("--only", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--role", choices=["agentos-worker", "arq-worker", "list-worker"])
    args, rest = parser.parse_known_args()
    if args.role == "agentos-worker":
        agentos_worker(rest[0], int(rest[1]))
    elif args.role == "arq-worker":
        arq_worker(rest[0], rest[1], int(rest[2]), int(rest[3]))
    elif args.role == "list-worker":
        list_worker(rest[0], rest[1], int(rest[2]))
    else:
        results = asyncio.run(run_all(args.only, args.jobs, args.concurrency, args.redis_url))
        say(table(results, args.jobs, args.concurrency))


if __name__ == "__main__":
    main()
