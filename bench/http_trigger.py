"""HTTP benchmark: an ``http``-triggered function on our :3111 next to a bare ASGI app.

    python bench/http.py [--duration 5] [--rounds 3] [--connections 32] [--client auto|wrk|python]

Three targets, one client (``wrk`` when installed, else a small asyncio keep-alive client in its
own process), the same concurrency, one run. The targets are measured in interleaved rounds and
each figure is the median over the rounds, so a noisy (shared) machine skews them all alike:

* ``bare ASGI``       the same uvicorn settings as the module (``server_config``, uvloop), an app
                      that parses the JSON body and answers ``{"echo": body}``;
* ``iii-http → local`` the engine process routing to a built-in function (no worker hop);
* ``iii-http → worker`` the engine process routing to a function in a separate worker process
                      (our SDK) that answers ``{"body": {"echo": body}}``: the real path.

It prints requests/s, p50 and p99 per target and the ratio to the bare app (our overhead), then
what the per-request data channels cost (the module always creates two). Processes started here
are stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BODY = json.dumps({"msg": "hello", "n": 42, "tags": ["a", "b"]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the roles run as child processes -------------------------------------------------------------

async def _bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = json.dumps({"echo": json.loads(body)}, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


def run_bare(port: int) -> None:
    import anyio

    from engine.modules.http import AsgiServer, bind_socket, server_config

    async def serve() -> None:
        server = AsgiServer(server_config(_bare_app), lambda: print("ready", flush=True))  # noqa: T201
        await server.serve(sockets=[bind_socket("127.0.0.1", port)])

    anyio.run(serve, backend_options={"use_uvloop": True})


def run_worker(url: str) -> None:
    import anyio

    from workers.sdk import Worker, connect, function

    @function("bench::echo")
    async def echo(data: dict[str, Any]) -> dict[str, Any]:
        return {"body": {"echo": data["body"]}}

    async def serve() -> None:
        async with connect(url, workers=[Worker("bench", functions=[echo])]) as conn:
            await conn.bind("http", "bench::echo", {"api_path": "echo", "http_method": "POST"})
            await conn.bind("http", "engine::health::check", {"api_path": "local", "http_method": "POST"})
            await conn.trigger("engine::health::check")
            print("ready", flush=True)  # noqa: T201
            await conn.serve_forever()

    anyio.run(serve, backend_options={"use_uvloop": True})


def run_client(url: str, connections: int, duration: float) -> None:
    """A minimal HTTP/1.1 keep-alive load generator; prints one JSON line of results."""
    host, port, path = re.match(r"http://([^:/]+):(\d+)(/.*)", url).groups()  # type: ignore[union-attr]
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(BODY)}\r\n\r\n{BODY}").encode()
    latencies: list[float] = []
    errors = 0

    async def one(deadline: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            errors += not head.startswith(b"HTTP/1.1 200")
        writer.close()

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(one(start + duration) for _ in range(connections)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()
    print(json.dumps({"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,  # noqa: T201
                      "p99": latencies[int(len(latencies) * 0.99)] * 1000, "errors": errors}))


# -- the driver ----------------------------------------------------------------------------------------

def _spawn(args: list[str], ready: str, workdir: Path, name: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=(workdir / f"{name}.log").open("w"), text=True,
                            env=env, cwd=workdir, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if ready in line:
            return proc, line.strip()
    raise SystemExit(f"{name} exited before it was ready:\n{(workdir / f'{name}.log').read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wrk(url: str, connections: int, duration: float, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"
    script.write_text(f"wrk.method = 'POST'\nwrk.body = '{BODY}'\nwrk.headers['Content-Type'] = 'application/json'\n")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50": ms("50%"), "p99": ms("99%"), "errors": float(errors.group(1)) if errors else 0.0}


def _python_client(url: str, connections: int, duration: float, workdir: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--role", "client", "--url", url, "--connections", str(connections),
                          "--duration", str(duration)], capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def channel_cost(requests: int = 20_000) -> float:
    """Microseconds per request for the two channels the module creates and drops."""
    import anyio

    from engine.config import NodeConfig
    from engine.node import Node

    async def measure() -> float:
        async with Node(NodeConfig.model_validate({"engine": {"port": 0}})) as node:
            hub = node.modules["channels"]
            start = time.perf_counter()
            for _ in range(requests):
                req, res = hub.create(1), hub.create(64)
                await req.close()
                req.ref("read"), res.ref("write")
                hub.channels.pop(req.id), hub.channels.pop(res.id)
                await req.aclose()
                await res.aclose()
            return (time.perf_counter() - start) / requests * 1e6

    return anyio.run(measure)


def drive(duration: float, rounds: int, connections: int, client: str) -> None:
    use_wrk = client == "wrk" or (client == "auto" and shutil.which("wrk") is not None)
    measure = _wrk if use_wrk else _python_client
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        workdir = Path(tmp)
        bus, http_port, bare_port = free_port(), free_port(), free_port()
        (workdir / "config.yaml").write_text(json.dumps({
            "engine": {"host": "127.0.0.1", "port": bus}, "data_dir": str(workdir / "data"), "processes": [],
            "workers": [{"name": "iii-http", "config": {"host": "127.0.0.1", "port": http_port}}]}))
        try:
            engine, _ = _spawn([sys.executable, "-m", "engine", "start", "--config", "config.yaml", "--log-level", "warning"],
                               "agentos ready", workdir, "engine")
            procs.append(engine)
            worker, _ = _spawn([sys.executable, __file__, "--role", "worker", "--url", f"ws://127.0.0.1:{bus}"], "ready", workdir, "worker")
            procs.append(worker)
            bare, _ = _spawn([sys.executable, __file__, "--role", "bare", "--port", str(bare_port)], "ready", workdir, "bare")
            procs.append(bare)
            targets = [("bare ASGI (same uvicorn config)", f"http://127.0.0.1:{bare_port}/echo"),
                       ("iii-http -> built-in function", f"http://127.0.0.1:{http_port}/local"),
                       ("iii-http -> worker process (SDK)", f"http://127.0.0.1:{http_port}/echo")]
            for _, url in targets:
                measure(url, connections, 1.0, workdir)  # warm up
            rounds_out: dict[str, list[dict[str, float]]] = {name: [] for name, _ in targets}
            for _ in range(rounds):
                for name, url in targets:
                    rounds_out[name].append(measure(url, connections, duration, workdir))
            results = [(name, {key: statistics.median(r[key] for r in runs) for key in runs[0]})
                       for name, runs in rounds_out.items()]
        finally:
            for proc in reversed(procs):
                _stop(proc)
    base = results[0][1]["rps"]
    lines = [f"client: {'wrk -t1' if use_wrk else 'asyncio keep-alive client'}, {connections} connections, "
             f"median of {rounds} interleaved {duration:g}s rounds, POST {len(BODY)}-byte JSON echo, {os.cpu_count()} CPUs",
             f"{'target':<36}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs bare':>9}"]
    for name, r in results:
        lines.append(f"{name:<36}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>8.0f}{base / r['rps']:>8.2f}x")
    cost = channel_cost()
    worker_rps = results[2][1]["rps"]
    lines.append(f"two data channels per request: {cost:.1f} µs = {cost * worker_rps / 1e6 * 100:.1f}% of one core's "
                 f"time at {worker_rps:.0f} req/s")
    print("\n".join(lines))  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=["drive", "bare", "worker", "client"], default="drive")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    if args.role == "bare":
        run_bare(args.port)
    elif args.role == "worker":
        run_worker(args.url)
    elif args.role == "client":
        run_client(args.url, args.connections, args.duration)
    else:
        drive(args.duration, args.rounds, args.connections, args.client)


if __name__ == "__main__":
    main()
