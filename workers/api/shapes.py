"""The OpenAI shapes the api answers with, and their SSE framing. Pure: no I/O, no clock.

* :func:`completion_from_llm` — a ``chat.completion`` from ``llm::complete``'s answer: the router's
  extras (``cost_usd``, ``provider``, ``alias``, ``attempts``) are left out; tool calls are copied
  exactly as the provider returned them (ids, names, argument strings).
* :func:`completion_from_agent` — a ``chat.completion`` from ``agent::chat``'s answer: the content
  is the agent's answer, usage the whole run's; run details go under a top-level ``agentos`` key
  (OpenAI clients keep unknown top-level keys).
* :func:`chunk`, :func:`usage_chunk` — ``chat.completion.chunk`` dicts; :func:`sse`,
  :data:`DONE`, :func:`comment` — their ``text/event-stream`` framing.
* :func:`finish_reason` — an agent run's reasons mapped onto OpenAI's closed set: a run cut short
  by ``max_iterations`` or the loop guard (``loop_detected``) reads ``length`` (stopped by a limit).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DONE",
    "FINISH_REASONS",
    "chunk",
    "comment",
    "completion_from_agent",
    "completion_from_llm",
    "completion_id",
    "finish_reason",
    "sse",
    "usage_chunk",
    "usage_of",
]

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
_CUT_SHORT = frozenset({"max_iterations", "loop_detected"})
DONE = b"data: [DONE]\n\n"


def completion_id() -> str:
    """A fresh ``chatcmpl-…`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def finish_reason(raw: Any) -> str:
    """``raw`` if OpenAI knows it; ``length`` for a run cut short by a limit; else ``stop``."""
    if raw in FINISH_REASONS:
        return str(raw)
    return "length" if raw in _CUT_SHORT else "stop"


def usage_of(raw: Any) -> dict[str, Any]:
    """``{prompt_tokens, completion_tokens, total_tokens}`` (zeros for what is missing), plus the
    ``*_tokens_details`` objects when the source has them."""
    source = raw if isinstance(raw, Mapping) else {}
    prompt = int(source.get("prompt_tokens") or 0)
    completion = int(source.get("completion_tokens") or 0)
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": int(source.get("total_tokens") or 0) or prompt + completion}
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        if isinstance(source.get(key), Mapping):
            out[key] = dict(source[key])
    return out


def _message(raw: Mapping[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": raw.get("content"), "refusal": None}
    if raw.get("tool_calls"):
        message["tool_calls"] = [
            {"id": c.get("id"), "type": c.get("type") or "function",
             "function": {"name": c["function"].get("name"), "arguments": c["function"].get("arguments")}}
            for c in raw["tool_calls"]
        ]
    return message


def completion_from_llm(result: Mapping[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` for an ``llm::complete`` answer (see the module docstring)."""
    choices = [{"index": c.get("index", i), "message": _message(c.get("message") or {}),
                "logprobs": None, "finish_reason": c.get("finish_reason") or "stop"}
               for i, c in enumerate(result.get("choices") or [])]
    return {"id": result.get("id") or completion_id(), "object": "chat.completion",
            "created": int(result.get("created") or 0), "model": result.get("model"),
            "choices": choices, "usage": usage_of(result.get("usage")), "system_fingerprint": None}


def completion_from_agent(result: Mapping[str, Any], *, id: str, created: int, model: str) -> dict[str, Any]:
    """The ``chat.completion`` for an ``agent::chat`` answer (see the module docstring)."""
    message = {"role": "assistant", "content": result.get("content") or "", "refusal": None}
    return {
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason(result.get("finish_reason"))}],
        "usage": usage_of(result.get("usage")), "system_fingerprint": None,
        "agentos": {key: result.get(key) for key in ("agent_id", "model", "iterations", "tool_calls",
                                                    "finish_reason", "cost_usd", "duration_ms",
                                                    "run_id", "status", "approvals")
                    if key in result},
    }


def chunk(head: Mapping[str, Any], delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of choice 0; ``head`` is ``{id, created, model}``."""
    return {"id": head["id"], "object": "chat.completion.chunk", "created": head["created"],
            "model": head["model"], "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None}


def usage_chunk(head: Mapping[str, Any], usage: Any) -> dict[str, Any]:
    """The extra last chunk of ``stream_options.include_usage``: no choices, the usage."""
    return {"id": head["id"], "object": "chat.completion.chunk", "created": head["created"],
            "model": head["model"], "system_fingerprint": None, "choices": [],
            "usage": usage_of(usage)}


def sse(obj: Any) -> bytes:
    """One ``data:`` event (compact JSON, one line)."""
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def comment(text: str) -> bytes:
    """An SSE comment line (clients ignore it; it also keeps idle connections alive)."""
    return b": " + " ".join(text.split()).encode() + b"\n\n"
