"""run()/serve(): the process entry point, its signals and its exit status."""

from __future__ import annotations

import os
import signal
from typing import Any

import anyio
import anyio.from_thread
import pytest

from engine.protocol import ErrorBody
from workers.sdk import AuthenticationError, Worker, function, run, serve

from .conftest import FAST
from .stub_engine import StubEngine


@function("run::ping")
async def ping(data: Any) -> str:
    return "pong"


WORKER = Worker("runner", functions=[ping])


async def test_serve_stops_cleanly_on_sigterm(engine: StubEngine) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve([WORKER], url=engine.url, reconnect=FAST))
        stub = await engine.next_connection()
        await stub.ready.wait()
        assert (await stub.call("run::ping")).result == "pong"
        os.kill(os.getpid(), signal.SIGTERM)
        await stub.closed.wait()
    assert stub.ws.close_code == 1000


async def test_serve_raises_fatal_errors_unwrapped() -> None:
    async with StubEngine(auth_error=ErrorBody(code="unauthorized", message="no")) as engine:
        with pytest.raises(AuthenticationError):
            await serve([WORKER], url=engine.url, reconnect=FAST)


def test_run_exits_1_when_refused() -> None:
    with anyio.from_thread.start_blocking_portal() as portal:
        engine = portal.wrap_async_context_manager(
            StubEngine(auth_error=ErrorBody(code="unauthorized", message="no"))
        )
        with engine as stub:
            with pytest.raises(SystemExit) as info:
                run([WORKER], url=stub.url, reconnect=FAST)
    assert info.value.code == 1


def test_run_serves_until_sigint() -> None:
    async def interrupt_when_ready(stub: StubEngine) -> None:
        conn = await stub.next_connection()
        await conn.ready.wait()
        os.kill(os.getpid(), signal.SIGINT)

    with anyio.from_thread.start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(StubEngine()) as stub:
            future = portal.start_task_soon(interrupt_when_ready, stub)
            run([WORKER], url=stub.url, reconnect=FAST)  # returns on SIGINT, no KeyboardInterrupt
            future.result(timeout=5)
