"""End-to-end fixtures: the engine as a separate process, iii-sdk workers as subprocesses or in-process.

* ``engine_factory(**config)`` starts ``python -m engine start --config <tmp>/config.yaml`` (or, until
  ``engine/__main__.py`` exists, ``iii_workers/run_engine.py`` with the same contract) and waits
  for its ``agentos ready bus=ws://…`` line. ``engine_proc`` is one with the default config.
* ``spawn_worker(url, scenario, name=…)`` runs ``iii_workers/sdk_worker.py`` and waits for its
  ``ready`` line; its stdout is a stream of JSON events the test reads with ``expect()``.
* ``sdk(url, name)`` is an in-process ``iii.register_worker`` client, shut down at teardown.

Nothing here sleeps to synchronise: every wait reads a line, waits on an event or a process, and
each has a deadline so a broken engine fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from iii import InitOptions, register_worker
from iii.iii import III
from iii_helpers.observability import ReconnectionConfig

REPO = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).resolve().parent / "iii_workers"
PYTHON = sys.executable

READY_LINE = re.compile(r"agentos ready bus=(ws://\S+)")
START_TIMEOUT_S = 20.0
"""Deadline for an engine or a worker to say it is ready (one scaled unit of patience)."""
STOP_TIMEOUT_S = 15.0
FAST_RECONNECT = ReconnectionConfig(initial_delay_ms=100, max_delay_ms=800)


def free_port() -> int:
    """A port that was free a moment ago (the engine must come back on the same one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def engine_command(config_path: Path) -> list[str]:
    """The CLI once it exists; the stand-in script with the same contract until then."""
    if (REPO / "engine" / "__main__.py").exists() and not os.environ.get("AGENTOS_E2E_FALLBACK_ENGINE"):
        return [PYTHON, "-m", "engine", "start", "--config", str(config_path)]
    return [PYTHON, str(WORKERS / "run_engine.py"), str(config_path)]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    for key in ("III_URL", "III_TOKEN", "III_NAMESPACE", "III_WORKER_NAME"):
        env.pop(key, None)
    env.update(extra or {})
    return env


class Proc:
    """A child process whose stdout lines are collected by a thread and awaited with deadlines."""

    def __init__(self, argv: list[str], *, name: str, log_dir: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self._stderr = self.stderr_path.open("wb")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            env=_env(env), cwd=cwd, text=True, bufsize=1, start_new_session=True,
        )
        self.lines: list[str] = []
        self._taken: set[int] = set()
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, name=f"stdout:{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def events(self) -> list[dict[str, Any]]:
        """Every JSON line printed so far."""
        with self._cond:
            lines = list(self.lines)
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict):
                    out.append(obj)
        return out

    def expect_line(self, pred: Callable[[str], Any], timeout: float, what: str) -> Any:
        """Return ``pred(line)`` for the first line not taken yet where it is truthy, and take
        that line; wait for more output until the deadline. Lines that do not match stay
        available to later calls, so the order of ``expect`` calls need not follow the output."""
        deadline = time.monotonic() + timeout
        with self._cond:
            scanned = 0
            while True:
                for i in range(scanned, len(self.lines)):
                    if i in self._taken:
                        continue
                    found = pred(self.lines[i])
                    if found:
                        self._taken.add(i)
                        return found
                scanned = len(self.lines)
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._cond.wait(left)
        state = f"exited with {self.popen.poll()}" if self._eof else "still running"
        pytest.fail(f"{self.name}: no {what} within {timeout}s ({state}); stdout={self.lines[-20:]!r}\n"
                    f"stderr tail:\n{self.stderr_tail()}")

    def expect(self, event: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The next JSON event named ``event`` whose fields equal ``fields``."""

        def match(line: str) -> dict[str, Any] | None:
            try:
                obj = json.loads(line)
            except ValueError:
                return None
            if isinstance(obj, dict) and obj.get("event") == event and all(obj.get(k) == v for k, v in fields.items()):
                return obj
            return None

        return self.expect_line(match, timeout, f"event {event!r} {fields or ''}")  # type: ignore[no-any-return]

    def stderr_tail(self, n: int = 40) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def terminate(self) -> int | None:
        """SIGTERM, then SIGKILL after the deadline; return the exit code of the SIGTERM stop."""
        rc: int | None = None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                rc = self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                rc = None
        else:
            rc = self.popen.returncode
        self._close()
        return rc

    def kill(self) -> None:
        """SIGKILL and reap (the process group too: nothing it started may outlive it)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(STOP_TIMEOUT_S)
        self._close()

    def _close(self) -> None:
        self._reader.join(STOP_TIMEOUT_S)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._stderr.close()


class EngineProcess:
    """One engine process with its own config file; ``restart()`` brings it back on the same port."""

    def __init__(self, workdir: Path, config: dict[str, Any], name: str) -> None:
        self.workdir = workdir
        self.config = config
        self.name = name
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.proc: Proc | None = None
        self.url = ""
        self.starts = 0

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start(self) -> EngineProcess:
        self.starts += 1
        self.proc = Proc(engine_command(self.config_path), name=f"{self.name}-{self.starts}",
                         log_dir=self.workdir, cwd=self.workdir)
        self.url = self.proc.expect_line(lambda line: (m := READY_LINE.search(line)) and m.group(1),
                                         START_TIMEOUT_S, "'agentos ready' line")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def restart(self) -> None:
        """Start again with the same config (a fixed ``engine.port`` gives the same URL)."""
        old = self.url
        self.start()
        assert self.url == old, f"engine came back on {self.url}, not {old}"

    def stop(self) -> int | None:
        return self.proc.terminate() if self.proc is not None else None


def engine_config(port: int = 0, *, grace_ms: int = 200, **engine: Any) -> dict[str, Any]:
    """A minimal node config: the bus only, on 127.0.0.1."""
    return {
        "engine": {"host": "127.0.0.1", "port": port, "registration_namespace_grace_ms": grace_ms,
                   "handshake_timeout_ms": 5000, **engine},
        "workers": [],
        "processes": [],
    }


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    """``engine_factory(port=…, **engine_settings)`` → a started :class:`EngineProcess`."""
    engines: list[EngineProcess] = []

    def start(port: int = 0, **engine: Any) -> EngineProcess:
        config = engine_config(port, **engine)
        config["data_dir"] = str(tmp_path / f"data{len(engines)}")
        eng = EngineProcess(tmp_path, config, name=f"engine{len(engines)}")
        engines.append(eng)
        return eng.start()

    yield start
    problems = []
    for eng in engines:
        if eng.proc is None or not eng.proc.alive():
            if eng.proc is not None:
                eng.proc.kill()  # closes pipes; killed on purpose by the test or crashed (test saw it)
            continue
        rc = eng.stop()
        if rc != 0:
            problems.append(f"{eng.proc.name} exited {rc} on SIGTERM (expected 0)\n{eng.proc.stderr_tail()}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def engine_proc(engine_factory: Callable[..., EngineProcess]) -> EngineProcess:
    """An engine with the default test config on a fixed free port (so it can restart on it)."""
    return engine_factory(port=free_port())


class WorkerProcess(Proc):
    worker_id: str


@pytest.fixture
def spawn_worker(tmp_path: Path, engine_factory: Any) -> Iterator[Callable[..., WorkerProcess]]:
    """``spawn_worker(url, scenario, name=…, namespace=None, otel=True, reconnect_ms=0, env=None)``."""
    procs: list[WorkerProcess] = []

    def spawn(url: str, scenario: str, *, name: str, namespace: str | None = None, otel: bool = True,
              reconnect_ms: int = 0, env: dict[str, str] | None = None, wait_ready: bool = True) -> WorkerProcess:
        argv = [PYTHON, str(WORKERS / "sdk_worker.py"), url, scenario, "--name", name]
        if namespace:
            argv += ["--namespace", namespace]
        if reconnect_ms:
            argv += ["--reconnect-ms", str(reconnect_ms)]
        if not otel:
            argv.append("--no-otel")
        proc = WorkerProcess(argv, name=f"worker-{name}-{len(procs)}", log_dir=tmp_path, env=env)
        procs.append(proc)
        if wait_ready:
            proc.worker_id = proc.expect("ready", timeout=START_TIMEOUT_S)["worker_id"]
        return proc

    yield spawn
    for proc in procs:
        proc.kill()


def wait_metadata_applied(client: III, name: str, timeout: float = START_TIMEOUT_S) -> None:
    """Return once ``engine::workers::list`` shows this client under its name.

    ``register_worker`` returns as soon as the socket is open; the SDK's metadata call
    (``engine::workers::register``) is queued on its loop after that, so the first call of a test
    can overtake it. Each retry here is a round trip, after which the queued frame has gone out.
    """
    deadline = time.monotonic() + timeout
    while True:
        listed = client.trigger({"function_id": "engine::workers::list", "timeout_ms": 5000})["workers"]
        if any(w["id"] == client.worker_id and w["name"] == name for w in listed):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"engine never applied the metadata of {name!r}: {listed}")


@pytest.fixture
def wait_listed() -> Callable[[III, str], None]:
    """:func:`wait_metadata_applied`, for tests (conftest is not importable reliably)."""
    return wait_metadata_applied


@pytest.fixture
def sdk(engine_factory: Any) -> Iterator[Callable[..., III]]:
    """``sdk(url, name, **InitOptions)`` → an in-process iii-sdk client (OTel off: its state is
    process-global). Shut down at teardown."""
    clients: list[III] = []

    def connect(url: str, name: str, *, reconnect: ReconnectionConfig | None = FAST_RECONNECT,
                **options: Any) -> III:
        options.setdefault("otel", {"enabled": False})
        client = register_worker(url, InitOptions(worker_name=name, reconnection_config=reconnect, **options))
        clients.append(client)
        wait_metadata_applied(client, name)
        return client

    yield connect
    for client in clients:
        close_client(client)


def close_client(client: III) -> None:
    """``shutdown()``, then close the loop: iii-sdk 0.25 stops its loop thread but never closes
    the loop, whose self-pipe sockets then raise ResourceWarning at GC (an error here).
    Idempotent: a test may close a client early, the fixture closes it again."""
    if client._loop.is_closed():
        return
    client.shutdown()
    if not client._thread.is_alive() and not client._loop.is_closed():
        client._loop.close()


@pytest.fixture
def shutdown_client() -> Callable[[III], None]:
    """:func:`close_client`, for clients a test builds itself."""
    return close_client
