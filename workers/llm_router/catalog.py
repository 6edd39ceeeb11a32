"""What the router knows about a model: context window, tool support, prices, availability.

Facts come from litellm's bundled price map (``litellm.get_model_info``), overridden by what a
:class:`~workers.llm_router.config.ModelSpec` says. A model litellm does not know gets
conservative defaults — a small context window, tool support unknown, no price — so routing
prefers known models and cost reads 0.0 rather than a guess.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from ._litellm import litellm
from .config import ModelSpec

__all__ = [
    "LOCAL_PROVIDERS",
    "UNKNOWN_CONTEXT_WINDOW",
    "UNKNOWN_MAX_OUTPUT",
    "ModelInfo",
    "describe",
    "lookup",
    "provider_of",
    "register_local",
    "unavailable_reason",
]

log = logging.getLogger(__name__)

UNKNOWN_CONTEXT_WINDOW = 8192
UNKNOWN_MAX_OUTPUT = 4096


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Catalog facts about one litellm model string.

    ``supports_tools`` is None when unknown (routing accepts such a model for tool calls only
    when nothing better is configured). Prices are USD per token.
    """

    model: str
    provider: str
    context_window: int
    max_output_tokens: int
    supports_tools: bool | None
    input_cost_per_token: float
    output_cost_per_token: float
    known: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def estimate_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Price of a call of that size (USD), from the catalog's per-token prices."""
        return prompt_tokens * self.input_cost_per_token + completion_tokens * self.output_cost_per_token


def provider_of(model: str) -> str:
    """litellm's provider for ``model`` (``openai/gpt-4o`` → ``openai``), else its prefix."""
    try:
        return str(litellm.get_llm_provider(model)[1])
    except Exception:  # litellm raises BadRequestError for an unknown provider
        return model.split("/", 1)[0] if "/" in model else "unknown"


@functools.lru_cache(maxsize=1024)
def lookup(model: str) -> ModelInfo:
    """Catalog facts for a litellm model string; conservative defaults when litellm lacks it."""
    provider = provider_of(model)
    try:
        info: dict[str, Any] = dict(litellm.get_model_info(model))
    except Exception:  # ModelNotMappedError, or a provider litellm cannot price
        log.debug("model %s is not in litellm's catalog; using conservative defaults", model)
        return ModelInfo(model, provider, UNKNOWN_CONTEXT_WINDOW, UNKNOWN_MAX_OUTPUT, None, 0.0, 0.0, False)
    window = info.get("max_input_tokens") or info.get("max_tokens")
    output = info.get("max_output_tokens") or info.get("max_tokens")
    tools = info.get("supports_function_calling")
    return ModelInfo(
        model=model,
        provider=provider,
        context_window=int(window) if window else UNKNOWN_CONTEXT_WINDOW,
        max_output_tokens=int(output) if output else UNKNOWN_MAX_OUTPUT,
        supports_tools=bool(tools) if tools is not None else None,
        input_cost_per_token=float(info.get("input_cost_per_token") or 0.0),
        output_cost_per_token=float(info.get("output_cost_per_token") or 0.0),
        known=bool(window),
    )


def describe(spec: ModelSpec) -> ModelInfo:
    """The catalog facts of ``spec.model`` with the spec's own overrides applied."""
    info = lookup(spec.model)
    overrides: dict[str, Any] = {}
    if spec.context_window is not None:
        overrides["context_window"] = spec.context_window
    if spec.supports_tools is not None:
        overrides["supports_tools"] = spec.supports_tools
    if spec.input_cost_per_token is not None:
        overrides["input_cost_per_token"] = spec.input_cost_per_token
    if spec.output_cost_per_token is not None:
        overrides["output_cost_per_token"] = spec.output_cost_per_token
    return replace(info, **overrides) if overrides else info


LOCAL_PROVIDERS = frozenset({"ollama", "ollama_chat"})


def register_local(spec: ModelSpec) -> None:
    """Give a local (Ollama) model a static entry in litellm's catalog, once.

    Call it before the model is looked up or called. Without an entry, litellm 1.106 asks the
    Ollama server for the model's details with a *blocking* ``POST /api/show`` — also from its
    post-call logging, on the event loop. With one, it never does. The entry is conservative
    (``spec.context_window`` or 8192 tokens, free); tool support stays unknown.
    """
    if provider_of(spec.model) not in LOCAL_PROVIDERS:
        return
    if spec.model.lower() in {key.lower() for key in litellm.model_cost}:
        return
    litellm.register_model({spec.model: {
        "max_input_tokens": spec.context_window or UNKNOWN_CONTEXT_WINDOW,
        "max_output_tokens": UNKNOWN_MAX_OUTPUT,
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "litellm_provider": provider_of(spec.model),
        "mode": "chat",
    }})
    lookup.cache_clear()


def unavailable_reason(spec: ModelSpec) -> str | None:
    """Why ``spec`` cannot be used right now, or None when it can.

    A spec is usable when it references no unset variable and either names its endpoint or key
    itself or litellm finds the provider's key in the process environment.
    """
    if spec.missing_env:
        return _not_set(spec.missing_env)
    try:
        litellm.get_llm_provider(spec.model)
    except Exception:  # litellm raises BadRequestError: "LLM Provider NOT provided"
        return f"litellm does not know the provider of {spec.model!r} (write provider/model)"
    if spec.api_key is not None or spec.api_base is not None:
        return None
    check = litellm.validate_environment(spec.model)
    if check.get("keys_in_environment"):
        return None
    return _not_set(check.get("missing_keys") or ["credentials"])


def _not_set(names: Sequence[str]) -> str:
    return f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not set"
