"""Shared plumbing for the benchmarks: child processes, their report lines, and result tables.

Theory of operation
-------------------
A benchmark is an orchestrator plus a few child processes (a bus, a callee, a caller…). The
orchestrator owns every child through one :class:`Procs` context manager::

    with Procs() as procs:
        bus = procs.spawn("bus", [...])
        port = bus.wait_for(r"ready bus=ws://[^:]+:(\\d+)")   # readiness from stdout
        caller = procs.spawn("caller", [...])
        numbers = caller.result()                             # its one JSON line

Each child runs in its own session, so in its own process group. A terminal Ctrl-C reaches only
the orchestrator. Its ``KeyboardInterrupt`` unwinds through ``Procs.__exit__``, which sends
SIGTERM to every group, waits briefly, then SIGKILLs what is left. :func:`signals_unwind` turns
SIGTERM and SIGHUP into the same unwinding. A reader thread per child queues its stdout lines,
so every wait has a timeout, and a child that dies is reported with the tail of its stderr
instead of hanging.

Measurement children print exactly one JSON object line on stdout with their numbers
(:func:`report`); anything else on stdout is a progress line the orchestrator may wait for.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import IO, Any

__all__ = [
    "Child",
    "ChildFailed",
    "Procs",
    "emit",
    "free_port",
    "format_table",
    "median",
    "percentile",
    "report",
    "signals_unwind",
]

_EOF = object()


class ChildFailed(RuntimeError):
    """A child exited, or did not say what we waited for in time."""


class Child:
    """One child process in its own process group. Create it with :meth:`Procs.spawn`."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None,
                 cwd: str | None) -> None:
        self.name = name
        self.argv = list(argv)
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            env=None if env is None else {**os.environ, **env}, cwd=cwd,
            start_new_session=True, text=True, bufsize=1,
        )
        self._lines: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._pump, name=f"stdout-{name}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(_EOF)

    def next_line(self, timeout: float) -> str:
        """The next stdout line.

        Raises:
            ChildFailed: the child closed stdout (exited) or said nothing for ``timeout`` s.
        """
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ChildFailed(f"{self.name}: no output for {timeout:.0f}s{self.stderr_tail()}") from None
        if line is _EOF:
            self._lines.put(_EOF)  # stay at EOF for later readers
            code = self.popen.wait()
            raise ChildFailed(f"{self.name} exited with code {code}{self.stderr_tail()}")
        return str(line)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Skip stdout lines until one matches the regex ``pattern``; return the match."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            line = self.next_line(max(0.001, deadline - time.monotonic()))
            found = regex.search(line)
            if found:
                return found

    def result(self, timeout: float = 60.0) -> dict[str, Any]:
        """The child's JSON report line (see :func:`report`); other lines are skipped."""
        line = self.wait_for(r"^\{.*\}$", timeout).group(0)
        value = json.loads(line)
        if not isinstance(value, dict):
            raise ChildFailed(f"{self.name}: report is not an object: {line!r}")
        return value

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit on its own; return its exit code.

        Raises:
            ChildFailed: it is still running after ``timeout`` s, or exited non-zero.
        """
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ChildFailed(f"{self.name} still running after {timeout:.0f}s") from None
        if code != 0:
            raise ChildFailed(f"{self.name} exited with code {code}{self.stderr_tail()}")
        return code

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM the child's process group, then SIGKILL it after ``grace`` s. Idempotent."""
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(grace)
        self._signal(signal.SIGKILL)  # stragglers the child left in its group
        self._stderr.close()
        return self.popen.returncode

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the child (all its threads), from ``/proc``.

        Linux only; the resolution is one clock tick (usually 10 ms), so time a window of
        seconds, not milliseconds.
        """
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def stderr_tail(self, lines: int = 15) -> str:
        """The last ``lines`` of the child's stderr, indented, for an error message."""
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return "\n  stderr: " + "\n  stderr: ".join(text[-lines:]) if text else ""


class Procs:
    """Owns child processes; leaving the block stops them all (also on errors and Ctrl-C)."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def spawn(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: str | None = None) -> Child:
        """Start ``argv`` in a new process group (stdin closed, stdout read line by line)."""
        child = Child(name, argv, env, cwd)
        self._children.append(child)
        return child

    def stop(self, child: Child) -> int | None:
        """Stop one child now and forget it."""
        if child in self._children:
            self._children.remove(child)
        return child.stop()

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        while self._children:  # newest first: clients before the bus they talk to
            self._children.pop().stop()


@contextmanager
def signals_unwind() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt``.

    Cleanup then runs as it does for Ctrl-C. SIGINT is set explicitly because a shell starts
    background jobs with SIGINT ignored.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for servers that cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def emit(text: str = "", *, err: bool = False) -> None:
    """Write a line for the human (stdout) or a progress note (``err=True``: stderr)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def report(numbers: Mapping[str, Any]) -> None:
    """From a measurement child: print its numbers as the one JSON line the orchestrator reads."""
    emit(json.dumps(dict(numbers), separators=(",", ":")))
