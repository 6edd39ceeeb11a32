"""``GET /v1/models`` and ``GET /v1/models/{id}``: what ``model`` may name, in OpenAI's list shape.

The list is the caller's realm's agents as ``agent:<name>`` (``agent::list``), then the router's
usable aliases, ``auto`` and each usable provider model (``llm::models``, which already leaves out
what the realm's policy forbids), each once. A worker that is not running contributes nothing
rather than failing the list. ``created`` is the agent's creation time, or the api worker's start
for router models (they have none).
"""

from __future__ import annotations

from typing import Any

import anyio

from workers.sdk import Context, FunctionNotFound, InvocationError

from .errors import ModelNotFound, from_invocation
from .exchange import HttpRequest, reply
from .schema import AGENT_PREFIX

__all__ = ["ModelCatalog", "model_entries"]

_CALL_TIMEOUT = 10.0


def _entry(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def model_entries(agents: Any, llm: Any, created: int) -> list[dict[str, Any]]:
    """The model list from the answers of ``agent::list`` and ``llm::models`` (either may be None)."""
    out: dict[str, dict[str, Any]] = {}
    for agent in (agents or {}).get("agents", []):
        if isinstance(agent, dict) and agent.get("agent_id"):
            model_id = AGENT_PREFIX + str(agent["agent_id"])
            out[model_id] = _entry(model_id, int(agent.get("created_at") or created), "agentos")
    if isinstance(llm, dict) and llm.get("configured"):
        out["auto"] = _entry("auto", created, "agentos")
    for alias in (llm or {}).get("aliases", []) if isinstance(llm, dict) else []:
        if not isinstance(alias, dict) or not alias.get("available"):
            continue
        out.setdefault(str(alias["alias"]), _entry(str(alias["alias"]), created, "agentos"))
        for model in alias.get("models", []):
            if isinstance(model, dict) and model.get("available") and model.get("model"):
                out.setdefault(model["model"], _entry(model["model"], created, str(model.get("provider") or "unknown")))
    ollama = llm.get("ollama") if isinstance(llm, dict) else None
    for name in (ollama or {}).get("models", []):
        out.setdefault(name, _entry(name, created, "ollama"))
    return list(out.values())


async def _optional(ctx: Context, function_id: str, data: Any, into: dict[str, Any]) -> None:
    try:
        into[function_id] = await ctx.trigger(function_id, data, timeout=_CALL_TIMEOUT)
    except FunctionNotFound:
        into[function_id] = None
    except InvocationError as exc:
        into[function_id] = exc


class ModelCatalog:
    """The two models routes.

    Args:
        created: the epoch second reported as ``created`` of router models.
    """

    def __init__(self, created: int) -> None:
        self.created = created

    async def entries(self, ctx: Context) -> list[dict[str, Any]]:
        """Every model the caller may name (agents and router models asked concurrently).

        Raises:
            ApiError: a worker answered with an error (not merely absent).
        """
        answers: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:
            tg.start_soon(_optional, ctx, "agent::list", {}, answers)
            tg.start_soon(_optional, ctx, "llm::models", {}, answers)
        for answer in answers.values():
            if isinstance(answer, InvocationError):
                raise from_invocation(answer)
        return model_entries(answers["agent::list"], answers["llm::models"], self.created)

    async def list(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        return reply({"object": "list", "data": await self.entries(ctx)})

    async def get(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        """One model; ``/v1/models/{owner}/{model}`` names a provider model ``owner/model``.

        Raises:
            ModelNotFound: the caller cannot name that model.
        """
        params = request.path_params
        model_id = f"{params['owner']}/{params['model']}" if "owner" in params else params.get("model", "")
        if model_id.startswith(AGENT_PREFIX):
            try:
                agent = await ctx.trigger("agent::get", {"agent_id": model_id[len(AGENT_PREFIX):]},
                                          timeout=_CALL_TIMEOUT)
            except FunctionNotFound as exc:
                raise ModelNotFound(model_id) from exc
            except InvocationError as exc:
                raise (ModelNotFound(model_id) if exc.code in ("agent_not_found", "invalid_arguments")
                       else from_invocation(exc)) from exc
            return reply(_entry(model_id, int(agent.get("created_at") or self.created), "agentos"))
        found = next((m for m in await self.entries(ctx) if m["id"] == model_id), None)
        if found is None:
            raise ModelNotFound(model_id)
        return reply(found)
