"""Running one guest: compile, then a fresh Store per execution with fuel, deadline and memory cap.

Theory of operation
-------------------
One wasmtime ``Engine`` per sandbox, configured with ``consume_fuel`` and ``epoch_interruption``,
a bounded wasm stack, and the proposals a sandboxed guest has no use for switched off (threads
and shared memory, memory64, multi-memory). Compiled ``Module`` objects are immutable and shared
by every execution; everything mutable lives in a **Store made for one execution and closed at
its end**, so nothing a guest does survives it.

:meth:`Runtime.run` is synchronous and blocking: the worker calls it in a worker thread. Per
execution it sets

* **fuel** (``store.set_fuel``): about one unit per wasm instruction; running dry traps;
* a **deadline** (``store.set_epoch_deadline``) of ``ceil(timeout / tick) + 1`` epochs while the
  engine-wide :class:`~.ticker.EpochTicker` runs, so the guest is interrupted between ``timeout``
  and ``timeout + tick`` after it started, whatever the fuel — host calls included, since the
  host bridge bounds them by the same deadline;
* a **memory cap** (``store.set_limits``): ``memory.grow`` beyond it answers -1, and a module
  whose initial memory exceeds it is refused before instantiation.

Host functions (``env.host_log``, ``env.host_call``) **never raise**. wasmtime-py parks a Python
exception raised in a host function in a process-global slot and re-raises it from whichever
call next returns a trap — in another thread, with concurrent executions. So every problem in a
host function becomes a JSON answer for the guest or an ABI violation recorded on this
execution's :class:`_Guest`, which fails the execution with ``wasm_trap`` once the guest
returns. A trap inside the guest's ``alloc`` (called back from ``host_call``) is left to recur:
out of fuel and past the deadline stay true, so the guest traps again at its next instruction.

Outcomes are classified once, in :meth:`Runtime._classify`: fuel → ``wasm_out_of_fuel``, epoch
→ ``wasm_timeout``, any failure while the memory is at its cap → ``wasm_memory_limit`` (a failed
``memory.grow`` is not a trap, so a guest that hits the cap fails later, usually out of fuel or
on ``unreachable``), any other trap → ``wasm_trap``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import wasmtime

from .abi import ModuleInterface, host_error, inspect_module, pack, unpack
from .config import PAGE_BYTES, SandboxConfig
from .errors import (
    BadOutput,
    ForbiddenImport,
    GuestFailure,
    GuestTimeout,
    GuestTrap,
    InvalidModule,
    MemoryLimit,
    OutOfFuel,
)
from .ticker import EpochTicker

__all__ = ["Host", "Limits", "Outcome", "Runtime"]

log = logging.getLogger(__name__)

_RECURRING = (wasmtime.TrapCode.OUT_OF_FUEL, wasmtime.TrapCode.INTERRUPT)


class Host(Protocol):
    """What a guest's imports reach; called from the guest's thread. Must not raise."""

    def call(self, request: bytes) -> bytes:
        """The JSON answer (see :mod:`.abi`) to one ``host_call`` request."""
        ...

    def log(self, line: str) -> None:
        """Record one ``host_log`` line."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    fuel: int
    timeout_ms: int
    memory_pages: int


@dataclass(slots=True)
class Outcome:
    output: Any
    fuel_consumed: int
    duration_ms: float
    stdout: str | None = None
    stderr: str | None = None


