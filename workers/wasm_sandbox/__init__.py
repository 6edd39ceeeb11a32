"""The WASM sandbox: run small, untrusted WebAssembly modules with hard limits.

Modules, one concern each::

    abi       the guest ABI (documented there), import checks, the host_call JSON shapes
    config    SandboxConfig: defaults, caps, the host-call allowlist, local WASI policy
    errors    SandboxError and its wire codes (wasm_trap, wasm_out_of_fuel, …)
    ticker    the refcounted epoch ticker thread (wall-clock deadlines)
    runtime   the wasmtime engine; one fresh Store per execution (blocking, in a thread)
    host      host_call/host_log: from the guest's thread to the bus, policy re-checks
    modules   module ids per realm, compiled code shared by content hash
    worker    wasm::validate / wasm::execute / wasm::list_modules

Example guests (WAT) live in ``examples/``; :func:`example` reads one.
"""

from pathlib import Path

from .abi import ABI_VERSION
from .config import SandboxConfig
from .errors import SandboxError
from .worker import SandboxStatistics, WasmSandbox, build_worker

__all__ = [
    "ABI_VERSION",
    "EXAMPLES_DIR",
    "SandboxConfig",
    "SandboxError",
    "SandboxStatistics",
    "WasmSandbox",
    "build_worker",
    "example",
]

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def example(name: str) -> str:
    """The WAT text of ``examples/<name>.wat`` (``echo_upper``, ``sum``, ``host_call``).

    Raises:
        FileNotFoundError: no such example.
    """
    return (EXAMPLES_DIR / f"{name}.wat").read_text(encoding="utf-8")
