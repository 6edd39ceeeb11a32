"""iii-protocol.md §7 scenario 14 with the official iii-sdk 0.25: the durable queue.

The engine runs as a process with ``iii-queue`` enabled (SQLite store); a worker and a caller are
in-process ``iii`` clients (the ``sdk`` fixture). ``Enqueue(queue="default")`` answers a
``messageReceiptId`` at once and the target runs later; a handler that keeps failing lands in
the dead-letter queue after ``max_retries`` deliveries; redrive runs it again; a queue that is
not configured is an ``enqueue_error``. Waits are on events or bounded polls of the engine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from iii import InvocationError, TriggerAction
from iii.iii import III

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"agentos ready bus=(ws://\S+)")
DEADLINE_S = 15.0

Sdk = Callable[..., III]


@pytest.fixture
def queue_engine(tmp_path: Path) -> Iterator[str]:
    """An engine process with iii-queue on SQLite; yields its bus URL; must stop cleanly."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "engine": {"host": "127.0.0.1", "port": 0, "registration_namespace_grace_ms": 200},
        "workers": [{"name": "iii-queue", "config": {
            "adapter": {"name": "sqlite", "config": {"path": str(tmp_path / "queue.db")}},
            "queue_configs": {"default": {"max_retries": 2, "backoff_ms": 0, "poll_interval_ms": 20}},
        }}],
    }))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for key in ("III_URL", "III_TOKEN", "III_NAMESPACE", "III_WORKER_NAME"):
        env.pop(key, None)
    log = (tmp_path / "engine.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "start", "--config", str(config)], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        url = next((m.group(1) for line in proc.stdout if (m := READY.search(line))), None)
        assert url is not None, f"engine exited {proc.wait()}: {(tmp_path / 'engine.log').read_text()[-2000:]}"
        yield url
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, (tmp_path / "engine.log").read_text()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def enqueue(client: III, function_id: str, payload: Any, queue: str = "default") -> Any:
    return client.trigger({"function_id": function_id, "payload": payload, "timeout_ms": 5000,
                           "action": TriggerAction.Enqueue(queue=queue)})


def call(client: III, function_id: str, payload: Any = None) -> Any:
    return client.trigger({"function_id": function_id, "payload": payload, "timeout_ms": 5000})


def poll(client: III, function_id: str, payload: Any, until: Callable[[Any], bool]) -> Any:
    """Call until the answer satisfies ``until`` (bounded: the engine's own bookkeeping)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        answer = call(client, function_id, payload)
        if until(answer):
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{function_id} never satisfied the condition: {answer!r}")
        time.sleep(0.02)


def test_enqueue_answers_a_receipt_and_the_target_runs_later(queue_engine: str, sdk: Sdk) -> None:
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    seen: list[Any] = []

    def work(data: Any) -> dict[str, Any]:  # sync: the SDK runs it in a thread
        seen.append(data)
        started.set()
        release.wait(DEADLINE_S)
        done.set()
        return {"ok": True}

    worker = sdk(queue_engine, "queue-worker")
    worker.register_function("q::work", work)
    caller = sdk(queue_engine, "queue-caller")
    answer = enqueue(caller, "q::work", {"n": 1})
    receipt = answer["messageReceiptId"]
    assert answer == {"messageReceiptId": receipt} and uuid.UUID(receipt)
    assert started.wait(DEADLINE_S) and not done.is_set()  # answered before the handler finished
    release.set()
    assert done.wait(DEADLINE_S)
    assert seen[0]["n"] == 1 and seen[0]["_queue"]["message_id"] == receipt
    poll(caller, "engine::queue::topic_stats", {"queue": "default"}, lambda s: s["depth"] == 0)


def test_repeated_failure_goes_to_the_dlq_and_redrive_runs_it_again(queue_engine: str, sdk: Sdk) -> None:
    healthy = threading.Event()
    ran = threading.Event()
    attempts: list[int] = []

    async def fragile(data: dict[str, Any]) -> None:
        attempts.append(data["_queue"]["attempt"])
        if not healthy.is_set():
            raise ValueError("still broken")
        ran.set()

    worker = sdk(queue_engine, "fragile-worker")
    worker.register_function("q::fragile", fragile)
    receipt = enqueue(worker, "q::fragile", {"job": 7})["messageReceiptId"]
    [dead] = poll(worker, "engine::queue::dlq_messages", {"queue": "default"}, lambda m: len(m) == 1)
    assert dead["message_id"] == receipt and dead["data"] == {"job": 7} and dead["attempts"] == 2
    assert (dead["error"]["code"], dead["error"]["message"]) == ("invocation_failed", "still broken")
    assert attempts == [1, 2]  # max_retries: 2 deliveries, then the DLQ

    healthy.set()
    assert call(worker, "iii::queue::redrive", {"queue": "default"}) == {"queue": "default", "redriven": 1}
    assert ran.wait(DEADLINE_S)
    assert attempts == [1, 2, 1]
    poll(worker, "engine::queue::topic_stats", {"queue": "default"}, lambda s: (s["depth"], s["dead"]) == (0, 0))


@pytest.mark.parametrize("queue", ["nope", "", "  "])
def test_an_unconfigured_or_blank_queue_is_an_enqueue_error(queue_engine: str, sdk: Sdk, queue: str) -> None:
    caller = sdk(queue_engine, "queue-caller")
    with pytest.raises(InvocationError) as info:
        enqueue(caller, "q::anything", {}, queue=queue)
    assert info.value.code == "enqueue_error" and info.value.message
