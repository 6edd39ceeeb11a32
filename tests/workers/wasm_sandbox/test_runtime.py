"""The runtime on its own: every hostile guest ends in its own clear error, within its limits,
and the same runtime runs a normal guest right after. No event loop: ``Runtime.run`` blocks."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import pytest
import wasmtime

from workers.wasm_sandbox import SandboxConfig, example
from workers.wasm_sandbox.abi import host_ok
from workers.wasm_sandbox.errors import (
    BadOutput,
    ForbiddenImport,
    GuestFailure,
    GuestTimeout,
    GuestTrap,
    InvalidModule,
    MemoryLimit,
    OutOfFuel,
)
from workers.wasm_sandbox.runtime import Limits, Outcome, Runtime

from . import guests

SLACK_S = 0.5
"""Scheduling allowance on top of a deadline (a bound for a slow CI box, not a sleep)."""


@dataclass
class RecordingHost:
    """A first-class Host: answers every host_call with ``reply`` and records what it saw."""

    reply: bytes = field(default_factory=lambda: host_ok("pong"))
    requests: list[bytes] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def call(self, request: bytes) -> bytes:
        self.requests.append(request)
        return self.reply

    def log(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime(SandboxConfig())


LIMITS = Limits(fuel=10_000_000, timeout_ms=5_000, memory_pages=16)


def run(runtime: Runtime, wat: str, value: object = None, limits: Limits = LIMITS,
        host: RecordingHost | None = None, wasi: bool = False) -> Outcome:
    module, interface = runtime.compile(runtime.wat_to_wasm(wat))
    return runtime.run(module, interface, json.dumps(value).encode(), limits,
                       host or RecordingHost(), wasi=wasi)


def still_serves(runtime: Runtime) -> None:
    assert run(runtime, example("sum"), [1, 2, 3]).output == {"sum": 6}


def test_examples_run(runtime: Runtime) -> None:
    upper = run(runtime, example("echo_upper"), {"text": "héllo\n", "ok": True, "u": "\u00e9x"})
    assert upper.output == {"TEXT": "HéLLO\n", "OK": True, "U": "\u00e9X"}
    assert upper.fuel_consumed > 0 and upper.duration_ms >= 0
    assert run(runtime, example("sum"), [1, 2, -3, 40]).output == {"sum": 40}
    assert run(runtime, example("sum"), []).output == {"sum": 0}
    assert run(runtime, example("sum"), [-5]).output == {"sum": -5}


def test_infinite_loop_is_stopped_by_fuel(runtime: Runtime) -> None:
    limits = Limits(fuel=100_000, timeout_ms=10_000, memory_pages=16)
    started = time.monotonic()
    with pytest.raises(OutOfFuel) as caught:
        run(runtime, guests.INFINITE_LOOP, limits=limits)
    assert caught.value.code == "wasm_out_of_fuel"
    assert time.monotonic() - started < SLACK_S
    still_serves(runtime)


def test_infinite_loop_with_huge_fuel_is_stopped_by_the_deadline(runtime: Runtime) -> None:
    limits = Limits(fuel=10**15, timeout_ms=200, memory_pages=16)
    started = time.monotonic()
    with pytest.raises(GuestTimeout) as caught:
        run(runtime, guests.INFINITE_LOOP, limits=limits)
    elapsed = time.monotonic() - started
    assert caught.value.code == "wasm_timeout"
    assert 0.2 <= elapsed < 0.2 + SLACK_S
    still_serves(runtime)


def test_a_loop_in_the_start_function_is_under_the_same_deadline(runtime: Runtime) -> None:
    with pytest.raises(GuestTimeout):
        run(runtime, guests.LOOP_IN_START, limits=Limits(fuel=10**15, timeout_ms=50, memory_pages=16))
    with pytest.raises(OutOfFuel):
        run(runtime, guests.LOOP_IN_START, limits=Limits(fuel=1_000, timeout_ms=5_000, memory_pages=16))
    still_serves(runtime)


@pytest.mark.parametrize("wat", [guests.MEMORY_BOMB, guests.MEMORY_BOMB_IGNORING_FAILURE],
                         ids=["traps-when-grow-fails", "ignores-grow-failure"])
def test_memory_bomb_hits_the_memory_cap(runtime: Runtime, wat: str) -> None:
    with pytest.raises(MemoryLimit) as caught:
        run(runtime, wat, limits=Limits(fuel=10_000_000, timeout_ms=5_000, memory_pages=32))
    assert caught.value.code == "wasm_memory_limit"
    assert "32 pages" in caught.value.message
    still_serves(runtime)


def test_initial_memory_above_the_cap_is_refused_before_instantiation(runtime: Runtime) -> None:
    with pytest.raises(MemoryLimit, match="2000 memory pages"):
        run(runtime, guests.HUGE_INITIAL_MEMORY)
    still_serves(runtime)


@pytest.mark.parametrize(("wat", "fragment"), [
    (guests.DEEP_RECURSION, "stack overflow"),
    (guests.OUT_OF_BOUNDS, "memory_out_of_bounds"),
    (guests.UNREACHABLE, "unreachable"),
    (guests.DIVIDE_BY_ZERO, "integer_division_by_zero"),
    (guests.OUTPUT_OUTSIDE_MEMORY, "outside the guest memory"),
    (guests.BAD_ALLOC, "alloc(4) returned"),
    (guests.HOST_LOG_OUTSIDE_MEMORY, "host_log names bytes"),
], ids=["recursion", "oob", "unreachable", "div0", "output-oob", "bad-alloc", "log-oob"])
def test_traps_and_abi_violations_are_wasm_trap(runtime: Runtime, wat: str, fragment: str) -> None:
    with pytest.raises(GuestTrap) as caught:
        run(runtime, wat)
    assert caught.value.code == "wasm_trap"
    assert fragment in caught.value.message
    still_serves(runtime)


@pytest.mark.parametrize(("wat", "fragment"), [
    (guests.NOT_JSON, "not UTF-8 JSON"),
    (guests.HUGE_OUTPUT, "exceeds the cap"),
], ids=["not-json", "huge"])
def test_bad_outputs_are_wasm_bad_output(runtime: Runtime, wat: str, fragment: str) -> None:
    with pytest.raises(BadOutput, match=fragment):
        run(runtime, wat)
    still_serves(runtime)


def test_an_alloc_trapping_during_a_host_answer_fails_the_execution(runtime: Runtime) -> None:
    host = RecordingHost()
    with pytest.raises(GuestTrap, match="alloc trapped while receiving a host_call answer"):
        run(runtime, guests.ALLOC_TRAPS_ON_HOST_ANSWER, {"function_id": "x::y"}, host=host)
    assert len(host.requests) == 1
    still_serves(runtime)


def test_host_calls_and_logs_reach_the_host(runtime: Runtime) -> None:
    host = RecordingHost(reply=host_ok({"n": 1}))
    request = {"function_id": "svc::fn", "args": [1]}
    outcome = run(runtime, example("host_call"), request, host=host)
    assert outcome.output == {"ok": True, "result": {"n": 1}}
    assert [json.loads(r) for r in host.requests] == [request]
    assert host.lines == ["calling the host"]


def test_wasi_is_refused_without_the_capability(runtime: Runtime) -> None:
    with pytest.raises(ForbiddenImport) as caught:
        run(runtime, guests.WASI_HELLO)
    assert caught.value.code == "wasm_forbidden_import"


def test_granted_wasi_is_empty_and_its_stdout_is_captured(runtime: Runtime) -> None:
    outcome = run(runtime, guests.WASI_HELLO, wasi=True)
    assert outcome.output == "ok"
    assert outcome.stdout == "hello" and outcome.stderr == ""


@pytest.mark.parametrize(("wat", "fragment"), [
    (guests.UNKNOWN_IMPORT, "imports env.system"),
    (guests.MISTYPED_HOST_CALL, "env.host_call must be imported as"),
    (guests.IMPORTED_MEMORY, "export its linear memory"),
    (guests.NO_EXECUTE, "must export execute"),
], ids=["unknown-import", "mistyped-import", "imported-memory", "no-execute"])
def test_modules_off_the_abi_are_invalid(runtime: Runtime, wat: str, fragment: str) -> None:
    with pytest.raises(InvalidModule, match=fragment):
        runtime.compile(runtime.wat_to_wasm(wat))


@pytest.mark.parametrize("wasm", [b"", b"\x00asm", b"garbage bytes", b"\x00asm\x01\x00\x00\x00\xff"])
def test_malformed_binaries_are_invalid(runtime: Runtime, wasm: bytes) -> None:
    with pytest.raises(InvalidModule, match="not a valid WebAssembly module"):
        runtime.compile(wasm)


def test_malformed_wat_is_invalid(runtime: Runtime) -> None:
    with pytest.raises(InvalidModule, match="not a valid WAT module"):
        runtime.wat_to_wasm("(module (func (export \"execute\")")


def test_disabled_proposals_are_refused(runtime: Runtime) -> None:
    shared = '(module (memory (export "memory") 1 1 shared))'
    with pytest.raises(InvalidModule):
        runtime.compile(runtime.wat_to_wasm(shared))


def test_deadline_ticks_never_undershoot(runtime: Runtime) -> None:
    tick = runtime.config.epoch_tick_ms
    for timeout_ms in (1, tick - 1, tick, tick + 1, 1_000):
        ticks = runtime.deadline_ticks(timeout_ms)
        assert (ticks - 1) * tick >= timeout_ms  # the first tick may come at once
        assert (ticks - 2) * tick < timeout_ms  # and at most one tick late


def test_every_failure_is_a_guest_failure_and_never_a_wasmtime_error() -> None:
    for cls in (OutOfFuel, GuestTimeout, GuestTrap, MemoryLimit, BadOutput):
        assert issubclass(cls, GuestFailure)
        assert not issubclass(cls, wasmtime.WasmtimeError)


def test_two_runtimes_in_one_process_both_define_host_imports(runtime: Runtime) -> None:
    # wasmtime binds a FuncType to the first engine that uses it, and using it with another
    # engine aborts the process; each runtime must make its own.
    other = Runtime(SandboxConfig())
    for rt in (runtime, other, runtime):
        assert run(rt, example("host_call"), {"function_id": "a::b"}).output == {"ok": True,
                                                                                  "result": "pong"}
