"""The public surface of workers.wasm_sandbox is pinned."""

from __future__ import annotations

import workers.wasm_sandbox as wasm_sandbox


def test_exports() -> None:
    assert sorted(wasm_sandbox.__all__) == sorted([
        "ABI_VERSION", "EXAMPLES_DIR", "SandboxConfig", "SandboxError", "SandboxStatistics",
        "WasmSandbox", "build_worker", "example",
    ])
    for name in wasm_sandbox.__all__:
        assert getattr(wasm_sandbox, name) is not None


def test_the_worker_serves_every_function() -> None:
    ids = [f.id for f in wasm_sandbox.WasmSandbox().worker().functions]
    assert ids == ["wasm::validate", "wasm::execute", "wasm::list_modules"]


def test_every_function_publishes_an_object_schema() -> None:
    for fdef in wasm_sandbox.WasmSandbox().worker().functions:
        assert fdef.request_format["type"] == "object"


def test_examples_ship() -> None:
    assert sorted(p.stem for p in wasm_sandbox.EXAMPLES_DIR.glob("*.wat")) == [
        "echo_upper", "host_call", "sum"]
