"""``tool::code_exec``: run WebAssembly (WAT text or base64 binary) in the WASM sandbox.

It is an ``exec`` sink of the taint policy (:mod:`.sinks`): a run that has read untrusted
content (or holds secrets), or code or input carrying a secret, runs nothing — the module is
not even validated. The module's text (a binary's bytes decoded as text, so strings of its
data segments are seen) and the input's JSON are what is checked.

The module is validated under an id derived from its content (``code-<sha256 prefix>``), so
running the same code again reuses the compiled module, then executed with the calling agent's
identity (metadata ``agent_id``), so the sandbox re-checks host calls and WASI for that agent.
The sandbox's errors (``invalid_module``, ``wasm_trap``, ``wasm_out_of_fuel``,
``wasm_timeout``, ``wasm_memory_limit``…) pass through unchanged; without a sandbox on the bus
the answer is ``not_available``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Annotated, Any

from pydantic import Field, model_validator

from workers.sdk import Context, FunctionNotFound

from .config import ToolsConfig
from .errors import NotAvailable
from .identity import Request, caller_of, parse
from .sinks import Gate, as_text

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


def _module_text(kind: str, source: str) -> str:
    """What the detector reads of a module: WAT as is, a binary's bytes (base64 decoded)."""
    if kind == "wat":
        return source
    try:
        return as_text(base64.b64decode(source, validate=True))
    except binascii.Error:
        return source  # the sandbox will refuse it; check what was given


class Code:
    """The code tool over one config and the taint gate."""

    def __init__(self, config: ToolsConfig, gate: Gate) -> None:
        self.config, self.gate = config, gate

    async def exec(self, data: Any, ctx: Context) -> Any:
        req = parse(CodeRequest, data)
        caller = caller_of(ctx, self.config)
        source = req.wat if req.wat is not None else req.wasm
        assert source is not None
        kind = "wat" if req.wat is not None else "wasm"
        shown = json.dumps(req.input, ensure_ascii=False, default=str)
        await self.gate.enforce(ctx, caller, "exec", f"{_module_text(kind, source)}\n{shown}",
                                what="the code or its input")
        module_id = "code-" + hashlib.sha256(f"{kind}\x00{source}".encode()).hexdigest()[:24]
        metadata = caller.metadata()
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
