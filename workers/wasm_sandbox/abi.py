"""The guest ABI: what a module must export, what it may import, and how JSON crosses the border.

Guest ABI (version 1)
=====================

A module run by ``wasm::execute`` is a plain core WebAssembly module (no component model).

**Exports** (checked by ``wasm::validate``; a module without them is ``invalid_module``)::

    memory                                   the guest's linear memory (exactly one, exported)
    alloc(len: i32) -> i32                   reserve ``len`` bytes, return their address
    execute(ptr: i32, len: i32) -> i64       run on the input at [ptr, ptr+len), return the
                                             output as (out_ptr << 32) | out_len

The host encodes the request's ``input`` as UTF-8 JSON, calls ``alloc(len)``, writes the bytes
at the address returned, calls ``execute(ptr, len)`` and reads ``out_len`` bytes at ``out_ptr``.
Those bytes must be one UTF-8 JSON value: it becomes ``output`` (anything else is
``wasm_bad_output``). Addresses are unsigned 32-bit; every buffer the guest names must lie inside
its memory, or the execution ends with ``wasm_trap``.

**Imports** (module ``env``; a module may import neither, either or both)::

    host_log(ptr: i32, len: i32)             a UTF-8 log line (capped; extra lines are dropped)
    host_call(ptr: i32, len: i32) -> i64     call a function on the bus

``host_call`` reads the JSON request ``{"function_id": "svc::fn", "args": <any JSON>}`` and
answers, always, with JSON written into guest memory through the guest's own ``alloc``, packed
like ``execute``'s result::

    {"ok": true,  "result": <any JSON>}
    {"ok": false, "error": {"code": "<code>", "message": "<text>"}}

A refused or failed call is an ``ok: false`` answer, never a trap: the codes are
``wasm_forbidden_host_call`` (not on the allowlist, or the capability check said no),
``wasm_host_call_limit`` (too many calls in one execution), ``wasm_timeout`` (the execution's
deadline passed), ``invalid_request`` (not the JSON above) and whatever the called function
answered (``function_not_found``, ``timeout``, …). Only a guest that breaks the ABI itself (a
buffer outside its memory, an ``alloc`` that returns one) is trapped.

**WASI** (``wasi_snapshot_preview1`` / ``wasi_unstable``) is refused unless the calling agent
holds the ``wasi`` capability; then it gets an empty WASI: no arguments, no environment, no
preopened directories (so no filesystem), no sockets, stdin empty, stdout and stderr captured
(capped) into the result. Any other import is ``invalid_module``.

Everything in this module is pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import wasmtime

from .errors import InvalidModule

__all__ = [
    "ABI_VERSION",
    "WASI_MODULES",
    "BadHostRequest",
    "HostRequest",
    "ModuleInterface",
    "host_error",
    "host_ok",
    "inspect_module",
    "pack",
    "parse_host_request",
    "unpack",
]

ABI_VERSION = 1
WASI_MODULES = frozenset({"wasi_snapshot_preview1", "wasi_unstable"})
_MASK32 = 0xFFFF_FFFF
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF

_I32 = "i32"
_I64 = "i64"
_EXPORTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "alloc": ((_I32,), (_I32,)),
    "execute": ((_I32, _I32), (_I64,)),
}
_HOST_IMPORTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "host_log": ((_I32, _I32), ()),
    "host_call": ((_I32, _I32), (_I64,)),
}


def pack(ptr: int, length: int) -> int:
    """``(ptr << 32) | length`` as the signed i64 WebAssembly wants back from a host function."""
    value = ((ptr & _MASK32) << 32) | (length & _MASK32)
    return value - (1 << 64) if value >= 1 << 63 else value


def unpack(value: int) -> tuple[int, int]:
    """``(ptr, len)`` of a packed i64 (as wasmtime hands it over: signed)."""
    value &= _MASK64
    return value >> 32, value & _MASK32


@dataclass(frozen=True, slots=True)
class ModuleInterface:
    """What a validated module needs from the host."""

    host_log: bool
    host_call: bool
    wasi: bool
    """True when the module imports WASI (a capability is needed to run it)."""
    min_memory_pages: int = 0
    """The initial size of the exported memory, in 64 KiB pages."""

    def imports(self) -> list[str]:
        out = [name for name, used in (("env.host_log", self.host_log),
                                       ("env.host_call", self.host_call)) if used]
        return out + (["wasi"] if self.wasi else [])


def _signature(ty: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    if not isinstance(ty, wasmtime.FuncType):
        return None
    return tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results)


def inspect_module(module: wasmtime.Module) -> ModuleInterface:
    """Check a compiled module against the ABI and say what it imports.

    Raises:
        InvalidModule: a missing or mistyped export, or an import the sandbox does not provide.
    """
    exports = {e.name: e.type for e in module.exports}
    memory = exports.get("memory")
    if not isinstance(memory, wasmtime.MemoryType):
        raise InvalidModule("the module must export its linear memory as 'memory'")
    for name, (params, results) in _EXPORTS.items():
        if _signature(exports.get(name)) != (params, results):
            raise InvalidModule(
                f"the module must export {name}({', '.join(params)}) -> {', '.join(results)}"
            )
    used = {"host_log": False, "host_call": False}
    wasi = False
    for imp in module.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module in WASI_MODULES and isinstance(imp.type, wasmtime.FuncType):
            wasi = True
            continue
        if imp.module != "env" or imp.name not in _HOST_IMPORTS:
            raise InvalidModule(
                f"the module imports {where}, which the sandbox does not provide "
                "(allowed: env.host_log, env.host_call, and WASI when granted)"
            )
        params, results = _HOST_IMPORTS[imp.name]
        if _signature(imp.type) != (params, results):
            raise InvalidModule(
                f"{where} must be imported as ({', '.join(params)}) -> ({', '.join(results)})"
            )
        used[imp.name] = True
    return ModuleInterface(host_log=used["host_log"], host_call=used["host_call"], wasi=wasi,
                           min_memory_pages=memory.limits.min)


@dataclass(frozen=True, slots=True)
class HostRequest:
    function_id: str
    args: Any


class BadHostRequest(ValueError):
    """The guest's ``host_call`` bytes are not ``{"function_id": str, "args": any}``."""


def parse_host_request(raw: bytes) -> HostRequest:
    """Decode a guest's ``host_call`` request.

    Raises:
        BadHostRequest: not UTF-8 JSON of the documented shape.
    """
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadHostRequest(f"host_call request is not UTF-8 JSON: {exc}") from exc
    if not isinstance(value, dict) or not isinstance(value.get("function_id"), str):
        raise BadHostRequest('host_call request must be {"function_id": "svc::fn", "args": ...}')
    return HostRequest(value["function_id"], value.get("args"))


def host_ok(result: Any) -> bytes:
    """The guest's answer to a successful ``host_call``."""
    return json.dumps({"ok": True, "result": result}, separators=(",", ":")).encode()


def host_error(code: str, message: str) -> bytes:
    """The guest's answer to a refused or failed ``host_call``."""
    body = {"ok": False, "error": {"code": code, "message": message}}
    return json.dumps(body, separators=(",", ":")).encode()
