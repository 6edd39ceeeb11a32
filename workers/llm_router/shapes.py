"""The OpenAI shapes the router answers with, built from litellm's response objects.

litellm's ``ModelResponse`` dumps carry extras (``provider_specific_fields``, ``function_call``,
its own usage details); callers of ``llm::complete`` get exactly the OpenAI ``chat.completion``
and ``chat.completion.chunk`` fields instead. Tool calls are copied field by field — ids, names
and argument strings are never rewritten.

:func:`cost_of` prices a response with litellm's price map (or a model's configured prices) and
never raises: an unpriceable model costs 0.0.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ._litellm import litellm
from .catalog import ModelInfo
from .config import ModelSpec

__all__ = ["chunk_frames", "completion_dict", "cost_of", "usage_dict"]

log = logging.getLogger(__name__)


def usage_dict(usage: Any) -> dict[str, int]:
    """``{prompt_tokens, completion_tokens, total_tokens}`` of a litellm ``Usage`` (zeros if None)."""
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    total = int(getattr(usage, "total_tokens", 0) or 0) or prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def _tool_call(call: Any) -> dict[str, Any]:
    function = call.function
    return {"id": call.id, "type": getattr(call, "type", None) or "function",
            "function": {"name": function.name, "arguments": function.arguments}}


def completion_dict(response: Any) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` dict of a litellm ``ModelResponse``.

    ``content`` is None (not ``""``) when the turn only calls tools, as OpenAI sends it.
    """
    choices = []
    for choice in response.choices:
        message = choice.message
        calls = [_tool_call(c) for c in (message.tool_calls or [])]
        content = message.content
        if calls and content == "":
            content = None
        out: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            out["tool_calls"] = calls
        choices.append({"index": choice.index, "message": out, "finish_reason": choice.finish_reason})
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": int(response.created),
        "model": response.model,
        "choices": choices,
        "usage": usage_dict(getattr(response, "usage", None)),
    }


def _delta_tool_call(call: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"index": call.index}
    if call.id:
        out["id"] = call.id
        out["type"] = "function"
    function = getattr(call, "function", None)
    fn: dict[str, Any] = {}
    if function is not None and function.name:
        fn["name"] = function.name
    if function is not None and function.arguments is not None:
        fn["arguments"] = function.arguments
    out["function"] = fn
    return out


def _delta(delta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(delta, "role", None):
        out["role"] = delta.role
    if getattr(delta, "content", None) is not None:
        out["content"] = delta.content
    calls = getattr(delta, "tool_calls", None)
    if calls:
        out["tool_calls"] = [_delta_tool_call(c) for c in calls]
    return out


def chunk_frames(chunk: Any, *, id: str, created: int, model: str) -> list[dict[str, Any]]:
    """The OpenAI ``chat.completion.chunk`` dicts for one litellm stream chunk (0 to 2).

    Every frame gets the stream's ``id``, ``created`` and ``model`` (OpenAI keeps them constant).
    A chunk carrying usage becomes, as OpenAI sends it, a usage frame with ``choices: []`` (after
    the choice frame, if the chunk also had a delta or a finish reason). Empty chunks vanish.
    """
    head = {"id": id, "object": "chat.completion.chunk", "created": created, "model": model}
    frames: list[dict[str, Any]] = []
    choices = []
    for choice in chunk.choices:
        delta = _delta(choice.delta)
        if delta or choice.finish_reason is not None:
            choices.append({"index": choice.index, "delta": delta, "finish_reason": choice.finish_reason})
    if choices:
        frames.append({**head, "choices": choices, "usage": None})
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        frames.append({**head, "choices": [], "usage": usage_dict(usage)})
    return frames


def cost_of(response: Any, spec: ModelSpec, info: ModelInfo) -> float:
    """The USD cost of ``response``; 0.0 when the model cannot be priced. Never raises."""
    usage = usage_dict(getattr(response, "usage", None))
    if spec.input_cost_per_token is not None or spec.output_cost_per_token is not None:
        return info.estimate_cost(usage["prompt_tokens"], usage["completion_tokens"])
    try:
        cost = float(litellm.completion_cost(completion_response=response, model=spec.model))
    except Exception as exc:  # litellm raises for any model its map does not price
        log.debug("no price for %s: %s", spec.model, exc)
        return 0.0
    return cost if math.isfinite(cost) and cost >= 0 else 0.0
