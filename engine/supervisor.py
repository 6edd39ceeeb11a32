"""The worker processes of a node: started with the engine, restarted when they crash, never orphaned.

Theory of operation
-------------------
``async with Supervisor(config.processes, env_base=…) as sup`` spawns every enabled
:class:`~engine.config.ProcessSpec` once (``__aenter__`` returns when each has a pid) and then
keeps each one alive from its own task in the supervisor's task group (any exit, code 0 included,
is followed by a restart: workers are meant to run until the node stops):

    STOPPED ─► STARTING ─► RUNNING ─(exits by itself)─► BACKOFF ─(delay)─► STARTING …
                  │            └──(supervisor leaves)─► STOPPING ─► STOPPED
                  └──(spawn fails)─► BACKOFF                 BACKOFF ─(supervisor leaves)─► STOPPED

Every child runs in its **own process group** (``start_new_session=True``), for two reasons: a
Ctrl-C in the terminal reaches only ``agentos start``, which then stops the workers in order; and
stopping a worker means signalling its whole group, so the helpers a worker forked go with it.
Stopping is SIGTERM to the group, up to ``term_timeout_s`` for the worker to exit, then SIGKILL to
the group. After the leader is gone the group is SIGKILLed once more, which reaps stragglers that
ignored SIGTERM. (Linux does not reuse a pid while it still names a process group, so signalling
the group of a reaped leader cannot hit an unrelated process.)

Restart delays come from :func:`plan_restart`, a pure function of the spec's
:class:`~engine.config.RestartPolicy`, the number of quick exits in a row and how long the process
stayed up: ``initial_backoff_ms`` doubling up to ``max_backoff_ms``, back to the start once a run
lasted ``stable_after_s``. Time is a parameter: ``clock`` measures uptime and ``sleep`` waits out
the delay, so tests drive restarts without waiting.

stdout and stderr of each child are read line by line (lines are cut at :data:`MAX_LINE_BYTES`) and
logged on ``engine.supervisor`` as ``[name] line``, with ``proc_name`` and ``proc_stream`` on the
record. The readers keep going while a worker shuts down, so its last words are not lost, and are
given :data:`DRAIN_S` after it exited in case a detached grandchild still holds the pipe.

If ``agentos start`` itself dies without stopping them (SIGKILL, the OOM killer, a crash), Linux
stops the workers instead: each child asks the kernel, between fork and exec, for a SIGTERM when
its parent dies (``prctl(PR_SET_PDEATHSIG)``, :func:`_die_with_parent`), and SIGTERM is what an
orderly stop sends first. Three things to know about it:

* The signal follows the *thread* that forked, not the process: a child forked from a thread
  gets SIGTERM as soon as that thread ends, even if the process lives on. asyncio (uvloop
  included) forks on the event-loop thread, which in ``agentos start`` is the main thread and
  lasts as long as the process. Never spawn from ``to_thread``; trio forks in worker threads that
  end when idle, so on trio the hook is left off (:func:`_spawn`).
* It reaches the worker only, not the helpers it forked (the group kill above needs us alive); a
  worker that forks should stop its helpers on SIGTERM, or give them the same hook.
* It is Linux-only. Elsewhere (macOS has no such prctl) :func:`_die_with_parent` is a no-op and a
  SIGKILLed ``agentos start`` still leaves its workers running.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from anyio._core._eventloop import get_async_backend
from anyio.abc import ByteReceiveStream, Process, TaskGroup, TaskStatus

from .errors import InvalidState

if TYPE_CHECKING:
    from .config import NodeConfig, ProcessSpec, RestartPolicy

__all__ = [
    "DRAIN_S", "MAX_LINE_BYTES", "ProcessState", "ProcessStatistics", "RestartPlan", "Supervisor",
    "plan_restart", "worker_env",
]

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
"""A longer line of child output is logged in pieces of this size."""

DRAIN_S = 1.0
"""How long the output readers may run on after a child exited (a grandchild may hold the pipe)."""


class ProcessState(enum.Enum):
    DISABLED = "disabled"
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"


_S = ProcessState
_TRANSITIONS: dict[ProcessState, frozenset[ProcessState]] = {
    _S.DISABLED: frozenset(),
    _S.STOPPED: frozenset({_S.STARTING}),
    _S.STARTING: frozenset({_S.RUNNING, _S.BACKOFF, _S.STOPPED}),
    _S.RUNNING: frozenset({_S.BACKOFF, _S.STOPPING}),
    _S.BACKOFF: frozenset({_S.STARTING, _S.STOPPED}),
    _S.STOPPING: frozenset({_S.STOPPED}),
}


class RestartPlan(NamedTuple):
    """What to do after a process exited: wait ``delay_s``, then restart with ``failures`` set."""

    delay_s: float
    failures: int


def plan_restart(policy: RestartPolicy, failures: int, uptime_s: float, *,
                 stable_after_s: float = 30.0) -> RestartPlan:
    """Compute the delay before restarting a process that just exited. Pure.

    Args:
        policy: the spec's backoff bounds.
        failures: quick exits in a row before this one (0 after a fresh or a stable run).
        uptime_s: how long the run that just ended lasted.
        stable_after_s: a run at least this long resets the backoff to ``initial_backoff_ms``.

    Returns:
        The delay (``initial × 2^failures``, capped at ``max_backoff_ms``) and the new count.
    """
    if uptime_s >= stable_after_s:
        failures = 0
    delay_ms = min(policy.initial_backoff_ms * 2 ** min(failures, 32), policy.max_backoff_ms)
    return RestartPlan(delay_ms / 1000, failures + 1)


def worker_env(config: NodeConfig, url: str) -> dict[str, str]:
    """The variables every supervised process gets on top of ``os.environ``.

    ``AGENTOS_URL`` is the bus; ``AGENTOS_TOKEN`` is the first realm-less ``worker`` token of the
    config, else the first ``system`` token, else absent (open mode needs none).
    """
    env = {"AGENTOS_URL": url, "PYTHONUNBUFFERED": "1"}
    tokens = config.engine.auth.tokens
    chosen = next((t for t in tokens if t.role == "worker" and t.realm is None), None)
    chosen = chosen or next((t for t in tokens if t.role == "system"), None)
    if chosen is not None:
        env["AGENTOS_TOKEN"] = chosen.token.get_secret_value()
    return env


class ProcessStatistics(NamedTuple):
    """One supervised process as :meth:`Supervisor.statistics` reports it."""

    name: str
    pid: int | None
    restarts: int
    state: ProcessState
    last_exit_code: int | None


@dataclass(eq=False)
class _Proc:
    spec: ProcessSpec
    state: ProcessState = ProcessState.STOPPED
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    failures: int = 0
    started: bool = False

    def advance(self, new: ProcessState) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise InvalidState(f"process {self.spec.name}: {self.state.value} -> {new.value}")
        self.state = new


class Supervisor:
    """Runs a node's worker processes; see the module docstring for the lifecycle."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        python: str = sys.executable,
        env_base: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        stable_after_s: float = 30.0,
        term_timeout_s: float = 5.0,
    ) -> None:
        """Prepare (not start) the processes.

        Args:
            specs: the processes; disabled ones are listed in statistics but never started.
            python: the interpreter that runs ``module:`` specs.
            env_base: variables over ``os.environ`` for every process (see :func:`worker_env`);
                a spec's own ``env`` overrides them.
            clock: monotonic seconds, to measure uptime.
            sleep: waits out a restart delay.
            stable_after_s: uptime after which the backoff starts over.
            term_timeout_s: grace between SIGTERM and SIGKILL when stopping.
        """
        self._procs = [_Proc(spec, ProcessState.STOPPED if spec.enabled else ProcessState.DISABLED)
                       for spec in specs]
        self._python = python
        self._env_base = dict(env_base or {})
        self._clock, self._sleep = clock, sleep
        self._stable_after_s, self._term_timeout_s = stable_after_s, term_timeout_s
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> Supervisor:
        """Spawn every enabled process once; returns when each has been spawned (or failed to)."""
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        try:
            for proc in self._procs:
                if proc.state is not ProcessState.DISABLED:
                    await self._tg.start(self._supervise, proc)
        except BaseException:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(*sys.exc_info())
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        """Stop every process (concurrently, SIGTERM then SIGKILL) and wait until all are gone."""
        assert self._tg is not None, "Supervisor left without being entered"
        self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(*exc)

    def statistics(self) -> dict[str, ProcessStatistics]:
        """Each process by name: pid (of the current or last run), restarts, state, last exit code."""
        return {p.spec.name: ProcessStatistics(p.spec.name, p.pid, p.restarts, p.state, p.last_exit_code)
                for p in self._procs}

    # -- one process -----------------------------------------------------------------------

    async def _supervise(self, proc: _Proc, *, task_status: TaskStatus[None]) -> None:
        try:
            while True:
                proc.advance(ProcessState.STARTING)
                started_at = self._clock()
                try:
                    process = await _spawn(proc.spec.argv(self._python), self._env(proc.spec))
                except (OSError, subprocess.SubprocessError) as exc:  # (the latter: preexec_fn)
                    log.error("cannot start process %s (%s): %s", proc.spec.name,
                              " ".join(proc.spec.argv(self._python)), exc)
                    proc.last_exit_code = None
                else:
                    proc.pid = process.pid
                    proc.advance(ProcessState.RUNNING)
                    log.info("started process %s (pid %d)", proc.spec.name, process.pid)
                    self._mark_started(proc, task_status)
                    code = await self._run(proc, process)
                    log.warning("process %s (pid %d) exited with code %s", proc.spec.name,
                                process.pid, code)
                self._mark_started(proc, task_status)
                proc.advance(ProcessState.BACKOFF)
                delay, proc.failures = plan_restart(proc.spec.restart, proc.failures,
                                                    self._clock() - started_at,
                                                    stable_after_s=self._stable_after_s)
                log.info("restarting process %s in %.3gs", proc.spec.name, delay)
                await self._sleep(delay)
                proc.restarts += 1
        finally:
            if proc.state is not ProcessState.STOPPED:
                proc.advance(ProcessState.STOPPED)

    def _mark_started(self, proc: _Proc, task_status: TaskStatus[None]) -> None:
        if not proc.started:
            proc.started = True
            task_status.started()

    def _env(self, spec: ProcessSpec) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1", **self._env_base, **spec.env}

    async def _run(self, proc: _Proc, process: Process) -> int | None:
        """Wait for ``process`` to exit, forwarding its output; stop it if we are cancelled."""
        readers = anyio.CancelScope(shield=True)  # outlives our cancellation: last log lines
        drained = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._forward, proc.spec.name, process, readers, drained)
                try:
                    await process.wait()
                finally:
                    with anyio.CancelScope(shield=True):
                        if process.returncode is None:
                            proc.advance(ProcessState.STOPPING)
                        await self._stop_group(proc.spec.name, process)
                        with anyio.move_on_after(DRAIN_S):
                            await drained.wait()
                        readers.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await process.aclose()
            proc.last_exit_code = process.returncode
        return process.returncode

    async def _stop_group(self, name: str, process: Process) -> None:
        if process.returncode is None:
            log.info("stopping process %s (pid %d)", name, process.pid)
            _killpg(process.pid, signal.SIGTERM)
            with anyio.move_on_after(self._term_timeout_s):
                await process.wait()
            if process.returncode is None:
                log.warning("process %s (pid %d) ignored SIGTERM for %.3gs; sending SIGKILL",
                            name, process.pid, self._term_timeout_s)
                _killpg(process.pid, signal.SIGKILL)
                await process.wait()
            log.info("process %s (pid %d) stopped with code %s", name, process.pid,
                     process.returncode)
        _killpg(process.pid, signal.SIGKILL)  # whatever the leader left behind in its group

    async def _forward(self, name: str, process: Process, scope: anyio.CancelScope,
                       drained: anyio.Event) -> None:
        try:
            with scope:
                async with anyio.create_task_group() as tg:
                    for kind, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
                        if stream is not None:
                            tg.start_soon(_forward_lines, name, kind, stream)
        finally:
            drained.set()


