"""Gateway benchmark: our /v1/chat/completions next to a LiteLLM proxy, over the same fake upstream.

    python bench/gateway.py [--duration 5] [--rounds 3] [--connections 32] [--agent-turns 40] [--quick]

One run, three targets, each a ``POST /v1/chat/completions`` (model ``default``) answered by the
same instant fake upstream (``tests.fakes.FakeUpstream``, its own process):

* ``upstream``  the fake itself, called directly: the baseline;
* ``agentos``   ``python -m engine start --config <tmp>/config.yaml``, whose supervisor starts the
                llm-router, api and agent-core workers (and a tools worker) as separate processes:
                client → iii-http → api worker → llm::complete (llm-router, litellm) → upstream;
* ``litellm``   ``litellm --config proxy.yaml --port P`` (one process) with a ``model_list`` entry
                pointing at the fake.

Each round measures every target twice with ``wrk -t1`` (keep-alive): one connection
(``--duration`` s) for latency, then ``--connections`` connections for requests/s. Targets
alternate within a round and figures are medians over rounds, so machine noise hits all alike.
*Added latency* is a target's percentile minus the upstream's (a difference of percentiles). The
same is done for ``stream: true``. Then ``--agent-turns`` sequential ``agent:default`` turns with
one tool call each (two model calls and one tool call), against two sequential direct upstream
calls.

Both gateways check a Bearer key (an engine client token; LiteLLM's master key) and log at
warning level.
``--asyncio-workers`` starts the workers through this script on plain asyncio instead of
``python -m workers.<name>`` (uvloop), for when the SDK misbehaves under uvloop.

LiteLLM's proxy extra pins older versions of packages the engine uses (it would downgrade
websockets 17 → 15 and rich), so it lives in its own virtualenv, ``.venv/litellm-proxy``
(git-ignored): created on first use with ``pip install 'litellm[proxy]'``, or pass
``--litellm PATH`` to a ``litellm`` executable. Every process started here is stopped here, on
errors and Ctrl-C too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._procs import Procs, emit, format_table, free_port, percentile, signals_unwind  # noqa: E402

PROXY_VENV = REPO / ".venv" / "litellm-proxy"
TOOL_ID = "bench::lookup"
TOOL_NAME = "bench__lookup"  # agent-core's name for TOOL_ID (``::`` → ``__``)
API_KEY = "sk-bench-key"
"""Both gateways check it: an engine client token for ours, the master key for LiteLLM's."""
MESSAGES = [{"role": "user", "content": "Say hello."}]
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}


# -- child roles ---------------------------------------------------------------------------------

def run_upstream(agent_turns: int) -> None:
    """The fake upstream; with ``agent_turns``, scripted for that many tool-call turns."""
    import anyio

    from tests.fakes import FakeUpstream, Text, ToolCall, ToolCalls

    async def serve() -> None:
        async with FakeUpstream() as fake:
            for n in range(agent_turns):
                fake.script(ToolCalls([ToolCall(f"call_{n}", TOOL_NAME, '{"q": "x"}')]), Text("Found it."))
            emit(f"ready port={fake.port}")
            await anyio.sleep_forever()

    anyio.run(serve, backend_options={"use_uvloop": True})


def tools_worker() -> Any:
    """The tools worker of the agent turn."""
    from workers.sdk import Worker, function

    @function(TOOL_ID, description="Look something up", request_format={"type": "object", "properties": {"q": {"type": "string"}}})
    async def lookup(data: dict[str, Any]) -> dict[str, Any]:
        return {"q": data.get("q"), "answer": 42}

    return Worker("bench-tools", functions=[lookup])


def run_worker(name: str, uvloop: bool) -> None:
    """Serve one worker (started by the engine's supervisor), with or without uvloop."""
    import anyio

    from workers.sdk import run, serve

    if name == "llm-router":
        from workers.llm_router import LlmRouter, load_config

        workers = [anyio.run(LlmRouter.start, load_config()).worker()]
    elif name == "api":
        from workers.api import build_worker

        workers = [build_worker()]
    elif name == "agent-core":
        from workers.agent_core import build_worker as build_agent_core

        workers = [build_agent_core()]
    else:
        workers = [tools_worker()]
    if uvloop:
        run(workers)
    else:
        anyio.run(serve, workers)


