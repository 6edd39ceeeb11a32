"""Queue durability across ``kill -9``: the engine as a process, a worker process, many jobs.

* SQLite: enqueue 10,000 jobs, kill -9 the engine once some (not all) are done, restart it on the
  same port; the worker reconnects by itself and every job completes.
* Redis: two engine processes share one Redis, one worker per engine; kill -9 one engine mid-way;
  the survivor reclaims the dead engine's leased jobs once their (2 s) leases expire and every
  job completes. 10,000 jobs in each scenario; each takes 10-20 s on two cores.

The worker records each job's idempotency key (one ``O_APPEND`` write per job) and the test polls
that record with a deadline. Delivery is at-least-once: duplicates may appear (a job that ran but
whose ack died with the engine) and are recognisable by key; none may be missing. To be sure the
kill lands mid-way, handlers take 20 ms each until the test tells the worker to go fast after the
kill (``SIGUSR1``). This file is also the worker: ``python test_queue_durability.py URL RECORD NAME``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # when run as the worker script
    sys.path.insert(0, str(REPO))

from workers.sdk import Backoff, Worker, connect, function  # noqa: E402

PYTHON = sys.executable
READY = re.compile(r"agentos ready bus=(ws://\S+)")
FID = "dur::record"
SLOW_S = 0.02
DEADLINE_S = 60.0
RECONNECT = Backoff(initial=0.05, maximum=0.5)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


# -- the worker process ------------------------------------------------------------------------


def worker_main(url: str, record: str, name: str) -> None:
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    fast = anyio.Event()

    @function(FID)
    async def handle(data: dict[str, Any]) -> None:
        if not fast.is_set():
            await anyio.sleep(SLOW_S)
        info = data["_queue"]
        os.write(fd, f"{info['idempotency_key']} {info['attempt']}\n".encode())

    async def go_fast(signals: Any) -> None:
        async for _ in signals:
            fast.set()
            return

    async def main() -> None:
        with anyio.open_signal_receiver(signal.SIGUSR1) as signals:  # before "ready": never missed
            async with anyio.create_task_group() as tg:
                tg.start_soon(go_fast, signals)
                async with connect(url, workers=[Worker(name, functions=[handle])], reconnect=RECONNECT) as conn:
                    sys.stdout.write("ready\n")
                    sys.stdout.flush()
                    await conn.serve_forever()

    anyio.run(main)


# -- processes ---------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """A child process in its own session; ``wait_line`` reads stdout up to a matching line."""

    def __init__(self, argv: list[str], log: Path, cwd: Path) -> None:
        self.log = log
        with log.open("ab") as err:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                          env=_env(), cwd=cwd, text=True, start_new_session=True)

    def wait_line(self, pattern: re.Pattern[str]) -> re.Match[str]:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:  # pytest-timeout bounds a child that never says it
            if m := pattern.search(line):
                return m
        pytest.fail(f"{self.popen.args} exited {self.popen.wait()} before {pattern.pattern!r}:\n"
                    f"{self.log.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(15)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


class Engine:
    def __init__(self, workdir: Path, name: str, port: int, queue: dict[str, Any]) -> None:
        self.workdir, self.name = workdir, name
        self.config = workdir / f"{name}.yaml"
        self.config.write_text(yaml.safe_dump({
            "engine": {"host": "127.0.0.1", "port": port, "registration_namespace_grace_ms": 100},
            "workers": [{"name": "iii-queue", "config": queue}],
        }))
        self.child: Child | None = None
        self.url = ""

    def start(self) -> Engine:
        argv = [PYTHON, "-m", "engine", "start", "--config", str(self.config), "--log-level", "warning"]
        self.child = Child(argv, self.workdir / f"{self.name}.log", self.workdir)
        self.url = self.child.wait_line(READY).group(1)
        return self


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def start_engine(children: list[Child], engine: Engine) -> Engine:
    engine.start()
    assert engine.child is not None
    children.append(engine.child)
    return engine


def start_worker(children: list[Child], url: str, record: Path, name: str, workdir: Path) -> Child:
    argv = [PYTHON, __file__, url, str(record), name]
    child = Child(argv, workdir / f"{name}.log", workdir)
    children.append(child)
    child.wait_line(re.compile("^ready$"))
    return child


def go_fast(worker: Child) -> None:
    """Tell a worker to stop taking 20 ms per job (SIGUSR1)."""
    worker.popen.send_signal(signal.SIGUSR1)


def settings(lease_ms: int) -> dict[str, Any]:
    return {"concurrency": 16, "lease_ms": lease_ms, "backoff_ms": 100, "max_retries": 20, "poll_interval_ms": 50}


# -- the test's side -------------------------------------------------------------------------


async def enqueue_all(url: str, keys: list[str]) -> None:
    """Enqueue one job per key, 256 at a time; returns once every receipt is in."""
    async with connect(url, workers=[], name=f"producer-{uuid.uuid4().hex[:6]}") as conn:
        limit = anyio.Semaphore(256)

        async def one(key: str) -> None:
            async with limit:
                await conn.enqueue(FID, {"idempotency_key": key})

        async with anyio.create_task_group() as tg:
            for key in keys:
                tg.start_soon(one, key)


def recorded(record: Path) -> list[str]:
    if not record.exists():
        return []
    return [line.split(" ", 1)[0] for line in record.read_text().splitlines() if line]


async def wait_recorded(record: Path, at_least: int, deadline_s: float = DEADLINE_S) -> list[str]:
    """Poll the worker's record (the brief's bounded wait) until ``at_least`` distinct keys."""
    deadline = time.monotonic() + deadline_s
    while True:
        keys = recorded(record)
        if len(set(keys)) >= at_least:
            return keys
        if time.monotonic() > deadline:
            pytest.fail(f"only {len(set(keys))} of {at_least} jobs recorded within {deadline_s}s")
        await anyio.sleep(0.05)


async def wait_drained(url: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll ``topic_stats`` until nothing is left: duplicates of jobs whose ack died with an
    engine are still leased to it until their leases expire, then run once more."""
    deadline = time.monotonic() + deadline_s
    async with connect(url, workers=[], name=f"admin-{uuid.uuid4().hex[:6]}") as conn:
        while True:
            stats = await conn.trigger("engine::queue::topic_stats", {"queue": "default"})
            assert stats["dead"] == 0, stats
            if stats["depth"] == 0:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"the queue never drained: {stats}")
            await anyio.sleep(0.05)


