"""workers/control_plane/bridge.py: process and http runtimes, timeouts, cancel, run records."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from .conftest import WAIT, Stack, code_of

ECHO = [sys.executable, "-c",
        "import json, sys; d = json.load(sys.stdin); print(json.dumps({'echo': d}))"]
FAIL = [sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"]
# Spawns a grandchild in the same process group; both hold `fifo` open for writing and then
# hang. The reader of `fifo` sees end-of-file only once every writer is dead.
HANG = textwrap.dedent("""
    import json, os, subprocess, sys, time
    fifo = json.load(sys.stdin)["fifo"]
    code = "import os, sys, time; fd = os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b'x'); time.sleep(600)"
    subprocess.Popen([sys.executable, "-c", code, fifo], stdout=subprocess.DEVNULL)
    time.sleep(600)
""")


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A named pipe, opened for reading (non-blocking) so writers never wait for us."""
    path = tmp_path / "alive"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    yield str(path), fd
    os.close(fd)


async def first_byte(fd: int) -> None:
    """Wait until the grandchild wrote its byte: the whole process group is running."""
    with anyio.fail_after(WAIT):
        await anyio.wait_readable(fd)
    assert os.read(fd, 16) == b"x"


async def end_of_file(fd: int) -> None:
    """Wait until every writer of the pipe is gone (the pipe reads end-of-file)."""
    with anyio.fail_after(WAIT):
        await anyio.wait_readable(fd)
    assert os.read(fd, 16) == b""


async def register(cp: Stack, name: str, **runtime: Any) -> None:
    await cp.sys.trigger("bridge::register", {"name": name, **runtime})


async def test_a_process_runtime_gets_json_in_and_out(cp: Stack) -> None:
    await cp.events.subscribe("a")
    await register(cp, "echo", kind="process", command=ECHO, timeout_s=20)
    run = await cp.a.trigger("bridge::invoke", {"runtime": "echo", "input": {"x": [1, 2]}})
    assert (run["status"], run["exit_code"], run["output"]) == ("completed", 0, {"echo": {"x": [1, 2]}})
    assert await cp.a.trigger("bridge::run", {"run_id": run["run_id"]}) == run
    done = await cp.events.wait_for("bridge.run.completed")
    assert (done[0]["run_id"], done[0]["status"], done[0]["_realm"]) == (run["run_id"], "completed", "a")
    assert await code_of(cp.b.trigger("bridge::run", {"run_id": run["run_id"]})) == "not_found"


async def test_a_failing_process_is_reported(cp: Stack) -> None:
    await register(cp, "fail", kind="process", command=FAIL)
    run = await cp.a.trigger("bridge::invoke", {"runtime": "fail"})
    assert (run["status"], run["exit_code"], run["stderr"]) == ("failed", 3, "boom")
    await register(cp, "missing", kind="process", command=["/nonexistent/binary"])
    run = await cp.a.trigger("bridge::invoke", {"runtime": "missing"})
    assert run["status"] == "failed" and run["error"]["code"] == "bridge_failed"


async def test_a_timeout_kills_the_whole_process_group(cp: Stack, fifo: tuple[str, int]) -> None:
    await cp.events.subscribe("a")
    await register(cp, "hang", kind="process", command=[sys.executable, "-c", HANG], timeout_s=2)
    run = await cp.a.trigger("bridge::invoke", {"runtime": "hang", "input": {"fifo": fifo[0]},
                                                "wait": False})
    assert run["status"] == "running"
    await first_byte(fifo[1])
    await end_of_file(fifo[1])  # the timeout killed the child *and* the grandchild
    await cp.events.wait_for("bridge.run.completed")
    finished = await cp.a.trigger("bridge::run", {"run_id": run["run_id"]})
    assert (finished["status"], finished["error"]["code"]) == ("timeout", "timeout")


async def test_cancel_stops_a_run_and_its_children(cp: Stack, fifo: tuple[str, int]) -> None:
    await register(cp, "hang", kind="process", command=[sys.executable, "-c", HANG], timeout_s=600)
    run = await cp.a.trigger("bridge::invoke", {"runtime": "hang", "input": {"fifo": fifo[0]},
                                                "wait": False})
    await first_byte(fifo[1])
    assert await code_of(cp.b.trigger("bridge::cancel", {"run_id": run["run_id"]})) == "not_found"
    cancelled = await cp.a.trigger("bridge::cancel", {"run_id": run["run_id"]})
    assert (cancelled["status"], cancelled["cancelled"]) == ("cancelled", True)
    await end_of_file(fifo[1])
    assert (await cp.a.trigger("bridge::run", {"run_id": run["run_id"]}))["status"] == "cancelled"
    again = await cp.a.trigger("bridge::cancel", {"run_id": run["run_id"]})
    assert again["cancelled"] is False


async def test_an_http_runtime_posts_the_input(cp: Stack) -> None:
    await register(cp, "llm", kind="http", url=f"{cp.fake.base_url}/chat/completions", timeout_s=10)
    run = await cp.a.trigger("bridge::invoke", {"runtime": "llm", "input": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}})
    assert run["status"] == "completed"
    assert run["output"]["choices"][0]["message"]["content"] == cp.fake.DEFAULT_TEXT
    assert cp.fake.chat_requests[-1].body["messages"][0]["content"] == "hi"


async def test_only_operators_register_and_the_list_hides_env_values(cp: Stack) -> None:
    assert await code_of(cp.a.trigger("bridge::register", {"name": "x", "kind": "process",
                                                           "command": "true"})) == "forbidden"
    assert await code_of(cp.worker.trigger("bridge::register", {"name": "x", "kind": "process",
                                                                "command": "true"})) == "forbidden"
    assert await code_of(cp.sys.trigger("bridge::register", {"name": "x", "kind": "http"})) == "invalid_arguments"
    await register(cp, "envy", kind="process", command="env", env={"API_TOKEN": "s3cret"})
    listed = await cp.a.trigger("bridge::list", {})
    assert listed["runtimes"][0]["env"] == ["API_TOKEN"]
    assert await code_of(cp.a.trigger("bridge::invoke", {"runtime": "nope"})) == "not_found"
