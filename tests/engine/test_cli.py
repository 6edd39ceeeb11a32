"""engine/cli.py (and cli_client.py): exit codes, one-line errors, and a real `agentos start`."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteReceiveStream
from typer.testing import CliRunner

from engine.cli import (
    EXIT_FAILURE,
    EXIT_PORT_IN_USE,
    EXIT_USAGE,
    app,
    exit_for,
    format_table,
    readiness_line,
)
from engine.config import ConfigError, parse_config
from engine.errors import EngineError, FunctionNotFound, InvocationTimeout

_SCRIPT = Path(sys.executable).with_name("agentos")
AGENTOS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "engine"]
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOS_")}

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # `agentos start` configures the root logger; keep that from leaking into other tests.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- pure helpers --------------------------------------------------------------------------------


def _eaddrinuse() -> OSError:
    return OSError(errno.EADDRINUSE, "error while attempting to bind on address "
                   "('127.0.0.1', 49134): address already in use")


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (ConfigError(["c.yaml:2: engine.prot: unknown key"]), EXIT_USAGE, "c.yaml:2: engine.prot: unknown key"),
        (FunctionNotFound("Function x not found"), EXIT_FAILURE, "function_not_found: Function x not found"),
        (InvocationTimeout("no answer"), EXIT_FAILURE, "timeout: no answer"),
        (EngineError("boom"), EXIT_FAILURE, "boom"),
        (ExceptionGroup("tg", [ValueError("x"), FunctionNotFound("nope")]), EXIT_FAILURE,
         "function_not_found: nope"),
        (ExceptionGroup("tg", [ExceptionGroup("inner", [_eaddrinuse()])]), EXIT_PORT_IN_USE, None),
        (_eaddrinuse(), EXIT_PORT_IN_USE, None),
    ],
)
def test_exit_for_maps_errors_to_codes(exc: BaseException, code: int, message: str | None) -> None:
    got_code, got_message = exit_for(exc)
    assert got_code == code
    assert "\n" not in got_message
    if message is not None:
        assert got_message == message
    else:
        assert got_message.startswith("port 49134 on 127.0.0.1 is already in use")


def test_exit_for_unknown_error_is_one_line() -> None:
    code, message = exit_for(RuntimeError("line one\nline two"))
    assert code == EXIT_FAILURE
    assert message.startswith("internal error: RuntimeError: line one line two")


def test_readiness_line_lists_the_bus_first() -> None:
    config = parse_config(textwrap.dedent("""
        engine: {port: 0}
        workers:
          - {name: iii-http, config: {host: 0.0.0.0}}
          - {name: iii-stream, config: {host: 127.0.0.1}}
    """), env={})
    line = readiness_line(config, {"http": 3111, "stream": 3112, "bus": 49134})
    assert line == ("agentos ready bus=ws://127.0.0.1:49134 http=http://127.0.0.1:3111 "
                    "stream=ws://127.0.0.1:3112")
    assert readiness_line(config, {"bus": 1}) == "agentos ready bus=ws://127.0.0.1:1"


def test_format_table_aligns_columns() -> None:
    assert format_table(("A", "LONGER"), [("xyz", "1"), ("x", "22")]) == (
        "A    LONGER\nxyz  1\nx    22")
    assert format_table(("A", "B"), []) == "A  B\n(none)"


# ---- CliRunner: errors --------------------------------------------------------------------------


def test_start_with_invalid_config_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("engine:\n  prot: 1\n")
    result = runner.invoke(app, ["start", "--config", str(config)])
    assert result.exit_code == EXIT_USAGE
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "engine.prot: unknown key (did you mean `port`?)" in lines[0]


def test_start_with_missing_config_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["start", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.strip().endswith("file not found — create it or pass --config")
    assert "Traceback" not in result.output


def test_start_with_bad_log_level_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["start", "--log-level", "loud"])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.strip() == "unknown log level 'loud' — use one of debug, info, warning, error"


@pytest.mark.parametrize("payload", ["{bad", "[1, 2", "nope"])
def test_trigger_with_invalid_json_exits_2(payload: str) -> None:
    result = runner.invoke(app, ["trigger", "engine::health::check", payload,
                                 "--url", "ws://127.0.0.1:1"])
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith("invalid JSON payload: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["status"], ["functions"], ["workers"],
                                     ["trigger", "engine::health::check", "{}"]])
def test_unreachable_engine_exits_1(command: list[str]) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    result = runner.invoke(app, [*command, "--url", url], env={"AGENTOS_TOKEN": ""})
    assert result.exit_code == EXIT_FAILURE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"engine not reachable at {url}: ")
    assert "Traceback" not in result.output


def test_url_defaults_from_environment() -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["status"], env={"AGENTOS_URL": url})
    assert result.exit_code == EXIT_FAILURE
    assert f"engine not reachable at {url}: " in result.stderr


# ---- a real `agentos start` ------------------------------------------------------------------------

ECHO_WORKER = """
import asyncio, json, os, uuid
from websockets.asyncio.client import connect

async def main():
    async with connect(os.environ["AGENTOS_URL"]) as ws:
        json.loads(await ws.recv())  # workerregistered
        await ws.send(json.dumps({"type": "registerfunction", "id": "test::echo",
                                  "description": "Echo the payload"}))
        hello = str(uuid.uuid4())
        await ws.send(json.dumps({"type": "invokefunction", "invocation_id": hello,
                                  "function_id": "engine::workers::register",
                                  "data": {"name": "echo-worker", "pid": os.getpid()}}))
        async for frame in ws:
            msg = json.loads(frame)
            if msg["type"] == "invocationresult" and msg["invocation_id"] == hello:
                print("registered", os.getpid(), flush=True)
            elif msg["type"] == "invokefunction":
                data = msg.get("data")
                if isinstance(data, dict):
                    data.pop("_caller_worker_id", None)
                await ws.send(json.dumps({"type": "invocationresult",
                                          "invocation_id": msg["invocation_id"],
                                          "function_id": msg["function_id"],
                                          "result": {"echo": data}}))

