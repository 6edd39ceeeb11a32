"""Context-window management: estimate a prompt's tokens and drop the oldest turns to fit.

Theory of operation
-------------------
Counting is a heuristic, on purpose: no tokenizer is loaded (agent-core stays light and
provider-neutral). A message costs ``ceil(chars / 4) + 4`` tokens, where ``chars`` counts its
text content and the name and arguments of its tool calls; the tool schemas sent with the
request are counted the same way, once. Four characters per token slightly over-estimates
English prose for GPT/Claude tokenizers, which is the safe side.

When the estimate exceeds the budget (the agent's ``max_context_tokens``, default 16k), whole
*units* are dropped, oldest first, until it fits:

* the leading ``system`` messages are never dropped;
* an assistant message that called tools and the ``tool`` messages answering it form one unit,
  so the model never sees a tool result without its call (providers reject that) or a call
  without its results;
* every other message is a unit of its own;
* the last unit (the newest user message, or the tool round in progress) is never dropped.

If the prompt still does not fit, it is sent as it is and the provider decides; nothing here
truncates a message's text. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["estimate_tokens", "fit", "message_tokens"]

Message = dict[str, Any]
CHARS_PER_TOKEN = 4
PER_MESSAGE = 4


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def message_tokens(message: Message) -> int:
    """Estimated tokens of one chat message."""
    content = message.get("content")
    if isinstance(content, str):
        chars = len(content)
    elif content is None:
        chars = 0
    else:  # content parts
        chars = len(json.dumps(content, ensure_ascii=False))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        chars += len(str(function.get("name", ""))) + len(str(function.get("arguments", "")))
    return _tokens(chars) + PER_MESSAGE


def estimate_tokens(messages: Sequence[Message], tools: Sequence[Any] = ()) -> int:
    """Estimated prompt tokens of ``messages`` plus the ``tools`` sent with them."""
    total = sum(message_tokens(m) for m in messages)
    if tools:
        total += _tokens(len(json.dumps(list(tools), ensure_ascii=False)))
    return total


def _units(messages: Sequence[Message]) -> list[list[Message]]:
    units: list[list[Message]] = []
    for message in messages:
        if message.get("role") == "tool" and units and _open_tool_unit(units[-1]):
            units[-1].append(message)
        else:
            units.append([message])
    return units


def _open_tool_unit(unit: list[Message]) -> bool:
    return unit[0].get("role") == "assistant" and bool(unit[0].get("tool_calls"))


def fit(
    messages: Sequence[Message], budget: int, tools: Sequence[Any] = ()
) -> tuple[list[Message], int]:
    """Drop the oldest droppable units of ``messages`` until the estimate is within ``budget``.

    Call it before every model call.

    Returns:
        ``(messages to send, how many messages were dropped)``.
    """
    head = 0
    while head < len(messages) and messages[head].get("role") == "system":
        head += 1
    system, units = list(messages[:head]), _units(messages[head:])
    total = estimate_tokens(messages, tools)
    dropped = 0
    while total > budget and len(units) > 1:
        unit = units.pop(0)
        total -= sum(message_tokens(m) for m in unit)
        dropped += len(unit)
    return system + [m for unit in units for m in unit], dropped