@dataclass(slots=True)
class _Capture:
    """A WASI output stream kept up to ``cap`` bytes; the rest is counted and dropped."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def write(self, chunk: bytes) -> int:
        room = self.cap - len(self.data)
        self.data += chunk[: max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)
        return len(chunk)  # all "written": a guest must not spin retrying a full pipe

    def text(self) -> str:
        suffix = f"\n[{self.dropped} bytes dropped]" if self.dropped else ""
        return self.data.decode("utf-8", "replace") + suffix


class _Guest:
    """The host side of one execution's imports; records ABI violations instead of raising."""

    def __init__(self, host: Host, config: SandboxConfig) -> None:
        self.host = host
        self.config = config
        self.violation: str | None = None

    def _violate(self, message: str) -> None:
        if self.violation is None:
            self.violation = message

    @staticmethod
    def _memory(caller: wasmtime.Caller) -> wasmtime.Memory | None:
        memory = caller.get("memory")
        return memory if isinstance(memory, wasmtime.Memory) else None

    def _read(self, caller: wasmtime.Caller, ptr: int, length: int, what: str) -> bytes | None:
        memory = self._memory(caller)
        ptr &= 0xFFFF_FFFF
        length &= 0xFFFF_FFFF
        if memory is None or ptr + length > memory.data_len(caller):
            self._violate(f"{what} names bytes [{ptr}, {ptr + length}) outside the guest memory")
            return None
        return bytes(memory.read(caller, ptr, ptr + length))

    def host_log(self, caller: wasmtime.Caller, ptr: int, length: int) -> None:
        try:
            raw = self._read(caller, ptr, min(length & 0xFFFF_FFFF, self.config.max_log_line_bytes),
                             "host_log")
            if raw is not None:
                self.host.log(raw.decode("utf-8", "replace"))
        except Exception:  # never into wasmtime: see the module docstring
            log.exception("host_log failed")
            self._violate("host_log failed in the host")

    def host_call(self, caller: wasmtime.Caller, ptr: int, length: int) -> int:
        try:
            if length & 0xFFFF_FFFF > self.config.max_host_payload_bytes:
                answer = host_error("invalid_request", "host_call request exceeds "
                                    f"{self.config.max_host_payload_bytes} bytes")
            else:
                raw = self._read(caller, ptr, length, "host_call")
                if raw is None:
                    return 0
                answer = self.host.call(raw)
            return self._give(caller, answer)
        except Exception:  # never into wasmtime: see the module docstring
            log.exception("host_call failed")
            self._violate("host_call failed in the host")
            return 0

    def _give(self, caller: wasmtime.Caller, answer: bytes) -> int:
        """Write ``answer`` into guest memory through the guest's ``alloc``; 0 if impossible."""
        alloc = caller.get("alloc")
        if not isinstance(alloc, wasmtime.Func):
            self._violate("the guest has no alloc export")
            return 0
        try:
            ptr = alloc(caller, len(answer))
        except wasmtime.Trap as trap:
            if trap.trap_code not in _RECURRING:  # fuel and deadline trap again by themselves
                self._violate(f"alloc trapped while receiving a host_call answer: {_first(trap)}")
            return 0
        memory = self._memory(caller)
        ptr = int(ptr) & 0xFFFF_FFFF
        if memory is None or ptr + len(answer) > memory.data_len(caller):
            self._violate(f"alloc({len(answer)}) returned {ptr}, outside the guest memory")
            return 0
        memory.write(caller, answer, ptr)
        return pack(ptr, len(answer))


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _AbiError(Exception):
    """The guest broke the ABI at the top level (raised and caught in :meth:`Runtime.run`)."""


