"""An official ``iii-sdk`` worker, run as a subprocess by the e2e tests.

    python sdk_worker.py URL SCENARIO [--name N] [--namespace NS] [--reconnect-ms MS] [--no-otel]

It registers the functions of SCENARIO, proves they are applied (a round trip to
``engine::functions::info`` for each of them succeeds), prints ``{"event": "ready", …}`` and
serves until killed. Everything it observes goes to stdout as one JSON object per line
(``{"event": …}``), which is how the tests check what a handler saw without sleeping. SDK logs
go to stderr. After a reconnect it proves its registrations again and prints ``reattached``.

Scenarios:

* ``core``     ``math::add`` (sync handler), ``math::meta`` (``handler(data, metadata)``),
               ``math::boom`` (raises ValueError("x")), ``math::void`` / ``math::mark``
               (print a line per run), ``math::slow`` (blocks until ``math::release``),
               ``math::release``, ``math::block`` (blocks forever)
* ``orders``   ``o::f`` (run it with ``--namespace orders``)
* ``webhook``  trigger type ``webhook`` (prints what its TriggerHandler receives; refuses a
               config with ``reject``) and ``webhook::fire`` (calls every bound function)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from iii import InitOptions, InvocationError, register_worker
from iii.iii import III
from iii.triggers import TriggerConfig, TriggerHandler
from iii_helpers.observability import ReconnectionConfig

_out = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout: what the tests read."""
    line = json.dumps({"event": event, **fields}, default=repr)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


# -- scenarios ------------------------------------------------------------------------------


def core(iii: III) -> list[str]:
    gate = asyncio.Event()
    slow_tasks: list[asyncio.Task[Any]] = []

    def add(data: dict[str, Any]) -> dict[str, Any]:  # sync: runs in a thread
        emit("call", fn="math::add", caller=data.get("_caller_worker_id"), data=data)
        return {"sum": data["a"] + data["b"]}

    def meta(data: Any, metadata: Any) -> dict[str, Any]:
        emit("call", fn="math::meta", metadata=metadata)
        return {"metadata": metadata}

    async def boom(data: Any) -> None:
        raise ValueError("x")

    async def void(data: dict[str, Any]) -> None:
        # Async on purpose: it prints on its first step, in frame order (see test_void).
        emit("void_run", nonce=data.get("nonce"))

    async def mark(data: dict[str, Any]) -> dict[str, Any]:
        emit("mark", n=data.get("n"))
        return {"n": data.get("n")}

    async def slow(data: Any) -> dict[str, Any]:
        # The invocation's own task: it ends only after the SDK wrote this result frame.
        slow_tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        emit("slow_started")
        await gate.wait()
        return {"late": True}

    async def release(data: Any) -> dict[str, Any]:
        gate.set()
        for task in slow_tasks:
            await task  # the late result is on the wire before this answer
        return {"released": len(slow_tasks)}

    async def block(data: Any) -> None:
        emit("block_started")
        await asyncio.Event().wait()

    handlers: dict[str, Callable[..., Any]] = {
        "math::add": add, "math::meta": meta, "math::boom": boom, "math::void": void,
        "math::mark": mark, "math::slow": slow, "math::release": release, "math::block": block,
    }
    for fid, handler in handlers.items():
        iii.register_function(fid, handler)
    return list(handlers)


def orders(iii: III) -> list[str]:
    async def f(data: dict[str, Any]) -> dict[str, Any]:
        emit("call", fn="o::f", data=data)
        return {"ns": "orders", "echo": data.get("x")}

    iii.register_function("o::f", f)
    return ["o::f"]


class Webhooks(TriggerHandler[Any]):
    """The provider side of the custom trigger type ``webhook``."""

    def __init__(self) -> None:
        self.bound: dict[str, TriggerConfig[Any]] = {}

    async def register_trigger(self, config: TriggerConfig[Any]) -> None:
        if isinstance(config.config, dict) and config.config.get("reject"):
            emit("trigger_rejected", id=config.id)
            raise ValueError(f"webhook refuses {config.config['reject']}")
        self.bound[config.id] = config
        emit("trigger_registered", id=config.id, function_id=config.function_id, config=config.config)

    async def unregister_trigger(self, config: TriggerConfig[Any]) -> None:
        self.bound.pop(config.id, None)
        emit("trigger_unregistered", id=config.id)


