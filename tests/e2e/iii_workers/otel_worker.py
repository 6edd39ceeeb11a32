"""An official ``iii-sdk`` worker with OpenTelemetry on, run as a subprocess by the e2e tests.

    python otel_worker.py URL --name N

Its OTel state is process-global in iii-sdk 0.25, which is why it runs in a process of its own.
It registers, proves registered, prints ``{"event": "ready", …}`` and serves until SIGTERM:

* ``obs::work``    logs ``working`` (with ``{"n": data["n"]}``) through ``iii.Logger`` inside its
                   ``execute`` span, adds ``n`` to the OpenTelemetry counter ``obs.work.units``,
                   answers ``{"done": n}``
* ``obs::on_log``  bound to the engine's ``log`` trigger at level ``warn``; prints
                   ``{"event": "log_event", "payload": …}`` for each delivery

Metrics are exported every 200 ms (the SDK's default is 60 s) so a test sees them. Everything the
tests check goes to stdout as one JSON object per line; SDK logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Any

from iii import InitOptions, InvocationError, register_worker
from iii.iii import III
from iii_helpers.observability import Logger
from opentelemetry import metrics

_out = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, **fields}, default=repr)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def prove_registered(iii: III, function_ids: list[str], deadline_s: float = 15.0) -> None:
    """Return once ``engine::functions::info`` knows every function (each retry is a round trip)."""
    deadline = time.monotonic() + deadline_s
    for fid in function_ids:
        while True:
            try:
                iii.trigger({"function_id": "engine::functions::info", "payload": {"function_id": fid},
                             "timeout_ms": 5000})
                break
            except InvocationError as exc:
                if exc.code != "function_not_found" or time.monotonic() > deadline:
                    raise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    iii = register_worker(args.url, InitOptions(worker_name=args.name, otel={
        "service_name": args.name, "metrics_export_interval_ms": 200}))
    logger = Logger(service_name=args.name)
    units = metrics.get_meter(args.name).create_counter("obs.work.units")  # the SDK's meter provider

    async def work(data: dict[str, Any]) -> dict[str, Any]:
        logger.info("working", {"n": data["n"]})
        units.add(data["n"], {"worker": args.name})
        return {"done": data["n"]}

    async def on_log(data: Any) -> None:
        emit("log_event", payload=data)

    iii.register_function("obs::work", work)
    iii.register_function("obs::on_log", on_log)
    iii.register_trigger({"type": "log", "function_id": "obs::on_log", "config": {"level": "warn"}})
    prove_registered(iii, ["obs::work", "obs::on_log"])
    emit("ready", worker_id=iii.worker_id)
    stop.wait()
    iii.shutdown()


if __name__ == "__main__":
    main()