class Runtime:
    """The engine and its ticker; compiles modules and runs executions (blocking calls).

    Args:
        config: the sandbox settings.
        clock: monotonic seconds (durations).
    """

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        wcfg = wasmtime.Config()
        wcfg.consume_fuel = True
        wcfg.epoch_interruption = True
        wcfg.max_wasm_stack = config.max_wasm_stack
        wcfg.wasm_threads = False
        wcfg.shared_memory = False
        wcfg.wasm_memory64 = False
        wcfg.wasm_multi_memory = False
        self.engine = wasmtime.Engine(wcfg)
        # A FuncType is bound to the first engine it is used with; using it with another one is
        # a Rust assertion, i.e. a process abort. So each runtime makes its own.
        i32 = wasmtime.ValType.i32()
        self._log_type = wasmtime.FuncType([i32, i32], [])
        self._call_type = wasmtime.FuncType([i32, i32], [wasmtime.ValType.i64()])
        self.ticker = EpochTicker(self.engine.increment_epoch, config.epoch_tick_ms / 1000)

    def wat_to_wasm(self, text: str) -> bytes:
        """The binary of a WebAssembly text module.

        Raises:
            InvalidModule: not valid WAT.
        """
        try:
            return bytes(wasmtime.wat2wasm(text))
        except wasmtime.WasmtimeError as exc:
            raise InvalidModule(f"not a valid WAT module: {_first(exc)}") from exc

    def compile(self, wasm: bytes) -> tuple[wasmtime.Module, ModuleInterface]:
        """Compile and check a module against the ABI (see :mod:`.abi`).

        Raises:
            InvalidModule: not WebAssembly, uses a disabled feature, or breaks the ABI.
        """
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise InvalidModule(f"not a valid WebAssembly module: {_first(exc)}") from exc
        return module, inspect_module(module)

    def deadline_ticks(self, timeout_ms: int) -> int:
        """Epochs to allow for ``timeout_ms``: never fewer than the timeout, one tick more at most."""
        return math.ceil(timeout_ms / self.config.epoch_tick_ms) + 1

    def run(
        self,
        module: wasmtime.Module,
        interface: ModuleInterface,
        payload: bytes,
        limits: Limits,
        host: Host,
        *,
        wasi: bool = False,
    ) -> Outcome:
        """Run ``execute`` on ``payload`` (UTF-8 JSON) in a fresh store. Blocks: call in a thread.

        Args:
            wasi: the caller holds the ``wasi`` capability (else a WASI module is refused).

        Returns:
            The decoded output, fuel used, duration and captured WASI output.

        Raises:
            ForbiddenImport: the module imports WASI and ``wasi`` is False.
            MemoryLimit: its initial memory exceeds ``limits.memory_pages``, or it failed at the cap.
            GuestFailure: a trap, running out of fuel, the deadline, or a bad output.
        """
        if interface.wasi and not wasi:
            raise ForbiddenImport("the module imports WASI, which the caller may not use")
        if interface.min_memory_pages > limits.memory_pages:
            raise MemoryLimit(f"the module starts with {interface.min_memory_pages} memory pages; "
                              f"the cap is {limits.memory_pages}")
        started = self.clock()
        store = wasmtime.Store(self.engine)
        linker = wasmtime.Linker(self.engine)
        guest = _Guest(host, self.config)
        stdout, stderr = _Capture(self.config.max_stdout_bytes), _Capture(self.config.max_stdout_bytes)
        try:
            store.set_limits(memory_size=limits.memory_pages * PAGE_BYTES,
                             table_elements=self.config.max_table_elements,
                             instances=1, tables=4, memories=1)
            store.set_fuel(limits.fuel)
            if interface.host_log:
                linker.define_func("env", "host_log", self._log_type, guest.host_log,
                                   access_caller=True)
            if interface.host_call:
                linker.define_func("env", "host_call", self._call_type, guest.host_call,
                                   access_caller=True)
            if interface.wasi:
                linker.define_wasi()
                wasi_config = wasmtime.WasiConfig()  # no argv, env, stdin or preopened dirs
                wasi_config.stdout_custom = stdout.write
                wasi_config.stderr_custom = stderr.write
                store.set_wasi(wasi_config)
            with self.ticker.hold():
                store.set_epoch_deadline(self.deadline_ticks(limits.timeout_ms))
                raw = self._call(store, linker, module, payload, limits, guest)
            fuel = limits.fuel - store.get_fuel()
            output = self._decode(raw, fuel)
            return Outcome(output, fuel, (self.clock() - started) * 1000,
                           stdout.text() if interface.wasi else None,
                           stderr.text() if interface.wasi else None)
        finally:
            linker.close()
            store.close()

    def _call(self, store: wasmtime.Store, linker: wasmtime.Linker, module: wasmtime.Module,
              payload: bytes, limits: Limits, guest: _Guest) -> bytes:
        memory: wasmtime.Memory | None = None
        try:
            exports = linker.instantiate(store, module).exports(store)
            exported, alloc, execute = exports["memory"], exports["alloc"], exports["execute"]
            assert isinstance(exported, wasmtime.Memory)  # checked by inspect_module
            memory = exported
            assert isinstance(alloc, wasmtime.Func) and isinstance(execute, wasmtime.Func)
            ptr = int(alloc(store, len(payload))) & 0xFFFF_FFFF
            if ptr + len(payload) > memory.data_len(store):
                raise _AbiError(f"alloc({len(payload)}) returned {ptr}, outside the guest memory")
            memory.write(store, payload, ptr)
            out_ptr, out_len = unpack(int(execute(store, ptr, len(payload))))
            if guest.violation is not None:
                raise _AbiError(guest.violation)
            if out_len > self.config.max_output_bytes:
                raise BadOutput(f"the output of {out_len} bytes exceeds the cap of "
                                f"{self.config.max_output_bytes}")
            if out_ptr + out_len > memory.data_len(store):
                raise _AbiError(f"execute returned bytes [{out_ptr}, {out_ptr + out_len}) outside "
                                "the guest memory")
            return bytes(memory.read(store, out_ptr, out_ptr + out_len))
        except (wasmtime.Trap, wasmtime.WasmtimeError, _AbiError) as exc:
            raise self._classify(exc, store, memory, limits, guest) from exc

    def _classify(self, exc: Exception, store: wasmtime.Store, memory: wasmtime.Memory | None,
                  limits: Limits, guest: _Guest) -> GuestFailure:
        fuel = limits.fuel - store.get_fuel()
        cap = limits.memory_pages * PAGE_BYTES
        at_cap = memory is not None and memory.data_len(store) + PAGE_BYTES > cap
        code = exc.trap_code if isinstance(exc, wasmtime.Trap) else None
        if code is wasmtime.TrapCode.OUT_OF_FUEL:
            cause: GuestFailure = OutOfFuel(f"the guest used its whole fuel budget ({limits.fuel})",
                                            fuel_consumed=fuel)
        elif code is wasmtime.TrapCode.INTERRUPT:
            cause = GuestTimeout(f"the guest did not finish within {limits.timeout_ms} ms",
                                 fuel_consumed=fuel)
        elif code is wasmtime.TrapCode.STACK_OVERFLOW:
            cause = GuestTrap("stack overflow: the guest exhausted its call stack", fuel_consumed=fuel)
        elif isinstance(exc, wasmtime.ExitTrap):
            cause = GuestTrap(f"the guest exited (WASI proc_exit): {_first(exc)}", fuel_consumed=fuel)
        elif isinstance(exc, _AbiError):
            cause = GuestTrap(f"ABI violation: {exc}", fuel_consumed=fuel)
        elif code is not None:
            cause = GuestTrap(f"{code.name.lower()}: {_first(exc)}", fuel_consumed=fuel)
        else:
            cause = GuestTrap(f"the guest failed: {_first(exc)}", fuel_consumed=fuel)
        if at_cap:
            return MemoryLimit(f"the guest reached its memory cap of {limits.memory_pages} pages "
                               f"({cap // 1024} KiB), then: {cause.message}", fuel_consumed=fuel)
        return cause

    def _decode(self, raw: bytes, fuel: int) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadOutput(f"the output is not UTF-8 JSON: {_first(exc)}", fuel_consumed=fuel) from exc
