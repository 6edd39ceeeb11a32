"""The bridge to external runtimes: ``bridge::register/list/invoke/cancel/run``.

A runtime ``{name, kind: process|http, command|url, timeout_s, env, cwd}`` is registered by an
operator (scope ``bridge:runtimes`` of the default realm: what may run on this machine is not a
tenant's choice) and invoked by anyone, in the caller's realm:

* ``process``: ``command`` (argv) runs in a new session (its own process group) with the JSON
  ``input`` on stdin; its stdout must be one JSON document (the ``output``); a non-zero exit is
  ``failed`` with the tail of stderr. On timeout or cancel the whole process group is killed
  (SIGKILL), so nothing it spawned outlives the run.
* ``http``: ``POST url`` with the JSON ``input`` as body; a 2xx JSON answer is the ``output``.

Each run is a task in the control plane's task group (so ``wait: false`` returns at once with the
``run_id``), bounded by ``timeout_s``. Its record ``{run_id, runtime, kind, status:
running|completed|failed|timeout|cancelled, output, error, exit_code, started_at, finished_at,
duration_ms}`` is in the realm's scope ``bridge:runs`` (``bridge::run``), and its end is
published on ``bridge.run.completed``. ``bridge::cancel {run_id}`` stops a run of the caller's
realm that is still going.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
import httpx
from anyio.abc import Process
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from workers.sdk import Context, FunctionDef

from ._state import RealmState, act_in, parse, require_operator
from .errors import NotFound
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["Bridge", "Runtime"]

log = logging.getLogger(__name__)

RUNTIMES, RUNS = "bridge:runtimes", "bridge:runs"
TOPIC = "bridge.run.completed"
MAX_OUTPUT = 1024 * 1024
STDERR_TAIL = 4000
_REALM = AliasChoices("realm_id", "realm")


class Runtime(BaseModel):
    """A registered runtime (``bridge::register``'s payload)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Literal["process", "http"]
    command: list[str] | None = None
    url: str | None = Field(default=None, pattern=r"^https?://")
    timeout_s: float = Field(default=300.0, gt=0, le=86_400)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _argv(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _target(self) -> Runtime:
        if self.kind == "process" and not self.command:
            raise ValueError("a process runtime needs a command")
        if self.kind == "http" and not self.url:
            raise ValueError("an http runtime needs a url")
        return self


class InvokeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)
    runtime: str = Field(min_length=1, validation_alias=AliasChoices("runtime", "name"))
    input: Any = None
    wait: bool = True
    timeout_s: float | None = Field(default=None, gt=0)


class RunRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)
    run_id: str = Field(min_length=1)


@dataclass
class _Live:
    realm: str | None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    record: dict[str, Any] = field(default_factory=dict)


