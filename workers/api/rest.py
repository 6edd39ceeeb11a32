"""The REST routes of the seed's ``api.ts``: ``/api/agents…`` and ``/api/health``.

Each route is a thin translation to one agent-core function, in the caller's realm::

    GET    /api/agents               agent::list   {status?, tag?} from the query  → 200 {agents}
    POST   /api/agents               agent::create the body (a spec, or {template, name, overrides})
                                                                                   → 201 the agent
    GET    /api/agents/:id           agent::get                                    → 200 the agent
    PATCH  /api/agents/:id           agent::update the body's fields (and status)  → 200 the agent
    DELETE /api/agents/:id           agent::delete                                 → 200 {deleted, agent_id}
    POST   /api/agents/:id/message   agent::chat   {message | messages, session_id?, context?}
                                                                                   → 200 the run's result
    GET    /api/runs                 agent::runs_list {status?, agent_id?}         → 200 {runs}
    GET    /api/runs/:id             agent::run_get                                → 200 the run
    GET    /api/approvals            approval::list {status?, agent_id?}           → 200 {approvals}
    POST   /api/approvals/:id        approval::decide {decision, note?}            → 200 the decision
    GET    /api/health               which of the workers the api needs are registered → 200

A run that pauses for approval answers ``POST /api/agents/:id/message`` (and
``/v1/chat/completions``, under ``agentos``) with ``status: "paused"``, its ``run_id`` and the
pending ``approvals``; ``POST /api/approvals/:id {decision: approve|reject, note?}`` decides one
(``by`` is ``api:<realm>``: the caller's credential, never the body), and ``GET /api/runs/:id``
shows the run's outcome once it went on.

Errors use the same OpenAI envelope as ``/v1`` (an unknown agent is a 404 ``agent_not_found``).
Unlike the seed, ``message`` keeps the whole ``messages`` history when one is given, and a
``session_id`` continues a stored session.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workers.sdk import Context, InvocationError

from .config import ApiConfig
from .errors import InvalidRequest, from_invocation
from .exchange import HttpRequest, json_body, reply
from .ratelimit import RateLimiter
from .schema import param_of

__all__ = ["AgentsApi", "DecisionBody", "MessageBody", "RunsApi", "health"]

_ADMIN_TIMEOUT = 30.0
_NEEDED = {"llm_router": "llm::complete", "agent_core": "agent::chat"}


class MessageBody(BaseModel):
    """``POST /api/agents/:id/message``: exactly one of ``message`` and ``messages``."""

    model_config = ConfigDict(extra="ignore")

    message: str | None = Field(default=None, min_length=1)
    messages: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    session_id: str | None = None
    context: dict[str, Any] | str | None = None


async def _call(ctx: Context, function_id: str, data: dict[str, Any], timeout: float = _ADMIN_TIMEOUT) -> Any:
    try:
        return await ctx.trigger(function_id, data, timeout=timeout)
    except InvocationError as exc:
        raise from_invocation(exc) from exc


def _object(request: HttpRequest) -> dict[str, Any]:
    body = json_body(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body


class AgentsApi:
    """The ``/api/agents`` routes."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config

    async def list(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        query = {k: v for k, v in request.query_params.items() if k in ("status", "tag") and v}
        return reply(await _call(ctx, "agent::list", query))

    async def create(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        return reply(await _call(ctx, "agent::create", _object(request)), status=201)

    async def get(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        return reply(await _call(ctx, "agent::get", {"agent_id": request.path_params["id"]}))

    async def update(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        body = {**_object(request), "agent_id": request.path_params["id"]}
        return reply(await _call(ctx, "agent::update", body))

    async def delete(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        return reply(await _call(ctx, "agent::delete", {"agent_id": request.path_params["id"]}))

    async def message(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        """Run the agent on a message (or a whole history) and answer the run's result."""
        try:
            body = MessageBody.model_validate(_object(request))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            raise InvalidRequest(f"{param_of(err['loc'])}: {err['msg']}", param=param_of(err["loc"])) from exc
        if (body.message is None) == (body.messages is None):
            raise InvalidRequest("give exactly one of 'message' and 'messages'", param="message")
        payload = {"agent_id": request.path_params["id"],
                   **body.model_dump(exclude_none=True)}
        return reply(await _call(ctx, "agent::chat", payload, self.config.agent_timeout_s))


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=4000)


class RunsApi:
    """``/api/runs`` and ``/api/approvals``."""

    async def runs(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        query = {k: v for k, v in request.query_params.items() if k in ("status", "agent_id") and v}
        return reply(await _call(ctx, "agent::runs_list", query))

    async def run(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        return reply(await _call(ctx, "agent::run_get", {"run_id": request.path_params["id"]}))

    async def approvals(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        query = {k: v for k, v in request.query_params.items() if k in ("status", "agent_id") and v}
        return reply(await _call(ctx, "approval::list", query))

    async def decide(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        try:
            body = DecisionBody.model_validate(_object(request))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            raise InvalidRequest(f"{param_of(err['loc'])}: {err['msg']}", param=param_of(err["loc"])) from exc
        payload = {"approval_id": request.path_params["id"], "decision": body.decision,
                   "note": body.note, "by": f"api:{ctx.realm or 'default'}"}
        return reply(await _call(ctx, "approval::decide", payload))


async def health(ctx: Context, limiter: RateLimiter) -> dict[str, Any]:
    """``GET /api/health``: ``ok`` when the workers behind ``/v1`` are registered, else ``degraded``."""
    listing = await _call(ctx, "engine::functions::list", {"include_schemas": False, "include_internal": False})
    present = {f.get("function_id") for f in (listing or {}).get("functions", []) if isinstance(f, dict)}
    checks: dict[str, Any] = {name: fid in present for name, fid in _NEEDED.items()}
    if checks["llm_router"]:
        models = await _call(ctx, "llm::models", {})
        checks["llm_configured"] = bool(isinstance(models, dict) and models.get("configured"))
    stats = limiter.statistics()
    ok = all(v for v in checks.values())
    return reply({"status": "ok" if ok else "degraded", "checks": checks,
                  "rate_limit": {"per_minute": limiter.per_minute, "burst": limiter.burst,
                                 "keys": stats.keys, "refused": stats.refused}})