def webhook(iii: III) -> list[str]:
    hooks = Webhooks()
    iii.register_trigger_type({"id": "webhook", "description": "e2e custom trigger type"}, hooks)

    async def fire(data: Any) -> dict[str, Any]:
        fired = {}
        for trig in list(hooks.bound.values()):
            fired[trig.id] = await iii.trigger_async({
                "function_id": trig.function_id,
                "payload": {"body": data, "trigger_id": trig.id, "config": trig.config},
                "namespace": trig.namespace,
            })
        return {"fired": fired}

    iii.register_function("webhook::fire", fire)
    return ["webhook::fire"]


SCENARIOS: dict[str, Callable[[III], list[str]]] = {"core": core, "orders": orders, "webhook": webhook}


# -- readiness ------------------------------------------------------------------------------


def prove_registered(iii: III, function_ids: list[str], namespace: str | None, deadline_s: float = 15.0) -> None:
    """Return once ``engine::functions::info`` knows every function, in this worker's namespace.

    A call can overtake the SDK's registration replay or its metadata call (which ends the
    engine's namespace buffering), so a ``function_not_found`` is retried after that round trip.
    """
    deadline = time.monotonic() + deadline_s
    for fid in function_ids:
        while True:
            payload: dict[str, Any] = {"function_id": fid}
            if namespace:
                payload["namespace"] = namespace
            try:
                info = iii.trigger({"function_id": "engine::functions::info", "payload": payload,
                                    "timeout_ms": 5000})
            except InvocationError as exc:
                if exc.code != "function_not_found" or time.monotonic() > deadline:
                    raise
                continue
            if info["function"]["worker_id"] != iii.worker_id:
                raise RuntimeError(f"{fid} is owned by {info['function']['worker_id']}, not {iii.worker_id}")
            break


def watch_otel() -> None:
    """Report the SDK's /otel socket through its own debug log (observation only)."""

    report = emit

    class OtelEvents(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            if msg.startswith("OTel WS connected"):
                report("otel_connected")
            elif msg.startswith("OTel WS disconnected"):
                report("otel_disconnected", message=msg)

    logger = logging.getLogger("iii.telemetry_exporters")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(OtelEvents())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--name", required=True)
    parser.add_argument("--namespace")
    parser.add_argument("--reconnect-ms", type=int, default=0)
    parser.add_argument("--no-otel", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.no_otel:
        watch_otel()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    reconnect = None
    if args.reconnect_ms:
        reconnect = ReconnectionConfig(initial_delay_ms=args.reconnect_ms, max_delay_ms=args.reconnect_ms * 8)
    options = InitOptions(
        worker_name=args.name,
        namespace=args.namespace,
        reconnection_config=reconnect,
        otel={"enabled": False} if args.no_otel else None,
    )
    iii = register_worker(args.url, options)
    function_ids = SCENARIOS[args.scenario](iii)
    prove_registered(iii, function_ids, args.namespace)
    emit("ready", worker_id=iii.worker_id, functions=function_ids)

    def reattached() -> None:
        prove_registered(iii, function_ids, args.namespace)
        emit("reattached", worker_id=iii.worker_id)

    armed = threading.Event()

    def on_state(state: str) -> None:
        # Runs on the SDK loop thread (after the first, synchronous call): no sync SDK call
        # may run there, so the proof runs on a thread of its own.
        if not armed.is_set():
            return
        emit("state", state=state)
        if state == "connected":
            threading.Thread(target=reattached, daemon=True).start()

    iii.add_connection_state_listener(on_state)
    armed.set()
    stop.wait()
    iii.shutdown()

if __name__ == "__main__":
    main()
