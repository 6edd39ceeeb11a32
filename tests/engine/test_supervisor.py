"""engine/supervisor.py: backoff table, restarts, SIGTERM→SIGKILL, no orphans (even after a
SIGKILL of ``agentos start``), environment."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteReceiveStream

from engine.config import NodeConfig, ProcessSpec, RestartPolicy
from engine.supervisor import (
    MAX_LINE_BYTES,
    ProcessState,
    RestartPlan,
    Supervisor,
    plan_restart,
    worker_env,
)

PY = sys.executable


class Output(logging.Handler):
    """Collects the supervisor's log records; ``wait_for`` wakes on each new one (no polling)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()
        self._changed = anyio.Event()

    def lines(self, name: str) -> list[str]:
        return [r.getMessage().split("] ", 1)[1] for r in self.records
                if getattr(r, "proc_name", None) == name]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        with anyio.fail_after(10):
            while not predicate():
                await self._changed.wait()


@pytest.fixture
def output() -> Iterator[Output]:
    logger = logging.getLogger("engine.supervisor")
    handler, level = Output(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def py(name: str, code: str, **kwargs: object) -> ProcessSpec:
    return ProcessSpec.model_validate({"name": name, "command": [PY, "-c", code], **kwargs})


def alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (killed, waiting for a parent that is gone) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ---- the backoff table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "uptime_s", "expected"),
    [
        (0, 0.0, RestartPlan(0.1, 1)),        # first crash: the initial delay
        (1, 0.0, RestartPlan(0.2, 2)),        # then doubling
        (2, 5.0, RestartPlan(0.4, 3)),
        (3, 29.9, RestartPlan(0.8, 4)),       # still a quick exit
        (4, 0.0, RestartPlan(1.0, 5)),        # capped at max_backoff_ms
        (10_000, 0.0, RestartPlan(1.0, 10_001)),
        (7, 30.0, RestartPlan(0.1, 1)),       # stayed up 30 s: start over
        (7, 3600.0, RestartPlan(0.1, 1)),
    ],
)
def test_plan_restart_table(failures: int, uptime_s: float, expected: RestartPlan) -> None:
    policy = RestartPolicy(initial_backoff_ms=100, max_backoff_ms=1000)
    assert plan_restart(policy, failures, uptime_s) == expected


def test_plan_restart_custom_stability_window() -> None:
    policy = RestartPolicy(initial_backoff_ms=100, max_backoff_ms=1000)
    assert plan_restart(policy, 3, 5.0, stable_after_s=5.0) == RestartPlan(0.1, 1)
    assert plan_restart(policy, 3, 4.9, stable_after_s=5.0) == RestartPlan(0.8, 4)


# ---- worker_env --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ((), None),
        ((("c", "client", None),), None),
        ((("s", "system", None), ("w", "worker", None)), "w"),
        ((("wr", "worker", "acme"), ("s", "system", None)), "s"),
        ((("wr", "worker", "acme"),), None),
    ],
)
def test_worker_env_token_choice(tokens: tuple[tuple[str, str, str | None], ...], expected: str | None) -> None:
    config = NodeConfig() if not tokens else NodeConfig.model_validate(
        {"engine": {"auth": {"tokens": [{"token": t, "role": r, "realm": realm} for t, r, realm in tokens]}}})
    env = worker_env(config, "ws://127.0.0.1:1")
    assert env["AGENTOS_URL"] == "ws://127.0.0.1:1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env.get("AGENTOS_TOKEN") == expected


# ---- running processes -----------------------------------------------------------------------------


async def test_env_is_passed_with_spec_env_winning(output: Output) -> None:
    code = ("import os; print(os.environ['AGENTOS_URL'], os.environ['FOO'], "
            "os.environ['PYTHONUNBUFFERED'], os.environ.get('HOME') is not None)")
    spec = py("envy", code, env={"FOO": "from-spec", "AGENTOS_URL": "ws://spec"})
    async with Supervisor([spec], env_base={"AGENTOS_URL": "ws://base", "FOO": "from-base"},
                          sleep=lambda s: anyio.sleep_forever()):
        await output.wait_for(lambda: bool(output.lines("envy")))
    assert output.lines("envy") == ["ws://spec from-spec 1 True"]


async def test_long_lines_are_cut_and_partial_lines_flushed(output: Output) -> None:
    code = "import sys; sys.stdout.write('x' * 70000 + '\\nlast words without newline')"
    async with Supervisor([py("chatty", code)], sleep=lambda s: anyio.sleep_forever()):
        await output.wait_for(lambda: "last words without newline" in output.lines("chatty"))
    assert [len(line) for line in output.lines("chatty")[:2]] == [MAX_LINE_BYTES, 70000 - MAX_LINE_BYTES]
    assert {getattr(r, "proc_stream", None) for r in output.records if getattr(r, "proc_name", "") == "chatty"} == {"stdout"}


