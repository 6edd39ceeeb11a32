"""The api worker: the OpenAI-compatible ``/v1`` endpoints and the ``/api`` REST routes on :3111.

Routes (each an ``http`` trigger bound by this worker; see :data:`~workers.api.worker.ROUTES`)::

    POST   /v1/chat/completions       provider models → llm::complete; agent:<name> → agent::chat
    GET    /v1/models                 the caller's agents (agent:<name>) and the router's models
    GET    /v1/models/{id}            one of them
    GET    /api/agents · POST /api/agents · GET|PATCH|DELETE /api/agents/{id}
    POST   /api/agents/{id}/message   run an agent
    GET    /api/health

Modules, one concern each::

    config       ApiConfig (rate limit, timeouts) from the environment
    errors       ApiError and the worker-error → HTTP status table
    exchange     the http module's request input, JSON bodies, replies
    schema       the chat completion request, validated with OpenAI-style ``param`` paths
    shapes       chat.completion / chunk builders and SSE framing (pure)
    relay        streamed frames → SSE bytes, for provider models and agent runs (pure)
    streaming    the I/O of a streamed completion (channel in, SSE out)
    ratelimit    per-key token buckets (pure; time is a parameter)
    completions  POST /v1/chat/completions
    models       GET /v1/models[/{id}]
    rest         /api/agents… and /api/health
    worker       the route table, the guard around every route, the Worker

``python -m workers.api`` serves it (engine URL and token from ``AGENTOS_URL``/``AGENTOS_TOKEN``).

Contract decisions (beyond shared/reference/openai-compat.md)
-------------------------------------------------------------
* **Auth is the engine's.** API keys are ``engine.auth.tokens`` (role + realm); the ``http``
  module refuses a missing or unknown key with 401 before any handler runs, so that 401 — like
  the module's 413 (body over ``max_body_bytes``), 400 ``INVALID_JSON`` (a JSON content type with
  a broken body), 404/405 (no route) and 504 (no first byte within ``default_timeout``) — carries
  the engine's envelope ``{"error": {"code", "message"}}`` (no ``type``/``param``). Every answer
  of this worker uses the OpenAI envelope ``{"error": {"message", "type", "param", "code"}}``.
* **Statuses** (:data:`~workers.api.errors.STATUS_OF`): 400 invalid_request_error; 402
  insufficient_quota for ``budget_exceeded`` (not retried by clients; 429 is kept for rate
  limits); 403 permission_error for ``llm_forbidden_model``; 404 ``model_not_found`` for an
  unknown agent or alias; 409 for paused/archived agents (``x-should-retry: false``); 429
  rate_limit_error with ``retry-after``; 502 upstream errors; 503 ``llm_not_configured`` (its
  message says how to configure a provider; ``x-should-retry: false``); 504 timeouts.
* **Streaming** is real: chunks are relayed as the worker writes them. The response starts at the
  first chunk, so failures before it get their real status. A failure after it is one
  ``data: {"error": {…}}`` event, then ``data: [DONE]`` (OpenAI clients raise on it).
* **Agents** (``agent:<name>``): the whole message history goes to ``agent::chat``; the agent's
  own model, sampling settings and tools apply (client ``tools``/``tool_choice`` → 400; the
  sampling options are ignored). Streamed, every content chunk of the run is relayed (text a
  model writes before calling tools too; the non-streamed answer is the last model call's
  text), tool events become SSE comments (``: tool_call <function_id> <id>``), and one final
  chunk carries the run's finish reason (``max_iterations``/``loop_detected`` read ``length``).
* **Rate limit**: per API key, per api process (N api processes allow N times the rate).
"""

from .config import ApiConfig
from .errors import ApiError, InvalidRequest, ModelNotFound, NotFound, RateLimited, from_invocation
from .ratelimit import RateLimiter
from .relay import AgentRelay, LlmRelay
from .schema import ChatRequest, parse_chat
from .worker import ROUTES, ApiService, Route, build_worker

__all__ = [
    "ROUTES",
    "AgentRelay",
    "ApiConfig",
    "ApiError",
    "ApiService",
    "ChatRequest",
    "InvalidRequest",
    "LlmRelay",
    "ModelNotFound",
    "NotFound",
    "RateLimited",
    "RateLimiter",
    "Route",
    "build_worker",
    "from_invocation",
    "parse_chat",
]