async def _forward_lines(name: str, kind: str, stream: ByteReceiveStream) -> None:
    buf = bytearray()
    try:
        async for chunk in stream:
            buf += chunk
            while (end := buf.find(b"\n")) >= 0:
                _emit(name, kind, buf[:end])
                del buf[: end + 1]
            while len(buf) >= MAX_LINE_BYTES:
                _emit(name, kind, buf[:MAX_LINE_BYTES])
                del buf[:MAX_LINE_BYTES]
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    if buf:
        _emit(name, kind, buf)


def _emit(name: str, kind: str, raw: bytes | bytearray) -> None:
    line = bytes(raw).decode("utf-8", errors="replace").rstrip("\r")
    log.info("[%s] %s", name, line, extra={"proc_name": name, "proc_stream": kind})


async def _spawn(argv: list[str], env: dict[str, str]) -> Process:
    """Start one worker: its own session, output piped to us, SIGTERM when we die (Linux).

    Raises:
        OSError: the command cannot be run (missing, not executable, …).
        subprocess.SubprocessError: the parent-death hook failed in the child.
    """
    options: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE,
                               "stderr": subprocess.PIPE, "env": env, "start_new_session": True}
    hook = _die_with_parent(signal.SIGTERM) if _on_asyncio() else None
    if hook is None:
        return await anyio.open_process(argv, **options)
    # anyio.open_process() takes no preexec_fn; the backend's open_process() passes extra keywords
    # on to loop.subprocess_exec(), where subprocess.Popen and uvloop both accept it.
    return await get_async_backend().open_process(argv, preexec_fn=hook, **options)


def _on_asyncio() -> bool:
    """True on asyncio (or uvloop), which forks on the loop thread; trio forks in worker threads."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, typed for ctypes; None off Linux or without one."""
    if not sys.platform.startswith("linux"):
        return None  # macOS and the BSDs have no parent-death signal: see the module docstring
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()  # looked up once, here: the child between fork and exec only calls it


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` by which a child asks Linux for ``sig`` when the forking thread dies.

    Call it in the parent, right before spawning (it records the parent's pid). The hook runs in
    the child between fork and exec, where little is safe, so it only calls the ``prctl`` loaded
    at import and ``getppid``. The signal survives ``exec`` (not into a set-user-ID program).

    Returns:
        The hook, or None where there is no parent-death signal (not Linux): spawn without one.
    """
    prctl, parent = _PRCTL, os.getpid()
    if prctl is None:
        return None

    def hook() -> None:
        if prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the supervisor died before prctl: no signal will come
            raise ChildProcessError("the supervisor exited before the worker started")

    return hook


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # the group is already empty
    except PermissionError:  # pragma: no cover - the child changed its uid
        log.warning("cannot send %s to process group %d: permission denied", sig.name, pgid)