async def test_module_spec_runs_with_the_given_python(output: Output) -> None:
    spec = ProcessSpec(name="zen", module="this")
    async with Supervisor([spec], python=PY, sleep=lambda s: anyio.sleep_forever()):
        await output.wait_for(lambda: "The Zen of Python, by Tim Peters" in output.lines("zen"))


async def test_crashing_process_is_restarted_with_backoff(output: Output) -> None:
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 4:
            await anyio.sleep_forever()  # park in BACKOFF so the count is exact

    spec = py("crashy", "import sys; print('run', flush=True); sys.exit(3)",
              restart={"initial_backoff_ms": 10, "max_backoff_ms": 40})
    async with Supervisor([spec], sleep=fake_sleep, clock=lambda: 0.0) as sup:
        await output.wait_for(lambda: len(delays) == 4)
        stats = sup.statistics()["crashy"]
        assert stats.state is ProcessState.BACKOFF
        assert stats.restarts == 3
        assert stats.last_exit_code == 3
    assert output.lines("crashy") == ["run"] * 4
    assert delays == [0.01, 0.02, 0.04, 0.04]
    assert sup.statistics()["crashy"].state is ProcessState.STOPPED


async def test_a_run_that_stayed_up_resets_the_backoff(output: Output) -> None:
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 3:
            await anyio.sleep_forever()

    ticks = itertools.count(0.0, 31.0)  # every run "lasts" 31 s
    spec = py("flappy", "pass", restart={"initial_backoff_ms": 10, "max_backoff_ms": 40})
    async with Supervisor([spec], sleep=fake_sleep, clock=lambda: next(ticks)):
        await output.wait_for(lambda: len(delays) == 3)
    assert delays == [0.01, 0.01, 0.01]


async def test_spawn_failure_is_retried_with_backoff(output: Output) -> None:
    delays: list[float] = []
    parked = anyio.Event()

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        parked.set()
        await anyio.sleep_forever()

    spec = ProcessSpec(name="missing", command=["/nonexistent/agentos-worker"])
    async with Supervisor([spec], sleep=fake_sleep) as sup:
        with anyio.fail_after(10):
            await parked.wait()
        assert sup.statistics()["missing"].pid is None
    assert delays == [0.5]
    assert any("cannot start process missing" in r.getMessage() for r in output.records)


async def test_disabled_process_is_never_started() -> None:
    spec = ProcessSpec(name="off", command=["/nonexistent/never"], enabled=False)
    async with Supervisor([spec]) as sup:
        assert sup.statistics()["off"].state is ProcessState.DISABLED
    assert sup.statistics()["off"].pid is None


async def test_process_ignoring_sigterm_is_sigkilled(output: Output) -> None:
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    async with Supervisor([py("stubborn", code)], term_timeout_s=0.2) as sup:
        await output.wait_for(lambda: "ready" in output.lines("stubborn"))
        pid = sup.statistics()["stubborn"].pid
        assert pid is not None and alive(pid)
    stats = sup.statistics()["stubborn"]
    assert stats.last_exit_code == -9
    assert stats.state is ProcessState.STOPPED
    assert not alive(pid)
    assert any("ignored SIGTERM" in r.getMessage() for r in output.records)


