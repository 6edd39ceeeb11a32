"""``tool::shell_exec``: run one allowlisted binary, without a shell, in the agent's workspace.

What makes it safe enough, and what it is not:

* **No shell.** ``argv`` is exec'd directly; ``;``, ``|``, ``$(…)``, ``>``, globs and quotes are
  ordinary bytes of an argument. There is nothing to inject into.
* **Allowlisted binaries only.** ``argv[0]`` must be a bare name on ``shell.allowlist``, looked
  up in ``shell.path`` alone (never the worker's PATH, never a path the caller gives).
* **Scrubbed environment:** ``PATH`` (the fixed one), ``HOME`` (the workspace), ``LANG`` —
  nothing else of the worker's environment (tokens, keys) reaches the child.
* **Bounded:** a timeout, after which the whole process group (``start_new_session``) is
  killed; stdout and stderr captured up to a cap each, the rest drained and dropped.
* **Path arguments:** with ``refuse_path_args`` (default), an argument that is an absolute path
  or climbs with ``..`` — also after an ``=`` (``--file=/etc/passwd``) — is refused, and the
  ``cwd`` is a workspace directory reached without following symlinks.
* **Taint:** it is a ``shell`` sink (:mod:`.sinks`), checked first: a run that has read
  untrusted content (or holds secrets), or a command line carrying a secret, runs nothing.

It is **not** a confinement boundary: an allowlisted binary runs with the worker's user and
could still read what that user can through means the argument check does not see. The
allowlist is kept to read-only text tools for that reason; code belongs in ``tool::code_exec``
(the WASM sandbox). OS-level confinement (namespaces, seccomp) is not done here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from anyio.abc import ByteReceiveStream, Process
from pydantic import Field

from workers.sdk import Context

from .config import ShellSettings, ToolsConfig
from .errors import CommandNotAllowed, InvalidArguments
from .files import Files
from .identity import Request, caller_of, parse
from .sinks import Gate

__all__ = ["Shell", "ShellRequest", "check_argv"]

Arg = Annotated[str, Field(max_length=4096)]


class ShellRequest(Request):
    argv: list[Arg] = Field(min_length=1, max_length=64, description=(
        "The command and its arguments, e.g. [\"grep\", \"-n\", \"TODO\", \"notes.md\"]. "
        "No shell: quotes, pipes and ; are passed literally."))
    cwd: Annotated[str, Field(max_length=4096)] = Field(".", description="A directory in your workspace")
    timeout_s: Annotated[float, Field(gt=0)] | None = Field(None, description="Seconds before the command is killed")


def _climbs_or_absolute(value: str) -> bool:
    return value.startswith(("/", "~")) or ".." in value.split("/")


def check_argv(argv: list[str], settings: ShellSettings) -> str:
    """The absolute path of ``argv[0]``, after checking the whole command.

    Raises:
        CommandNotAllowed: a binary off the allowlist or not found in ``settings.path``, or a
            path argument.
        InvalidArguments: NUL in an argument, too many or too long arguments.
    """
    if len(argv) > settings.max_args:
        raise InvalidArguments(f"at most {settings.max_args} arguments")
    for arg in argv:
        if "\x00" in arg:
            raise InvalidArguments("arguments may not contain NUL")
        if len(arg) > settings.max_arg_chars:
            raise InvalidArguments(f"an argument is longer than {settings.max_arg_chars} characters")
    name = argv[0]
    if name not in settings.allowlist:
        raise CommandNotAllowed(f"{name!r} is not an allowed command (allowed: "
                                f"{', '.join(settings.allowlist)})")
    binary = shutil.which(name, path=settings.path)
    if binary is None:
        raise CommandNotAllowed(f"{name!r} is allowed but not installed in {settings.path}")
    if settings.refuse_path_args:
        for arg in argv[1:]:
            value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
            if _climbs_or_absolute(value):
                raise CommandNotAllowed(f"argument {arg!r} leaves the workspace: use paths "
                                        "relative to it, without '..'")
    return binary


class _Capture:
    def __init__(self, cap: int) -> None:
        self.cap, self.data, self.dropped = cap, bytearray(), 0

    async def drain(self, stream: ByteReceiveStream) -> None:
        async for chunk in stream:
            room = max(self.cap - len(self.data), 0)
            self.data += chunk[:room]
            self.dropped += max(len(chunk) - room, 0)


class Shell:
    """The shell tool over one config.

    Args:
        files: where workspaces come from.
        gate: the taint check.
        clock: monotonic seconds (durations).
    """

    def __init__(self, config: ToolsConfig, files: Files, gate: Gate, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.files, self.gate, self.clock = config, files, gate, clock

    async def exec(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(ShellRequest, data)
        caller = caller_of(ctx, self.config)
        settings = self.config.shell
        timeout = req.timeout_s or settings.default_timeout_s
        if timeout > settings.max_timeout_s:
            raise InvalidArguments(f"timeout_s {timeout} exceeds the cap of {settings.max_timeout_s}")
        # before check_argv: its refusals quote arguments, which must not carry secrets
        await self.gate.enforce(ctx, caller, "shell", f"{' '.join(req.argv)}\n{req.cwd}",
                                what="the command line")
        binary = check_argv(req.argv, settings)
        workspace = await anyio.to_thread.run_sync(self.files.workspace, caller)
        cwd = await anyio.to_thread.run_sync(workspace.directory, req.cwd)
        env = {"PATH": settings.path, "HOME": str(workspace.root), "LANG": "C.UTF-8"}
        out, err = _Capture(settings.max_output_bytes), _Capture(settings.max_output_bytes)
        started = self.clock()
        try:
            process = await anyio.open_process([binary, *req.argv[1:]], stdin=subprocess.DEVNULL,
                                               cwd=cwd, env=env, start_new_session=True)
        except OSError as exc:
            raise CommandNotAllowed(f"cannot run {req.argv[0]}: {exc.strerror or exc}") from exc
        timed_out = False
        try:
            with anyio.move_on_after(timeout) as scope:
                async with anyio.create_task_group() as tg:
                    assert process.stdout is not None and process.stderr is not None
                    tg.start_soon(out.drain, process.stdout)
                    tg.start_soon(err.drain, process.stderr)
                await process.wait()
            timed_out = scope.cancelled_caught
        except BaseException:
            timed_out = True  # cancelled: treat like a timeout (kill the group)
            raise
        finally:
            # on a timeout, stragglers of the group may hold the pipes even if the leader exited
            await _reap(process, kill=process.returncode is None or timed_out)
        return {
            "exit_code": process.returncode, "timed_out": timed_out,
            "stdout": out.data.decode("utf-8", "replace"),
            "stderr": err.data.decode("utf-8", "replace"),
            "truncated": {"stdout": out.dropped > 0, "stderr": err.dropped > 0},
            "duration_ms": round((self.clock() - started) * 1000, 3),
        }


async def _reap(process: Process, *, kill: bool) -> None:
    """Kill the whole process group if asked, then wait for the leader (shielded)."""
    with anyio.CancelScope(shield=True):
        if kill:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        await process.wait()
        await process.aclose()
