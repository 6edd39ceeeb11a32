"""Errors the WASM sandbox answers with. Each carries a fixed wire ``code``.

One root, drawn here::

    InvocationError (workers.sdk)          the SDK sends ``code`` and ``message`` to the caller
    └── SandboxError                        root of this package's refusals
        ├── InvalidArguments     invalid_arguments       a request field is bad or above its cap
        ├── InvalidModule        invalid_module          not WebAssembly, too big, or off the ABI
        ├── ModuleNotFound       module_not_found        no module with that id in the realm
        ├── SandboxBusy          wasm_busy               every execution slot and queue place taken
        ├── ForbiddenImport      wasm_forbidden_import   WASI without the ``wasi`` capability
        └── GuestFailure                                 the guest ran and failed (below)
            ├── GuestTrap        wasm_trap               unreachable, out-of-bounds, stack overflow,
            │                                            an ABI violation (bad buffer)
            ├── OutOfFuel        wasm_out_of_fuel        the fuel budget ran out
            ├── GuestTimeout     wasm_timeout            the wall-clock deadline passed
            ├── MemoryLimit      wasm_memory_limit       the memory cap was hit
            └── BadOutput        wasm_bad_output         the output is not UTF-8 JSON, or too big

``wasm_forbidden_host_call`` is not an exception: a refused ``host_call`` is answered to the
*guest* as JSON (see :mod:`.abi`), and the execution goes on.

wasmtime's own errors (``Trap``, ``WasmtimeError``) never leave :mod:`.runtime` except as the
``__cause__`` of one of these.
"""

from __future__ import annotations

from typing import ClassVar

from workers.sdk import InvocationError

__all__ = [
    "FORBIDDEN_HOST_CALL",
    "HOST_CALL_LIMIT",
    "BadOutput",
    "ForbiddenImport",
    "GuestFailure",
    "GuestTimeout",
    "GuestTrap",
    "InvalidArguments",
    "InvalidModule",
    "MemoryLimit",
    "ModuleNotFound",
    "OutOfFuel",
    "SandboxBusy",
    "SandboxError",
]

FORBIDDEN_HOST_CALL = "wasm_forbidden_host_call"
HOST_CALL_LIMIT = "wasm_host_call_limit"


class SandboxError(InvocationError):
    """A refusal of the sandbox; the subclass fixes the wire code."""

    CODE: ClassVar[str] = "invocation_failed"

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class InvalidArguments(SandboxError):
    CODE = "invalid_arguments"


class InvalidModule(SandboxError):
    CODE = "invalid_module"


class ModuleNotFound(SandboxError):
    CODE = "module_not_found"


class SandboxBusy(SandboxError):
    CODE = "wasm_busy"


class ForbiddenImport(SandboxError):
    CODE = "wasm_forbidden_import"


class GuestFailure(SandboxError):
    """The guest ran and failed; ``fuel_consumed`` says how far it got (when known)."""

    def __init__(self, message: str, *, fuel_consumed: int | None = None) -> None:
        super().__init__(message)
        self.fuel_consumed = fuel_consumed


class GuestTrap(GuestFailure):
    CODE = "wasm_trap"


class OutOfFuel(GuestFailure):
    CODE = "wasm_out_of_fuel"


class GuestTimeout(GuestFailure):
    CODE = "wasm_timeout"


class MemoryLimit(GuestFailure):
    CODE = "wasm_memory_limit"


class BadOutput(GuestFailure):
    CODE = "wasm_bad_output"
