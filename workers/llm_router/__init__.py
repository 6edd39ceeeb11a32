"""The llm-router worker: model aliases, routing, fallbacks, cost — on litellm.

Functions (payloads are JSON objects; unknown keys are ignored):

``llm::complete``
    in: ``{model?: alias | "auto" | "provider/model" (default "default"), messages, tools?,
    tool_choice?, temperature?, top_p?, max_tokens?, stop?, response_format?, seed?,
    parallel_tool_calls?, stream?: bool, stream_to?: {channel_id, access_key, direction: "write"},
    agent_id?, metadata?}``

    out: the OpenAI ``chat.completion`` — ``{id, object, created, model, choices: [{index,
    message: {role, content, tool_calls?}, finish_reason}], usage: {prompt_tokens,
    completion_tokens, total_tokens}}`` — plus ``cost_usd`` (0.0 when unpriceable),
    ``provider``, ``alias`` (None for a direct model) and ``attempts: [{model, error?, kind?,
    status?, retry_after?, delay_s?}]``. Tool calls are passed through exactly.

    With ``stream: true`` every upstream chunk is written to the ``stream_to`` channel as it
    arrives, one JSON text frame per OpenAI ``chat.completion.chunk`` (constant ``id``, tool-call
    deltas with their ``index``, a final usage frame with ``choices: []``); on failure a last
    ``{"error": {message, type, code}}`` frame; then the channel is closed. The return value is
    the aggregate, as without streaming.

``llm::route``
    in: ``{model?: (default "auto"), messages?, tools?, max_tokens?, agent_id?}``
    out: ``{alias, model, provider, models, tier, complexity, reason, estimated_tokens,
    estimated_cost_usd, context_window, supports_tools, skipped}``

``llm::models``
    out: ``{configured, default_alias, aliases: [{alias, available, models: [{model, provider,
    context_window, max_output_tokens, supports_tools, input_cost_per_token,
    output_cost_per_token, known, source, available, reason?}]}], ollama: {base_url, models} |
    null, hint?}`` — only the aliases the caller's realm may use.

``llm::usage``
    in: ``{realm?, agent_id?, model?}`` (a realm-bound caller always sees its own realm only)
    out: ``{since, totals, by_model, entries: [{realm, agent_id, model, requests, errors,
    prompt_tokens, completion_tokens, total_tokens, cost_usd}], overflowed}``

Error codes: :mod:`workers.llm_router.errors`. Configuration: :mod:`workers.llm_router.config`
and the repository's ``llm.yaml``.
"""

import os

# Before anything imports litellm: otherwise it downloads its price map at import time.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from .config import LlmConfig, ModelSpec, build_config, load_config, parse_config  # noqa: E402
from .errors import (  # noqa: E402
    HTTP_STATUS,
    BadRequest,
    BudgetCheckFailed,
    BudgetExceeded,
    ForbiddenModel,
    LlmConfigError,
    LlmError,
    NotConfigured,
    StreamError,
    UpstreamError,
)
from .worker import LlmRouter, main  # noqa: E402

__all__ = [
    "HTTP_STATUS",
    "BadRequest",
    "BudgetCheckFailed",
    "BudgetExceeded",
    "ForbiddenModel",
    "LlmConfig",
    "LlmConfigError",
    "LlmError",
    "LlmRouter",
    "ModelSpec",
    "NotConfigured",
    "StreamError",
    "UpstreamError",
    "build_config",
    "load_config",
    "main",
    "parse_config",
]
