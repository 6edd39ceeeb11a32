"""``tool::code_exec``: run WebAssembly (WAT text or base64 binary) in the WASM sandbox.

The module is validated under an id derived from its content (``code-<sha256 prefix>``), so
running the same code again reuses the compiled module, then executed with the calling agent's
identity (metadata ``agent_id``), so the sandbox re-checks host calls and WASI for that agent.
The sandbox's errors (``invalid_module``, ``wasm_trap``, ``wasm_out_of_fuel``,
``wasm_timeout``, ``wasm_memory_limit``…) pass through unchanged; without a sandbox on the bus
the answer is ``not_available``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import Field, model_validator

from workers.sdk import Context, FunctionNotFound

from .config import ToolsConfig
from .errors import NotAvailable
from .identity import Request, caller_of, parse

__all__ = ["Code", "CodeRequest"]


class CodeRequest(Request):
    wat: str | None = Field(None, description="A module in WebAssembly text format (guest ABI v1)")
    wasm: str | None = Field(None, description="Or the module binary, base64")
    input: Any = Field(None, description="Any JSON value, handed to the module's execute()")
    fuel: Annotated[int, Field(ge=1)] | None = None
    timeout_ms: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CodeRequest:
        if (self.wat is None) == (self.wasm is None):
            raise ValueError("give exactly one of wat and wasm")
        return self


class Code:
    def __init__(self, config: ToolsConfig) -> None:
        self.config = config

    async def exec(self, data: Any, ctx: Context) -> Any:
        req = parse(CodeRequest, data)
        caller = caller_of(ctx, self.config)
        source = req.wat if req.wat is not None else req.wasm
        assert source is not None
        kind = "wat" if req.wat is not None else "wasm"
        module_id = "code-" + hashlib.sha256(f"{kind}\x00{source}".encode()).hexdigest()[:24]
        metadata = {"agent_id": caller.agent_id, "agent_depth": caller.depth}
        run: dict[str, Any] = {"module_id": module_id, "input": req.input}
        for key in ("fuel", "timeout_ms"):
            if getattr(req, key) is not None:
                run[key] = getattr(req, key)
        try:
            await ctx.trigger("wasm::validate", {"module_id": module_id, kind: source},
                              timeout=self.config.call_timeout_s, metadata=metadata)
            result = await ctx.trigger("wasm::execute", run, timeout=self.config.call_timeout_s,
                                       metadata=metadata)
        except FunctionNotFound as exc:
            raise NotAvailable("the WASM sandbox (wasm::*) is not registered: start "
                               "workers.wasm_sandbox") from exc
        return result
