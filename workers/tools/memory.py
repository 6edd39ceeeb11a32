"""``tool::memory_store`` and ``tool::memory_recall``: the agent's memory, via the memory worker.

Both forward to ``memory::store`` / ``memory::recall`` with the calling agent's ``agent_id``
added (and in the metadata), in the caller's realm. A ``scope`` other than the agent's own is
checked first (capability ``memory``: the security worker, else the agent's
``memory_scopes``). Without a memory worker on the bus the answer is ``not_available``.

``memory_store`` is a ``file`` sink of the taint policy (:mod:`.sinks`): memory is the agents'
persistent store, like the workspace, so a secret is refused while personal data (what a user
asked to be remembered) is not. Both calls carry the run's ``taint`` in their metadata, for a
memory worker that keeps labels with what it stores; recall declares no ``output_taint``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from workers.sdk import Context, FunctionNotFound

from .config import ToolsConfig
from .errors import NotAvailable
from .identity import Request, caller_of, parse
from .policy import Policy
from .sinks import Gate

__all__ = ["Memory", "RecallRequest", "StoreRequest"]

Scope = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class StoreRequest(Request):
    content: Annotated[str, Field(min_length=1, max_length=65_536, description="What to remember")]
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=32)
    importance: Annotated[float, Field(ge=0, le=1)] | None = None
    scope: Scope | None = Field(None, description="A shared memory scope (default: your own)")


class RecallRequest(Request):
    query: Annotated[str, Field(min_length=1, max_length=4_096)]
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    scope: Scope | None = None


class Memory:
    """The two memory tools over one config and the taint gate."""

    def __init__(self, config: ToolsConfig, gate: Gate) -> None:
        self.config, self.gate = config, gate

    async def store(self, data: Any, ctx: Context) -> Any:
        return await self._forward("memory::store", parse(StoreRequest, data), ctx)

    async def recall(self, data: Any, ctx: Context) -> Any:
        return await self._forward("memory::recall", parse(RecallRequest, data), ctx)

    async def _forward(self, function_id: str, req: StoreRequest | RecallRequest, ctx: Context) -> Any:
        caller = caller_of(ctx, self.config)
        policy = Policy(self.config, ctx, caller)
        if req.scope is not None:
            await policy.require("memory", req.scope)
        if isinstance(req, StoreRequest):
            text = "\n".join([req.content, *req.tags, req.scope or ""])
            await self.gate.enforce(ctx, caller, "file", text, what="the memory", policy=policy)
        payload = {**req.model_dump(exclude_none=True), "agent_id": caller.agent_id}
        try:
            return await ctx.trigger(function_id, payload, timeout=self.config.call_timeout_s,
                                     metadata=caller.metadata())
        except FunctionNotFound as exc:
            raise NotAvailable(f"{function_id} is not registered: start the memory worker") from exc
