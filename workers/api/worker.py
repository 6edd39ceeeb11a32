"""The api worker: the route table, the guard every route runs behind, and the SDK Worker.

:data:`ROUTES` is the whole HTTP surface: one function per route, bound with an ``http``
:class:`~workers.sdk.TriggerBinding` ``{api_path, http_method}`` on the worker. Every handler
runs behind :meth:`ApiService.guard`, which

1. validates the ``http`` module's input once (:class:`~workers.api.exchange.HttpRequest`);
2. applies the per-key rate limit (except ``/api/health``) → 429 with ``retry-after``;
3. turns every error into the OpenAI envelope: :class:`~workers.api.errors.ApiError` as is,
   a worker's :class:`~workers.sdk.InvocationError` through ``from_invocation``, anything else
   logged with its traceback and answered as a bare 500.

Authentication is the engine's: API keys are Bearer tokens in the engine's config, checked by
the ``http`` module before any handler runs (a bad key is its 401), each mapped to a role and a
realm that arrive here as ``ctx.realm`` and follow every call out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from workers.sdk import Context, FunctionDef, InvocationError, TriggerBinding, Worker, function

from .completions import Completions
from .config import ApiConfig
from .errors import ApiError, RateLimited, from_invocation
from .exchange import HttpRequest, parse_request
from .models import ModelCatalog
from .ratelimit import RateLimiter, key_of
from .rest import AgentsApi, RunsApi, health

__all__ = ["ROUTES", "ApiService", "Route", "build_worker"]

log = logging.getLogger(__name__)

WORKER_NAME = "api"

Handler = Callable[[HttpRequest, Context], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP route: the function serving it and the ``http`` trigger binding it."""

    function_id: str
    method: str
    path: str
    description: str
    limited: bool = True
    """Counted against the caller's rate limit."""

    def binding(self) -> TriggerBinding:
        return TriggerBinding("http", self.function_id, {"api_path": self.path, "http_method": self.method})


ROUTES: tuple[Route, ...] = (
    Route("api::chat_completions", "POST", "v1/chat/completions",
          "OpenAI-compatible chat completions: provider models via llm::complete, agent:<name> via agent::chat"),
    Route("api::models_list", "GET", "v1/models", "OpenAI-compatible model list: agents and router models"),
    Route("api::models_get", "GET", "v1/models/:model", "One model of the list"),
    Route("api::models_get_qualified", "GET", "v1/models/:owner/:model",
          "One provider model of the list, named provider/model"),
    Route("api::agents_list", "GET", "api/agents", "List the caller's agents"),
    Route("api::agents_create", "POST", "api/agents", "Create an agent"),
    Route("api::agents_get", "GET", "api/agents/:id", "Get an agent"),
    Route("api::agents_update", "PATCH", "api/agents/:id", "Update an agent"),
    Route("api::agents_delete", "DELETE", "api/agents/:id", "Delete an agent"),
    Route("api::agents_message", "POST", "api/agents/:id/message", "Run an agent on a message"),
    Route("api::runs_list", "GET", "api/runs", "Runs that paused for approval"),
    Route("api::runs_get", "GET", "api/runs/:id", "One paused or resumed run"),
    Route("api::approvals_list", "GET", "api/approvals", "Approval requests"),
    Route("api::approvals_decide", "POST", "api/approvals/:id", "Approve or reject a request"),
    Route("api::health", "GET", "api/health", "Is the api and what it needs up", limited=False),
)


class ApiService:
    """The api worker's state: settings, the rate limiter, the endpoints.

    Args:
        config: the settings (default: from the environment).
        clock: monotonic seconds, for the rate limiter.
        wall_clock: epoch seconds, for ``created`` fields.
    """

    def __init__(self, config: ApiConfig | None = None, *, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config or ApiConfig()
        self.clock = clock
        self.limiter = RateLimiter(self.config.rate_limit_per_minute, self.config.rate_limit_burst,
                                   max_keys=self.config.rate_limit_max_keys)
        self.completions = Completions(self.config, wall_clock)
        self.models = ModelCatalog(int(wall_clock()))
        self.agents = AgentsApi(self.config)
        self.runs = RunsApi()
        self.handlers: dict[str, Handler] = {
            "api::chat_completions": self.completions.handle,
            "api::models_list": self.models.list,
            "api::models_get": self.models.get,
            "api::models_get_qualified": self.models.get,
            "api::agents_list": self.agents.list,
            "api::agents_create": self.agents.create,
            "api::agents_get": self.agents.get,
            "api::agents_update": self.agents.update,
            "api::agents_delete": self.agents.delete,
            "api::agents_message": self.agents.message,
            "api::runs_list": self.runs.runs,
            "api::runs_get": self.runs.run,
            "api::approvals_list": self.runs.approvals,
            "api::approvals_decide": self.runs.decide,
            "api::health": self._health,
        }

    async def _health(self, request: HttpRequest, ctx: Context) -> dict[str, Any]:
        return await health(ctx, self.limiter)

    def check_rate(self, request: HttpRequest, ctx: Context) -> None:
        """Spend one request of the caller's bucket.

        Raises:
            RateLimited: the bucket is empty.
        """
        decision = self.limiter.take(key_of(request.headers.get("authorization"), ctx.realm), self.clock())
        if not decision.allowed:
            limited = RateLimited(f"Rate limit reached: {self.limiter.per_minute:g} requests per minute "
                                  f"for this API key. Retry in {decision.retry_after:.1f}s.",
                                  decision.retry_after)
            limited.headers.update({"x-ratelimit-limit-requests": f"{self.limiter.per_minute:g}",
                                    "x-ratelimit-remaining-requests": "0"})
            raise limited

    async def guard(self, route: Route, data: Any, ctx: Context) -> dict[str, Any] | None:
        """Run the handler of ``route`` on one request (see the module docstring)."""
        try:
            request = parse_request(data)
            if route.limited:
                self.check_rate(request, ctx)
            return await self.handlers[route.function_id](request, ctx)
        except ApiError as exc:
            return exc.reply()
        except InvocationError as exc:
            return from_invocation(exc).reply()
        except Exception:
            log.exception("%s failed", route.function_id)
            return ApiError("internal error; see the api worker's log", code="internal_error").reply()

    def _define(self, route: Route) -> FunctionDef:
        async def serve(data: Any, ctx: Context) -> dict[str, Any] | None:
            return await self.guard(route, data, ctx)

        serve.__name__ = serve.__qualname__ = route.function_id.replace("::", "_")
        return FunctionDef.of(function(route.function_id, description=route.description)(serve))

    def worker(self) -> Worker:
        """The worker serving every route, with its ``http`` bindings."""
        return Worker(WORKER_NAME, description="OpenAI-compatible /v1 and the /api REST routes",
                      functions=[self._define(r) for r in ROUTES], triggers=[r.binding() for r in ROUTES])


def build_worker(config: ApiConfig | None = None) -> Worker:
    """The api worker with ``config`` (default: from the environment)."""
    return ApiService(config or ApiConfig.from_env()).worker()