def _kill_group(proc: Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _drain(stream: Any, limit: int) -> bytes:
    kept = bytearray()
    if stream is None:
        return b""
    async for chunk in stream:
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return bytes(kept)


class Bridge:
    """The bridge functions and the runs in flight (tasks in the plane's task group)."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self._live: dict[str, _Live] = {}

    async def register(self, data: Any, ctx: Context) -> dict[str, Any]:
        runtime = parse(Runtime, data)
        await require_operator(ctx, "bridge::register")
        record = {**runtime.model_dump(), "registered_at": self.plane.clock()}
        await RealmState.of(ctx, None).set(RUNTIMES, runtime.name, record)
        return {**record, "env": sorted(runtime.env)}

    async def list_runtimes(self, data: Any, ctx: Context) -> dict[str, Any]:
        runtimes = await RealmState.of(ctx, None).list(RUNTIMES)
        return {"runtimes": [{**r, "env": sorted(r.get("env") or {})}
                             for r in runtimes if isinstance(r, dict)]}

    async def invoke(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(InvokeRequest, data)
        rs = await act_in(ctx, req.realm_id)
        stored = await rs.home().get(RUNTIMES, req.runtime)
        if not isinstance(stored, dict):
            raise NotFound(f"no runtime {req.runtime!r}")
        runtime = Runtime.model_validate(stored)
        timeout = min(req.timeout_s or runtime.timeout_s, runtime.timeout_s)
        live = _Live(rs.realm)
        live.record = {"run_id": f"run-{uuid.uuid4().hex[:16]}", "runtime": runtime.name,
                       "kind": runtime.kind, "status": "running", "started_at": self.plane.clock()}
        await rs.set(RUNS, live.record["run_id"], live.record)
        self._live[live.record["run_id"]] = live
        self.plane.spawn(self._run, rs, runtime, req.input, timeout, live)
        if not req.wait:
            return dict(live.record)
        await live.done.wait()
        return dict(live.record)

    async def cancel(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(RunRef, data)
        rs = await act_in(ctx, req.realm_id)
        live = self._live.get(req.run_id)
        if live is not None and live.realm == rs.realm:
            live.scope.cancel()
            await live.done.wait()
            return {**live.record, "cancelled": True}
        record = await rs.get(RUNS, req.run_id)
        if not isinstance(record, dict):
            raise NotFound(f"no run {req.run_id!r}")
        return {**record, "cancelled": False}

    async def run(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(RunRef, data)
        record = await (await act_in(ctx, req.realm_id)).get(RUNS, req.run_id)
        if not isinstance(record, dict):
            raise NotFound(f"no run {req.run_id!r}")
        return record

    async def cancel_realm(self, realm: str | None) -> int:
        """Cancel every run of ``realm`` still going, and wait for them to end."""
        live = [run for run in self._live.values() if run.realm == realm]
        for run in live:
            run.scope.cancel()
        for run in live:
            await run.done.wait()
        return len(live)

    # -- running ----------------------------------------------------------------------------

    async def _run(self, rs: RealmState, runtime: Runtime, payload: Any, timeout: float,
                   live: _Live) -> None:
        started = time.monotonic()
        outcome: dict[str, Any] | None = None
        try:
            with live.scope:
                with anyio.move_on_after(timeout) as deadline:
                    if runtime.kind == "process":
                        outcome = await self._process(runtime, payload)
                    else:
                        outcome = await self._http(runtime, payload, timeout)
                if deadline.cancelled_caught:
                    outcome = {"status": "timeout",
                               "error": {"code": "timeout", "message": f"no result within {timeout:g}s"}}
            if outcome is None:  # bridge::cancel came first
                outcome = {"status": "cancelled"}
        except Exception as exc:  # a bug or an OS error: the run fails, the worker goes on
            log.exception("bridge run %s of %s failed", live.record["run_id"], runtime.name)
            outcome = {"status": "failed", "error": {"code": "bridge_failed", "message": str(exc)}}
        live.record = {**live.record, "output": None, "error": None, "exit_code": None, **outcome,
                       "finished_at": self.plane.clock(),
                       "duration_ms": round((time.monotonic() - started) * 1000)}
        try:
            with anyio.CancelScope(shield=True):
                await rs.set(RUNS, live.record["run_id"], live.record)
                await rs.publish(TOPIC, {k: live.record.get(k) for k in (
                    "run_id", "runtime", "kind", "status", "exit_code", "duration_ms")})
        except Exception:
            log.exception("could not record the end of bridge run %s", live.record["run_id"])
        finally:
            self._live.pop(live.record["run_id"], None)
            live.done.set()

    async def _process(self, runtime: Runtime, payload: Any) -> dict[str, Any]:
        assert runtime.command is not None
        env = {**os.environ, **runtime.env} if runtime.env else None
        proc = await anyio.open_process(runtime.command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        cwd=runtime.cwd, env=env, start_new_session=True)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._feed, proc, json.dumps(payload).encode())
                stderr_task: list[bytes] = []

                async def read_stderr() -> None:
                    stderr_task.append(await _drain(proc.stderr, STDERR_TAIL * 4))

                tg.start_soon(read_stderr)
                stdout = await _drain(proc.stdout, MAX_OUTPUT)
            code = await proc.wait()
        finally:
            _kill_group(proc)  # whatever it spawned goes too, on every path
            with anyio.CancelScope(shield=True):
                await proc.aclose()
        stderr = (stderr_task or [b""])[0].decode(errors="replace")[-STDERR_TAIL:]
        if code != 0:
            return {"status": "failed", "exit_code": code, "stderr": stderr,
                    "error": {"code": "exit_status", "message": f"exited with status {code}"}}
        try:
            output = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            return {"status": "failed", "exit_code": code, "stderr": stderr,
                    "error": {"code": "invalid_output", "message": "stdout is not JSON"}}
        return {"status": "completed", "exit_code": code, "output": output, "stderr": stderr}

    @staticmethod
    async def _feed(proc: Process, data: bytes) -> None:
        if proc.stdin is None:
            return
        try:
            await proc.stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # it does not read its input: its business
        finally:
            await proc.stdin.aclose()

    async def _http(self, runtime: Runtime, payload: Any, timeout: float) -> dict[str, Any]:
        assert runtime.url is not None
        try:
            response = await self.plane.http.post(runtime.url, json=payload, timeout=timeout)
        except httpx.HTTPError as exc:
            return {"status": "failed", "error": {"code": "http_error", "message": str(exc)}}
        try:
            output = response.json()
        except ValueError:
            output = response.text
        if response.status_code >= 400:
            return {"status": "failed", "output": output, "error": {
                "code": "http_status", "message": f"answered {response.status_code}"}}
        return {"status": "completed", "output": output}

    def definitions(self) -> list[FunctionDef]:
        return [
            define("bridge::register", self.register,
                   "Register an external runtime (process or http); operators only", Runtime),
            define("bridge::list", self.list_runtimes, "List registered runtimes"),
            define("bridge::invoke", self.invoke,
                   "Run a runtime on a JSON input (wait, or not and poll bridge::run)",
                   InvokeRequest),
            define("bridge::cancel", self.cancel, "Stop a run still going", RunRef),
            define("bridge::run", self.run, "A run's record", RunRef),
        ]
