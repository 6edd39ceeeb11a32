"""The WASM sandbox worker: ``wasm::validate``, ``wasm::execute``, ``wasm::list_modules``.

``WasmSandbox(config).worker()`` is the :class:`~workers.sdk.Worker` to serve (``python -m
workers.wasm_sandbox`` does it). Compilation and execution run in worker threads, at most
``concurrency`` at once; up to ``max_queued`` more requests wait (each at most
``queue_timeout_s``) and beyond that they are refused with ``wasm_busy``. The event loop never
runs wasm, so the worker keeps serving whatever a guest does.

**Who the guest runs for.** ``agent_id`` comes from the invocation's metadata (``{"agent_id":
…}``, what agent-core and the tools worker send) and, failing that, from the request; when both
are present they must agree. It selects the capability re-checks (host calls, WASI).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from fnmatch import fnmatchcase
from functools import partial
from typing import Annotated, Any, NamedTuple, TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workers.sdk import Context, FunctionDef, Worker, function

from .abi import inspect_module
from .config import SandboxConfig
from .errors import ForbiddenImport, InvalidArguments, InvalidModule, SandboxBusy
from .host import HostBridge, check_capability
from .modules import ModuleStatistics, ModuleStore, digest_of
from .runtime import Limits, Runtime
from .ticker import TickerStatistics

__all__ = ["ExecuteRequest", "SandboxStatistics", "ValidateRequest", "WasmSandbox", "build_worker"]

WORKER_NAME = "wasm-sandbox"
DEFAULT_REALM = "default"
MODULE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_engine_fields(cls, data: Any) -> Any:
        # The engine stamps ``_caller_worker_id`` into every object payload.
        if isinstance(data, dict) and "_caller_worker_id" in data:
            data = {k: v for k, v in data.items() if k != "_caller_worker_id"}
        return data


class ValidateRequest(_Request):
    """Exactly one of ``wasm`` (base64 binary) and ``wat`` (text)."""

    module_id: Annotated[str, Field(pattern=MODULE_ID, description="Your name for the module")]
    wasm: str | None = Field(None, description="The module binary, base64-encoded")
    wat: str | None = Field(None, description="The module in WebAssembly text format")

    @model_validator(mode="after")
    def _one_source(self) -> ValidateRequest:
        if (self.wasm is None) == (self.wat is None):
            raise ValueError("give exactly one of wasm (base64) and wat (text)")
        return self


class ExecuteRequest(_Request):
    module_id: Annotated[str, Field(pattern=MODULE_ID)]
    input: Any = Field(None, description="Any JSON value, handed to the guest's execute()")
    fuel: Annotated[int, Field(ge=1)] | None = Field(None, description="Instruction budget")
    timeout_ms: Annotated[int, Field(ge=1)] | None = Field(None, description="Wall-clock deadline")
    memory_pages: Annotated[int, Field(ge=1)] | None = Field(None, description="Memory cap, 64 KiB pages")
    agent_id: Annotated[str, Field(pattern=AGENT_ID)] | None = Field(
        None, description="The agent the guest runs for (the call's metadata wins)")
    host_functions: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=64, description="Narrow the host-call allowlist for this execution")


class SandboxStatistics(NamedTuple):
    running: int
    """Executions and compilations holding a slot."""
    queued: int
    """Requests waiting for a slot."""
    refused: int
    """Requests refused with ``wasm_busy`` so far."""
    executions: int
    failures: int
    """Executions that ended in a guest failure (trap, fuel, deadline, memory, output)."""
    modules: ModuleStatistics
    ticker: TickerStatistics


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
                             for e in exc.errors())
        raise InvalidArguments(problems) from exc


def agent_of(claimed: str | None, ctx: Context) -> str | None:
    """The agent a call is for: the metadata's ``agent_id``, else the request's.

    Raises:
        InvalidArguments: both are given and differ, or the metadata's is malformed.
    """
    asserted = ctx.metadata.get("agent_id") if ctx.metadata else None
    if asserted is not None:
        if not isinstance(asserted, str) or not re.fullmatch(AGENT_ID, asserted):
            raise InvalidArguments(f"metadata agent_id {asserted!r} is not a valid agent id")
        if claimed is not None and claimed != asserted:
            raise InvalidArguments(f"agent_id {claimed!r} differs from the caller's ({asserted!r})")
        return asserted
    return claimed


class WasmSandbox:
    """The service behind the worker.

    Args:
        config: limits and policy (default: safe defaults, no host calls, no WASI).
        clock: monotonic seconds (deadlines, durations).
        wall_clock: epoch seconds (``validated_at``).
    """

    def __init__(self, config: SandboxConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config or SandboxConfig()
        self.clock, self.wall_clock = clock, wall_clock
        self.runtime = Runtime(self.config, clock=clock)
        self.modules = ModuleStore(self.config.max_modules_per_realm)
        self._slots = anyio.CapacityLimiter(self.config.concurrency)
        self._threads = anyio.CapacityLimiter(self.config.concurrency)
        self._queued = self._refused = self._executions = self._failures = 0

    # -- slots -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold one of the ``concurrency`` slots; wait for one within the queue's bounds.

        Raises:
            SandboxBusy: the queue is full, or no slot came within ``queue_timeout_s``.
        """
        if self._slots.available_tokens == 0 and self._queued >= self.config.max_queued:
            self._refused += 1
            raise SandboxBusy(f"the sandbox is busy ({self.config.concurrency} running, "
                              f"{self._queued} waiting); try again later")
        acquired = False
        self._queued += 1
        try:
            with anyio.move_on_after(self.config.queue_timeout_s):
                await self._slots.acquire()
                acquired = True
        finally:
            self._queued -= 1
        if not acquired:
            self._refused += 1
            raise SandboxBusy(f"no execution slot within {self.config.queue_timeout_s}s")
        try:
            yield
        finally:
            self._slots.release()

    async def _in_thread(self, fn: Callable[[], Any]) -> Any:
        async with self._slot():
            return await anyio.to_thread.run_sync(fn, limiter=self._threads)

    # -- handlers --------------------------------------------------------------------------

    async def validate(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``wasm::validate``: decode, compile (or reuse by content hash), check the ABI, store."""
        req = _parse(ValidateRequest, data)
        if req.wat is not None:
            if len(req.wat) > self.config.max_wat_chars:
                raise InvalidModule(f"the WAT text exceeds {self.config.max_wat_chars} characters")
            wasm = await self._in_thread(partial(self.runtime.wat_to_wasm, req.wat))
        else:
            assert req.wasm is not None
            if len(req.wasm) > (self.config.max_module_bytes * 4) // 3 + 4:
                raise InvalidModule(f"the module exceeds {self.config.max_module_bytes} bytes")
            try:
                wasm = base64.b64decode(req.wasm, validate=True)
            except binascii.Error as exc:
                raise InvalidModule(f"wasm is not valid base64: {exc}") from exc
        if len(wasm) > self.config.max_module_bytes:
            raise InvalidModule(f"the module is {len(wasm)} bytes; the cap is "
                                f"{self.config.max_module_bytes}")
        digest = digest_of(wasm)
        module = self.modules.compiled(digest)
        cached = module is not None
        if module is None:
            module, interface = await self._in_thread(partial(self.runtime.compile, wasm))
        else:
            interface = inspect_module(module)
        entry = self.modules.put(ctx.realm or DEFAULT_REALM, req.module_id, digest, len(wasm),
                                 module, interface, self.wall_clock())
        return {**entry.public(), "cached": cached}

    async def execute(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``wasm::execute``: run a validated module's ``execute`` on ``input`` in a fresh store."""
        req = _parse(ExecuteRequest, data)
        agent_id = agent_of(req.agent_id, ctx)
        limits = self._limits(req)
        try:
            payload = json.dumps(req.input, ensure_ascii=False, allow_nan=False).encode()
        except ValueError as exc:
            raise InvalidArguments(f"input is not JSON: {exc}") from exc
        if len(payload) > self.config.max_input_bytes:
            raise InvalidArguments(f"input is {len(payload)} bytes; the cap is "
                                   f"{self.config.max_input_bytes}")
        entry = self.modules.get(ctx.realm or DEFAULT_REALM, req.module_id)
        wasi = entry.interface.wasi
        if wasi and not await self._wasi_allowed(ctx, agent_id, req.module_id):
            raise ForbiddenImport(f"module {req.module_id} imports WASI; agent {agent_id or '(none)'} "
                                  "does not hold the wasi capability")
        async with self._slot():
            bridge = HostBridge(ctx, self.config, agent_id=agent_id, narrow=req.host_functions,
                                deadline=self.clock() + limits.timeout_ms / 1000, clock=self.clock)
            run = partial(self.runtime.run, entry.module, entry.interface, payload, limits, bridge,
                          wasi=wasi)
            try:
                outcome = await anyio.to_thread.run_sync(run, limiter=self._threads)
            except InvalidArguments:
                raise
            except Exception:
                self._failures += 1
                raise
            finally:
                self._executions += 1
        result: dict[str, Any] = {
            "output": outcome.output, "fuel_consumed": outcome.fuel_consumed,
            "duration_ms": round(outcome.duration_ms, 3), "logs": bridge.logs,
            "host_calls": bridge.calls,
        }
        if bridge.dropped_logs:
            result["dropped_logs"] = bridge.dropped_logs
        if outcome.stdout is not None:
            result["stdout"], result["stderr"] = outcome.stdout, outcome.stderr
        return result

    async def list_modules(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``wasm::list_modules``: the caller's realm's modules."""
        return {"modules": [e.public() for e in self.modules.list(ctx.realm or DEFAULT_REALM)]}

    def _limits(self, req: ExecuteRequest) -> Limits:
        cfg = self.config
        values = {}
        for name in ("fuel", "timeout_ms", "memory_pages"):
            asked, cap = getattr(req, name), getattr(cfg, f"max_{name}")
            if asked is not None and asked > cap:
                raise InvalidArguments(f"{name} {asked} exceeds the sandbox's cap of {cap}")
            values[name] = asked if asked is not None else getattr(cfg, f"default_{name}")
        return Limits(**values)

    async def _wasi_allowed(self, ctx: Context, agent_id: str | None, module_id: str) -> bool:
        if agent_id is None:
            return False
        verdict = await check_capability(ctx, agent_id, "wasi", module_id,
                                         self.config.host_call_timeout_s)
        if verdict is None:  # no security worker: the local policy
            return any(fnmatchcase(agent_id, g) for g in self.config.wasi_agents)
        return verdict

    def statistics(self) -> SandboxStatistics:
        return SandboxStatistics(self._slots.borrowed_tokens, self._queued, self._refused,
                                 self._executions, self._failures, self.modules.statistics(),
                                 self.runtime.ticker.statistics())

    def worker(self) -> Worker:
        """The worker serving the three functions."""
        return Worker(WORKER_NAME, description="Runs small WebAssembly modules in a sandbox",
                      functions=[
                          _define("wasm::validate", self.validate,
                                  "Compile and cache a WebAssembly module (base64 wasm or WAT)",
                                  ValidateRequest),
                          _define("wasm::execute", self.execute,
                                  "Run a validated module on a JSON input, with fuel, deadline "
                                  "and memory limits", ExecuteRequest),
                          _define("wasm::list_modules", self.list_modules,
                                  "List the caller's realm's validated modules", None),
                      ])


def _define(function_id: str, handler: Callable[[Any, Context], Any], description: str,
            model: type[BaseModel] | None) -> FunctionDef:
    async def serve(data: Any, ctx: Context) -> Any:
        return await handler(data, ctx)

    serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
    schema = model.model_json_schema() if model is not None else {"type": "object", "properties": {}}
    return FunctionDef.of(function(function_id, description=description,
                                   request_format=schema)(serve))


def build_worker(config: SandboxConfig | None = None) -> Worker:
    """The sandbox worker with ``config`` (default: from the environment)."""
    return WasmSandbox(config or SandboxConfig.from_env()).worker()
