"""WASM sandbox execution cost: ``wasm::execute`` cold and warm, against a fresh ``python -c``.

Workload: the sum of 1,000 integers. The guest is ``workers/wasm_sandbox/examples/sum.wat``
(it parses the JSON array and answers ``{"sum": N}``); the subprocess row runs the same
computation as ``python -c 'import json,sys; print(json.dumps({"sum": sum(json.load(sys.stdin))}))'``
in a fresh interpreter per computation — what a tool that shells out to Python pays.

Rows (one process; the engine, the sandbox worker and the client share one event loop, so the
bus rows include two WebSocket hops on loopback):

* **warm, bus** — ``wasm::execute`` of a validated module through the engine, one in flight;
* **warm, bus, 8 in flight** — the same with 8 concurrent callers (throughput);
* **warm, direct** — the handler called in-process (no bus): the sandbox's own cost (fresh
  Store, limits, instantiate, JSON in/out, a worker thread);
* **cold, bus** — ``wasm::validate`` of a never-seen module (compile) then ``wasm::execute``;
* **python -c** — a fresh interpreter per computation.

Run from the repo root::

    .venv/bin/python bench/wasm_exec.py            # ~30 s
    .venv/bin/python bench/wasm_exec.py --quick    # a smoke run
"""

from __future__ import annotations

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path and os.path.abspath(sys.path[0]) == os.path.join(_ROOT, "bench"):
    sys.path[0] = _ROOT

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

import anyio  # noqa: E402

from bench._procs import emit, format_table, percentile  # noqa: E402
from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from workers.sdk import connect  # noqa: E402
from workers.sdk.testing import FunctionEnvironment  # noqa: E402
from workers.wasm_sandbox import SandboxConfig, WasmSandbox, example  # noqa: E402

NUMBERS = list(range(1, 1001))
EXPECTED = {"sum": sum(NUMBERS)}
PY_SUM = 'import json,sys; print(json.dumps({"sum": sum(json.load(sys.stdin))}))'
CONCURRENCY = 8


class Row:
    def __init__(self, name: str, samples_ns: list[int], wall_s: float, ops: int) -> None:
        self.name, self.samples = name, sorted(samples_ns)
        self.rate = ops / wall_s if wall_s else 0.0

    def p(self, q: float) -> float:
        return percentile(self.samples, q) / 1e6

    def cells(self, base: Row | None) -> list[str]:
        ratio = f"{self.p(50) / base.p(50):.1f}x" if base else "-"
        return [self.name, str(len(self.samples)), f"{self.p(50):.3f}", f"{self.p(99):.3f}",
                f"{self.rate:,.0f}", ratio]


async def timed(name: str, call: Callable[[int], Awaitable[None]], *, count: int | None = None,
                seconds: float | None = None, concurrency: int = 1) -> Row:
    """Run ``call(i)`` ``count`` times or for ``seconds``, ``concurrency`` at once."""
    samples: list[int] = []
    started = time.perf_counter()
    deadline = started + (seconds or 0)
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while (count is not None and issued < count) or (seconds is not None and time.perf_counter() < deadline):
            i = issued
            issued += 1
            t0 = time.perf_counter_ns()
            await call(i)
            samples.append(time.perf_counter_ns() - t0)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return Row(name, samples, time.perf_counter() - started, len(samples))


def fresh_sum_module(i: int) -> str:
    """``sum.wat`` made unique (a different data byte), so its hash misses the cache."""
    return example("sum").replace('(data (i32.const 0) "{\\"sum\\":")',
                                  f'(data (i32.const 0) "{{\\"sum\\":") (data (i32.const 200) "{i}")')


async def bench(quick: bool) -> list[Row]:
    seconds = 1.0 if quick else 5.0
    cold_count = 10 if quick else 60
    py_count = 5 if quick else 30
    payload = {"module_id": "sum", "input": NUMBERS}
    sandbox = WasmSandbox(SandboxConfig(concurrency=2))
    rows: list[Row] = []
    node_config = NodeConfig.model_validate({"engine": {"port": 0}})
    async with Node(node_config) as node, connect(node.url, workers=[sandbox.worker()]), \
            connect(node.url, workers=[], name="bench") as client:
        await client.trigger("wasm::validate", {"module_id": "sum", "wat": example("sum")})

        async def warm(i: int) -> None:
            result = await client.trigger("wasm::execute", payload)
            assert result["output"] == EXPECTED, result

        await timed("warmup", warm, seconds=0.5)
        emit("warm, bus …", err=True)
        rows.append(await timed("wasm::execute warm, bus", warm, seconds=seconds))
        emit(f"warm, bus, {CONCURRENCY} in flight …", err=True)
        rows.append(await timed(f"wasm::execute warm, bus, {CONCURRENCY} in flight", warm,
                                seconds=seconds, concurrency=CONCURRENCY))

        env = FunctionEnvironment(realm=None)
        execute = {f.id: f for f in sandbox.worker().functions}["wasm::execute"]

        async def direct(i: int) -> None:
            result = await env.run(execute, payload)
            assert result["output"] == EXPECTED

        emit("warm, direct …", err=True)
        rows.append(await timed("wasm::execute warm, direct (no bus)", direct, seconds=seconds))

        async def cold(i: int) -> None:
            module_id = f"cold-{i}"
            await client.trigger("wasm::validate", {"module_id": module_id, "wat": fresh_sum_module(i)})
            result = await client.trigger("wasm::execute", {"module_id": module_id, "input": NUMBERS})
            assert result["output"] == EXPECTED

        emit("cold, bus …", err=True)
        rows.append(await timed("validate (compile) + execute, cold, bus", cold, count=cold_count))

    stdin = json.dumps(NUMBERS).encode()

    async def python(i: int) -> None:
        done = await anyio.run_process([sys.executable, "-c", PY_SUM], input=stdin,
                                       stderr=subprocess.DEVNULL)
        assert json.loads(done.stdout) == EXPECTED

    emit("python -c …", err=True)
    rows.append(await timed("fresh subprocess: python -c", python, count=py_count))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    rows = anyio.run(bench, args.quick)
    warm = rows[0]
    headers = ["path (sum of 1,000 ints)", "n", "p50 ms", "p99 ms", "exec/s", "p50 vs warm bus"]
    emit(format_table(headers, [r.cells(warm if r is not warm else None) for r in rows]))
    python, cold, direct = rows[-1], rows[-2], rows[2]
    emit()
    emit(f"python -c / warm bus (p50): {python.p(50) / warm.p(50):.1f}x slower; "
         f"warm throughput / python -c throughput: {warm.rate / python.rate:.0f}x")
    emit(f"python -c / cold (compile + run) (p50): {python.p(50) / cold.p(50):.1f}x; "
         f"bus share of a warm call: {1 - direct.p(50) / warm.p(50):.0%}")


if __name__ == "__main__":
    main()