async def test_no_process_survives_the_supervisor(output: Output) -> None:
    # A worker that forks a helper which ignores SIGTERM: the group kill must reach the helper.
    forker = (
        "import os, subprocess, sys, time\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(\"helper ready\", flush=True); "
        "time.sleep(60)'])\n"
        "print('pids', os.getpid(), helper.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    polite = "import time; print('up', flush=True); time.sleep(60)"
    with anyio.fail_after(4):  # well under the 5 s SIGTERM grace: nobody waits for it
        async with Supervisor([py("forker", forker), py("polite", polite)]) as sup:
            await output.wait_for(lambda: "helper ready" in output.lines("forker")
                                  and "up" in output.lines("polite"))
            pids_line = next(line for line in output.lines("forker") if line.startswith("pids"))
            pids = [int(p) for p in pids_line.split()[1:]] + [sup.statistics()["polite"].pid or 0]
            assert all(alive(pid) for pid in pids)
            # The helper is not our child: watch it through a pidfd, opened while it surely
            # is the same process, to see the SIGKILL land without polling.
            helper_fd = os.pidfd_open(pids[1])
    try:
        with anyio.fail_after(2):
            await anyio.wait_readable(helper_fd)  # readable once the helper has terminated
    finally:
        os.close(helper_fd)
    assert [pid for pid in pids if alive(pid)] == []
    assert {s.state for s in sup.statistics().values()} == {ProcessState.STOPPED}
    assert sup.statistics()["polite"].last_exit_code == -15


# ---- a SIGKILLed `agentos start` (Linux: the parent-death signal) -------------------------------

AGENTOS = ([str(Path(PY).with_name("agentos"))] if Path(PY).with_name("agentos").exists()
           else [PY, "-m", "engine"])
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOS_")}
ORPHAN_DEADLINE = 5.0
"""How long the workers of a killed supervisor may take to exit (they get SIGTERM at once)."""

SIGNAL_RECORDER = """
import os, pathlib, signal, sys, time

def stop(signum, frame):
    pathlib.Path(sys.argv[1]).write_text(signal.Signals(signum).name)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
print("pid", os.getpid(), flush=True)
while True:
    time.sleep(60)
"""

linux_only = pytest.mark.skipif(not hasattr(os, "pidfd_open"),
                                reason="PR_SET_PDEATHSIG and pidfds are Linux-only")


class Lines:
    """A child's stream, line by line; ``wait_for`` wakes on each new line (no polling)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = anyio.Event()

    async def pump(self, stream: ByteReceiveStream) -> None:
        buf = b""
        async for chunk in stream:
            *complete, buf = (buf + chunk).split(b"\n")
            self.lines += [line.decode(errors="replace") for line in complete]
            self._changed.set()
            self._changed = anyio.Event()

    async def wait_for(self, needle: str) -> str:
        with anyio.fail_after(10):
            while (found := next((line for line in self.lines if needle in line), None)) is None:
                await self._changed.wait()
        return found


@linux_only
async def test_workers_of_a_sigkilled_agentos_start_get_sigterm(tmp_path: Path) -> None:
    recorder = tmp_path / "recorder.py"
    recorder.write_text(SIGNAL_RECORDER)
    names = ["first", "second"]
    config = tmp_path / "config.yaml"
    config.write_text(
        f"engine:\n  port: 0\ndata_dir: {json.dumps(str(tmp_path / 'data'))}\nprocesses:\n" + "".join(
            f"  - name: {name}\n    command: {json.dumps([PY, str(recorder), str(tmp_path / name)])}\n"
            for name in names))
    stderr, pids, pidfds = Lines(), [], []
    try:
        async with await anyio.open_process([*AGENTOS, "start", "--config", str(config)],
                                            stdout=subprocess.DEVNULL, env=CLEAN_ENV) as engine:
            async with anyio.create_task_group() as tg:
                assert engine.stderr is not None
                tg.start_soon(stderr.pump, engine.stderr)
                for name in names:
                    pids.append(int((await stderr.wait_for(f"[{name}] pid ")).rsplit(" ", 1)[1]))
                # Opened while they surely are our workers (children of a live `agentos start`).
                pidfds = [os.pidfd_open(pid) for pid in pids]
                engine.kill()  # SIGKILL: no chance to stop anything
                with anyio.fail_after(ORPHAN_DEADLINE):
                    assert await engine.wait() == -signal.SIGKILL
        with anyio.fail_after(ORPHAN_DEADLINE):
            for fd in pidfds:
                await anyio.wait_readable(fd)  # a pidfd turns readable when its process exits
        assert [(tmp_path / name).read_text() for name in names] == ["SIGTERM"] * len(names)
        assert [pid for pid in pids if alive(pid)] == []
    finally:
        for fd in pidfds:
            os.close(fd)
        for pid in pids:  # a failed run must not leak its orphans into the rest of the suite
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@linux_only
async def test_the_hook_sets_the_signal_and_refuses_once_the_parent_is_gone() -> None:
    # In a process of its own: the hook changes the process that runs it. Made by this process
    # and run by it too, it sees a parent that is not the one it recorded (as a child forked just
    # before the supervisor died would) and refuses to let the exec go on.
    code = (
        "import ctypes, signal\n"
        "from engine.supervisor import _die_with_parent\n"
        "hook = _die_with_parent(signal.SIGUSR1)\n"
        "try:\n"
        "    hook()\n"
        "except ChildProcessError as exc:\n"
        "    print('refused:', exc)\n"
        "got = ctypes.c_int()\n"
        "ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0)  # PR_GET_PDEATHSIG\n"
        "print('pdeathsig', got.value)\n"
    )
    with anyio.fail_after(10):
        done = await anyio.run_process([PY, "-c", code], check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [
        "refused: the supervisor exited before the worker started", f"pdeathsig {int(signal.SIGUSR1)}"]