asyncio.run(main())
"""


def write_config(tmp_path: Path, port: int = 0, with_worker: bool = True) -> Path:
    worker = tmp_path / "echo_worker.py"
    worker.write_text(ECHO_WORKER)
    processes = (f"processes:\n  - name: echo-worker\n    command: [{json.dumps(sys.executable)}, "
                 f"{json.dumps(str(worker))}]\n") if with_worker else ""
    config = tmp_path / "config.yaml"
    config.write_text(f"engine:\n  port: {port}\ndata_dir: {json.dumps(str(tmp_path / 'data'))}\n"
                      + processes)
    return config


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def agentos(*args: str) -> tuple[int, str, str]:
    with anyio.fail_after(20):
        done = await anyio.run_process([*AGENTOS, *args], check=False, env=CLEAN_ENV)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


class Lines:
    """Lines of a child's stream, read in the background; ``wait_for`` wakes per line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = anyio.Event()

    async def pump(self, stream: ByteReceiveStream) -> None:
        buf = b""
        async for chunk in stream:
            buf += chunk
            *complete, buf = buf.split(b"\n")
            self.lines += [line.decode() for line in complete]
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, needle: str) -> str:
        with anyio.fail_after(10):
            while True:
                found = next((line for line in self.lines if needle in line), None)
                if found is not None:
                    return found
                await self._changed.wait()


async def test_start_serves_and_shuts_down_cleanly(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    stderr = Lines()
    started = anyio.current_time()
    async with await anyio.open_process([*AGENTOS, "start", "--config", str(config)],
                                        env=CLEAN_ENV) as engine, anyio.create_task_group() as tg:
        assert engine.stdout is not None and engine.stderr is not None
        tg.start_soon(stderr.pump, engine.stderr)
        ready = ""
        with anyio.fail_after(10):
            while not ready.endswith("\n"):
                ready += (await engine.stdout.receive()).decode()
        elapsed = anyio.current_time() - started
        assert ready.startswith("agentos ready bus=ws://127.0.0.1:") and ready.endswith("\n")
        assert elapsed < 2.0, f"readiness took {elapsed:.2f}s"
        url = ready.split("bus=", 1)[1].split()[0]

        registered = await stderr.wait_for("[echo-worker] registered ")
        worker_pid = int(registered.rsplit(" ", 1)[1])
        assert "running OPEN: no tokens configured" in "\n".join(stderr.lines)

        code, out, _ = await agentos("status", "--url", url)
        assert code == 0, out
        status = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
        assert status["status"] == "ok"
        assert status["workers"] == "1"

        code, out, _ = await agentos("functions", "--url", url)
        assert code == 0
        assert out.splitlines()[0].split() == ["FUNCTION", "WORKER", "DESCRIPTION"]
        assert any(line.split()[:2] == ["test::echo", "echo-worker"] for line in out.splitlines())
        assert any(line.startswith("engine::health::check") for line in out.splitlines())

        code, out, _ = await agentos("functions", "--url", url, "--prefix", "test::", "--json")
        assert code == 0
        assert [f["function_id"] for f in json.loads(out)] == ["test::echo"]

        code, out, _ = await agentos("workers", "--url", url)
        assert code == 0
        rows = out.splitlines()
        assert rows[0].split()[:3] == ["ID", "NAME", "ROLE"]
        assert len(rows) == 2 and " echo-worker " in rows[1]

        code, out, _ = await agentos("trigger", "engine::health::check", "--url", url)
        assert code == 0
        assert json.loads(out)["status"] == "ok"

        code, out, _ = await agentos("trigger", "test::echo", '{"a": [1, "two"]}', "--url", url)
        assert code == 0
        assert json.loads(out) == {"echo": {"a": [1, "two"]}}

        code, out, err = await agentos("trigger", "test::missing", "--url", url)
        assert (code, out) == (EXIT_FAILURE, "")
        assert err.startswith("function_not_found: ")

        engine.send_signal(signal.SIGTERM)
        with anyio.fail_after(5):
            assert await engine.wait() == 0
    assert not alive(worker_pid), "the supervised worker outlived `agentos start`"
    assert any("received SIGTERM; shutting down" in line for line in stderr.lines)


async def test_sigint_stops_the_engine_with_exit_0(tmp_path: Path) -> None:
    config = write_config(tmp_path, with_worker=False)
    async with await anyio.open_process([*AGENTOS, "start", "--config", str(config), "--log-level",
                                         "warning"], env=CLEAN_ENV) as engine:
        assert engine.stdout is not None
        ready = b""
        with anyio.fail_after(10):
            while not ready.endswith(b"\n"):
                ready += await engine.stdout.receive()
        engine.send_signal(signal.SIGINT)
        with anyio.fail_after(5):
            assert await engine.wait() == 0


async def test_start_on_a_port_in_use_exits_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, port=port, with_worker=False)
        with anyio.fail_after(20):  # python -m engine: the __main__ entry point
            done = await anyio.run_process([sys.executable, "-m", "engine", "start", "--config",
                                            str(config)], check=False, env=CLEAN_ENV)
    assert done.returncode == EXIT_PORT_IN_USE
    assert done.stdout == b""
    last = done.stderr.decode().strip().splitlines()[-1]
    assert last.startswith(f"port {port} on 127.0.0.1 is already in use — ")
    assert "Traceback" not in done.stderr.decode()