def assert_complete(keys: list[str], expected: list[str]) -> int:
    """Every key is there (none lost); returns the number of duplicate deliveries."""
    missing = set(expected) - set(keys)
    assert not missing, f"{len(missing)} job(s) lost, e.g. {sorted(missing)[:5]}"
    assert set(keys) == set(expected)
    return sum(n - 1 for n in Counter(keys).values())


# -- scenarios ---------------------------------------------------------------------------------


async def test_sqlite_queue_survives_kill_9_of_the_engine(tmp_path: Path, children: list[Child]) -> None:
    n = 10_000
    record = tmp_path / "record.txt"
    queue = {"adapter": {"name": "sqlite", "config": {"path": str(tmp_path / "queue.db")}},
             "queue_configs": {"default": settings(lease_ms=3000)}}
    engine = start_engine(children, Engine(tmp_path, "engine", free_port(), queue))
    worker = start_worker(children, engine.url, record, "dur", tmp_path)
    keys = [f"k{i}" for i in range(n)]

    await enqueue_all(engine.url, keys)
    before = len(set(recorded(record)))
    await wait_recorded(record, before + 100)
    assert engine.child is not None
    engine.child.kill()  # kill -9, mid-way
    done_at_kill = len(set(recorded(record)))
    assert 0 < done_at_kill < n, f"the kill did not land mid-way ({done_at_kill} of {n} done)"

    go_fast(worker)
    url = engine.url
    start_engine(children, engine)
    assert engine.url == url
    got = await wait_recorded(record, n)
    duplicates = assert_complete(got, keys)
    await wait_drained(engine.url)
    print(f"\nsqlite: killed at {done_at_kill}/{n}; {duplicates} duplicate deliveries")  # noqa: T201


@pytest.mark.redis
async def test_redis_queue_survives_kill_9_of_one_of_two_engines(tmp_path: Path, children: list[Child]) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answering at {REDIS_URL}: {exc}")
    prefix = f"agentos-dur:{uuid.uuid4().hex}:"
    try:
        n = 10_000
        record = tmp_path / "record.txt"
        queue = {"adapter": {"name": "redis", "config": {"url": REDIS_URL, "prefix": prefix}},
                 "queue_configs": {"default": settings(lease_ms=2000)}}
        doomed = start_engine(children, Engine(tmp_path, "engine-a", free_port(), queue))
        survivor = start_engine(children, Engine(tmp_path, "engine-b", free_port(), queue))
        start_worker(children, doomed.url, record, "dur-a", tmp_path)
        worker = start_worker(children, survivor.url, record, "dur-b", tmp_path)
        keys = [f"r{i}" for i in range(n)]

        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:  # half through each engine
                tg.start_soon(enqueue_all, doomed.url, keys[: n // 2])
                tg.start_soon(enqueue_all, survivor.url, keys[n // 2 :])
        before = len(set(recorded(record)))
        await wait_recorded(record, before + 100)
        assert doomed.child is not None
        doomed.child.kill()
        done_at_kill = len(set(recorded(record)))
        assert 0 < done_at_kill < n, f"the kill did not land mid-way ({done_at_kill} of {n} done)"

        go_fast(worker)
        got = await wait_recorded(record, n)
        duplicates = assert_complete(got, keys)
        await wait_drained(survivor.url)
        print(f"\nredis: killed one engine at {done_at_kill}/{n}; {duplicates} duplicate deliveries")  # noqa: T201
    finally:
        keys_left = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys_left:
            client.delete(*keys_left)
        client.close()


if __name__ == "__main__":
    worker_main(*sys.argv[1:4])