# -- measuring -----------------------------------------------------------------------------------

def _wrk(url: str, body: dict[str, Any], connections: int, duration: float, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"
    script.write_text("wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
                      f"wrk.headers['Authorization'] = 'Bearer {API_KEY}'\nwrk.body = [[{json.dumps(body)}]]\n")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
                          "--latency", "-s", str(script), url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    if "Latency Distribution" not in out:
        raise RuntimeError(f"{url}: no request completed:\n{out}")
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50": ms("50%"), "p99": ms("99%"), "errors": float(errors)}


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import httpx

    response = httpx.post(url, json=body, headers={"authorization": f"Bearer {API_KEY}"}, timeout=60)
    if response.status_code >= 300:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
    return dict(response.json())


def _wait_http(url: str, ok: Any, timeout: float = 60.0) -> None:
    """Poll ``url`` until ``ok(response)`` (start-up only: workers register after the engine)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, timeout=2, headers={"authorization": f"Bearer {API_KEY}"})
            if ok(response):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            last = ""
            try:
                last = httpx.get(url, timeout=2).text[:300]
            except httpx.HTTPError as exc:
                last = str(exc)
            raise RuntimeError(f"{url} did not become ready in {timeout:.0f}s (last answer: {last})")
        time.sleep(0.2)


def _turns(url: str, body: dict[str, Any], count: int, calls_per_turn: int = 1) -> list[float]:
    import httpx

    times = []
    with httpx.Client(headers={"authorization": f"Bearer {API_KEY}"}, timeout=60) as client:
        for _ in range(count):
            start = time.perf_counter()
            for _ in range(calls_per_turn):
                response = client.post(url, json=body)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
            times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


# -- the stacks ----------------------------------------------------------------------------------

def _process(name: str, module: str, env: dict[str, str], asyncio_workers: bool) -> str:
    """A ``processes:`` entry: ``python -m module`` as shipped, or this script's launcher on plain
    asyncio (``--asyncio-workers``, for an SDK that misbehaves under uvloop)."""
    spec: dict[str, Any] = {"name": name, "env": env}
    if asyncio_workers or module == "tools":
        args = [sys.executable, str(Path(__file__).resolve()), "--role", "worker", "--worker", name]
        spec["command"] = args + ([] if asyncio_workers else ["--uvloop"])
    else:
        spec["module"] = module
    return "  - " + json.dumps(spec)


def _node_config(workdir: Path, upstream: int, agent_upstream: int, asyncio_workers: bool) -> tuple[Path, int]:
    llm = workdir / "llm.yaml"
    entry = "{model: openai/gpt-4o-mini, api_base: 'http://127.0.0.1:%d/v1', api_key: sk-fake, max_retries: 0}"
    llm.write_text(f"aliases:\n  default: [{entry % upstream}]\n  agentic: [{entry % agent_upstream}]\n"
                   "ollama: {autodetect: false}\n")
    http_port = free_port()
    processes = "\n".join([
        _process("llm-router", "workers.llm_router", {"AGENTOS_LLM_CONFIG": str(llm)}, asyncio_workers),
        _process("api", "workers.api", {"AGENTOS_API_RATE_LIMIT": "100000000"}, asyncio_workers),
        _process("agent-core", "workers.agent_core", {}, asyncio_workers),
        _process("tools", "tools", {}, asyncio_workers)])
    config = workdir / "config.yaml"
    config.write_text(f"""
engine:
  host: 127.0.0.1
  port: {free_port()}
  auth: {{tokens: [{{token: t-bench-worker, role: worker}}, {{token: {API_KEY}, role: client}}]}}
workers:
  - {{name: iii-http, config: {{host: 127.0.0.1, port: {http_port}, default_timeout: 60000}}}}
  - {{name: iii-state, config: {{adapter: {{name: memory}}}}}}
  - {{name: iii-pubsub, config: {{}}}}
processes:
{processes}
""")
    return config, http_port


def _litellm_bin(explicit: str | None) -> str:
    if explicit:
        return explicit
    binary = PROXY_VENV / "bin" / "litellm"
    if not binary.exists():
        emit(f"creating {PROXY_VENV} with litellm[proxy] (once)…", err=True)
        subprocess.run([sys.executable, "-m", "venv", str(PROXY_VENV)], check=True)
        subprocess.run([str(PROXY_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    return str(binary)


def _proxy_log_config(workdir: Path) -> Path:
    """Quiet uvicorn's per-request access log, as our engine runs at ``--log-level warning``."""
    path = workdir / "proxy-logging.json"
    path.write_text(json.dumps({"version": 1, "disable_existing_loggers": False, "loggers": {
        "uvicorn": {"level": "WARNING"}, "uvicorn.access": {"level": "WARNING"},
        "uvicorn.error": {"level": "WARNING"}}}))
    return path


def _proxy_config(workdir: Path, upstream: int) -> Path:
    path = workdir / "proxy.yaml"
    path.write_text(f"""
model_list:
  - model_name: default
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-fake
litellm_settings:
  num_retries: 0
  request_timeout: 60
  drop_params: true
general_settings:
  master_key: {API_KEY}
""")
    return path


# -- the driver ----------------------------------------------------------------------------------

def _fmt(value: float) -> str:
    return f"{value:.2f}"


def drive(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, Procs() as procs:
        workdir = Path(tmp)
        me = str(Path(__file__).resolve())
        upstream = procs.spawn("upstream", [sys.executable, me, "--role", "upstream"], env=ENV)
        up_port = int(upstream.wait_for(r"ready port=(\d+)").group(1))
        scripted = procs.spawn("agent-upstream", [sys.executable, me, "--role", "upstream", "--agent-turns",
                                                  str(args.agent_turns + 5)], env=ENV)
        agent_port = int(scripted.wait_for(r"ready port=(\d+)").group(1))

        config, http_port = _node_config(workdir, up_port, agent_port, args.asyncio_workers)
        engine = procs.spawn("agentos", [sys.executable, "-m", "engine", "start", "--config", str(config),
                                "--log-level", "warning"], env=ENV, cwd=str(REPO))
        ours = f"http://127.0.0.1:{http_port}"
        try:
            _wait_http(f"{ours}/api/health", lambda r: r.status_code == 200 and r.json()["status"] == "ok")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}{engine.stderr_tail(40)}") from None
        _wait_http(f"{ours}/api/health", lambda r: r.status_code == 200 and r.json()["status"] == "ok")

        proxy_port = free_port()
        procs.spawn("litellm", [_litellm_bin(args.litellm), "--config", str(_proxy_config(workdir, up_port)),
                                "--port", str(proxy_port), "--host", "127.0.0.1",
                                "--log_config", str(_proxy_log_config(workdir))], env=ENV, cwd=str(workdir))
        theirs = f"http://127.0.0.1:{proxy_port}"
        _wait_http(f"{theirs}/health/liveliness", lambda r: r.status_code == 200, timeout=120)

        targets = {"upstream": f"http://127.0.0.1:{up_port}/v1/chat/completions",
                   "agentos": f"{ours}/v1/chat/completions", "litellm": f"{theirs}/v1/chat/completions"}
        bodies = {"plain": {"model": "default", "messages": MESSAGES},
                  "stream": {"model": "default", "messages": MESSAGES, "stream": True}}
        for name, url in targets.items():  # warm up (and check every target answers)
            for body in bodies.values():
                _wrk(url, body, 4, 1, workdir)
            emit(f"warmed up {name}", err=True)

        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            for mode, body in bodies.items():
                for name, url in targets.items():
                    one = _wrk(url, body, 1, args.duration, workdir)
                    many = _wrk(url, body, args.connections, args.duration, workdir)
                    results.setdefault((mode, name), []).append(
                        {"p50": one["p50"], "p99": one["p99"], "rps": many["rps"], "p50_load": many["p50"],
                         "errors": one["errors"] + many["errors"]})
                    emit(f"round {round_ + 1} {mode} {name}: {one['p50']:.2f} ms p50, {many['rps']:.0f} req/s", err=True)

        # -- the agent turn ------------------------------------------------------------------
        _post(f"{ours}/api/agents", {"name": "default", "model": "agentic", "capabilities": {"tools": ["bench::*"]}})
        agent_body = {"model": "agent:default", "messages": [{"role": "user", "content": "Look it up."}]}
        _turns(targets["agentos"], agent_body, 5)  # warm-up, scripted turns 1-5
        agent = _turns(targets["agentos"], agent_body, args.agent_turns)
        direct = _turns(targets["upstream"], bodies["plain"], args.agent_turns, calls_per_turn=2)

        report(results, args, agent, direct)


def report(results: dict[tuple[str, str], list[dict[str, float]]], args: argparse.Namespace,
           agent: list[float], direct: list[float]) -> None:
    med = {key: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for key, runs in results.items()}
    emit(f"## /v1/chat/completions — median of {args.rounds} rounds; latency at 1 connection "
         f"({args.duration:g}s), req/s at {args.connections} connections (wrk -t1); 2-core machine\n")
    for mode in ("plain", "stream"):
        base = med[(mode, "upstream")]
        rows = []
        for name in ("upstream", "agentos", "litellm"):
            m = med[(mode, name)]
            added = (m["p50"] - base["p50"], m["p99"] - base["p99"])
            errors = sum(r["errors"] for r in results[(mode, name)])
            rows.append([name, _fmt(m["p50"]), _fmt(m["p99"]), "—" if name == "upstream" else _fmt(added[0]),
                         "—" if name == "upstream" else _fmt(added[1]), f"{m['rps']:.1f}", _fmt(m["p50_load"]),
                         f"{errors:.0f}"])
        emit(f"### {'stream: false' if mode == 'plain' else 'stream: true'}\n")
        emit(format_table(["target", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", f"req/s @{args.connections}",
                           f"p50 ms @{args.connections}", "errors"], rows))
        ours, theirs = med[(mode, "agentos")], med[(mode, "litellm")]
        ratio = [("added p50", (ours["p50"] - base["p50"]) / max(1e-9, theirs["p50"] - base["p50"])),
                 ("added p99", (ours["p99"] - base["p99"]) / max(1e-9, theirs["p99"] - base["p99"])),
                 (f"req/s @{args.connections}", ours["rps"] / theirs["rps"])]
        emit("\nratios agentos / litellm (added latency: < 1 is better; req/s: > 1 is better): "
             + ", ".join(f"{k} {v:.2f}" for k, v in ratio) + "\n")
    a50, a99 = percentile(agent, 50), percentile(agent, 99)
    d50, d99 = percentile(direct, 50), percentile(direct, 99)
    emit(f"### agent:default turn with one tool call ({len(agent)} sequential turns)\n")
    emit(format_table(["what", "p50 ms", "p99 ms"], [
        ["two direct upstream calls", _fmt(d50), _fmt(d99)],
        ["agent:default turn via /v1 (2 model calls + 1 tool)", _fmt(a50), _fmt(a99)],
        ["added by AgentOS", _fmt(a50 - d50), _fmt(a99 - d99)]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["drive", "upstream", "worker"], default="drive")
    parser.add_argument("--worker", choices=["llm-router", "api", "agent-core", "tools"], help=argparse.SUPPRESS)
    parser.add_argument("--uvloop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--asyncio-workers", action="store_true",
                        help="run the workers on plain asyncio instead of `python -m` (uvloop)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--agent-turns", type=int, default=40)
    parser.add_argument("--litellm", help="the litellm executable (default: .venv/litellm-proxy/bin/litellm)")
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s phases, 10 agent turns")
    args = parser.parse_args()
    if args.role == "upstream":
        run_upstream(args.agent_turns)
        return
    if args.role == "worker":
        run_worker(args.worker, args.uvloop)
        return
    if args.quick:
        args.duration, args.rounds, args.agent_turns = 2.0, 1, 10
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    os.environ.update(ENV)
    with signals_unwind():
        drive(args)


if __name__ == "__main__":
    main()
