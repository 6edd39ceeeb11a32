"""The ABI's pure helpers: packing, import/export checks, host_call JSON."""

from __future__ import annotations

import json

import pytest
import wasmtime

from workers.wasm_sandbox import example
from workers.wasm_sandbox.abi import (
    BadHostRequest,
    host_error,
    host_ok,
    inspect_module,
    pack,
    parse_host_request,
    unpack,
)
from workers.wasm_sandbox.errors import InvalidModule

from . import guests

ENGINE = wasmtime.Engine()


def compiled(wat: str) -> wasmtime.Module:
    return wasmtime.Module(ENGINE, bytes(wasmtime.wat2wasm(wat)))


@pytest.mark.parametrize(("ptr", "length"), [
    (0, 0), (1024, 17), (0x7FFF_FFFF, 5), (0x8000_0000, 1), (0xFFFF_FFFF, 0xFFFF_FFFF),
])
def test_pack_round_trips_and_fits_a_signed_i64(ptr: int, length: int) -> None:
    packed = pack(ptr, length)
    assert -(1 << 63) <= packed < 1 << 63
    assert unpack(packed) == (ptr, length)


def test_interface_of_the_examples() -> None:
    plain = inspect_module(compiled(example("sum")))
    assert (plain.host_log, plain.host_call, plain.wasi) == (False, False, False)
    assert plain.min_memory_pages == 1 and plain.imports() == []
    calls = inspect_module(compiled(example("host_call")))
    assert calls.imports() == ["env.host_log", "env.host_call"]


def test_wasi_imports_are_noted_not_refused() -> None:
    interface = inspect_module(compiled(guests.WASI_HELLO))
    assert interface.wasi and interface.imports() == ["wasi"]


@pytest.mark.parametrize("wat", [
    '(module (memory (export "memory") 1))',
    '(module (memory (export "mem") 1) (func (export "alloc") (param i32) (result i32) (i32.const 0))'
    ' (func (export "execute") (param i32 i32) (result i64) (i64.const 0)))',
    '(module (memory (export "memory") 1) (func (export "alloc") (param i64) (result i32) (i32.const 0))'
    ' (func (export "execute") (param i32 i32) (result i64) (i64.const 0)))',
    '(module (memory (export "memory") 1) (func (export "alloc") (param i32) (result i32) (i32.const 0))'
    ' (func (export "execute") (param i32 i32) (result i32) (i32.const 0)))',
    guests.UNKNOWN_IMPORT, guests.MISTYPED_HOST_CALL, guests.IMPORTED_MEMORY,
])
def test_modules_off_the_abi(wat: str) -> None:
    with pytest.raises(InvalidModule):
        inspect_module(compiled(wat))


def test_host_request_parsing() -> None:
    req = parse_host_request(b'{"function_id": "a::b", "args": {"x": 1}}')
    assert (req.function_id, req.args) == ("a::b", {"x": 1})
    assert parse_host_request(b'{"function_id": "a::b"}').args is None
    for raw in (b"", b"\xff", b"[]", b'{"args": 1}', b'{"function_id": 3}', b"nope"):
        with pytest.raises(BadHostRequest):
            parse_host_request(raw)


def test_host_answers() -> None:
    assert json.loads(host_ok([1, "a"])) == {"ok": True, "result": [1, "a"]}
    assert json.loads(host_error("c", "m")) == {"ok": False, "error": {"code": "c", "message": "m"}}
