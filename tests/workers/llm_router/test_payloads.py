"""Request payloads: what is refused as llm_bad_request, and what is passed upstream."""

from __future__ import annotations

from typing import Any

import pytest

from workers.llm_router import BadRequest
from workers.llm_router.payloads import CompleteRequest, RouteRequest, UsageRequest, parse

HI = [{"role": "user", "content": "hi"}]
WRITER = {"channel_id": "c1", "access_key": "k", "direction": "write"}


@pytest.mark.parametrize(("data", "problem"), [
    (None, "messages"),
    ("hello", "expected an object payload, got str"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role must be one of"),
    ({"messages": [{"role": "user"}]}, "a user message needs content"),
    ({"messages": [{"role": "user", "content": 3}]}, "content must be a string"),
    ({"messages": [{"role": "assistant", "content": None}]}, "needs content or tool_calls"),
    ({"messages": [{"role": "assistant", "tool_calls": "x"}]}, "tool_calls must be a list"),
    ({"messages": [{"role": "tool", "content": "r"}]}, "needs tool_call_id"),
    ({"messages": HI, "tools": [{"type": "function"}]}, "tools[0] must be"),
    ({"messages": HI, "tools": [{"type": "function", "function": {"name": ""}}]}, "tools[0] must be"),
    ({"messages": HI, "temperature": 3}, "temperature"),
    ({"messages": HI, "max_tokens": 0}, "max_tokens"),
    ({"messages": HI, "stream": True}, "stream: true needs stream_to"),
    ({"messages": HI, "stream": True, "stream_to": {**WRITER, "direction": "read"}}, "stream_to.direction"),
])
def test_invalid_complete_requests(data: Any, problem: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(CompleteRequest, data)
    assert problem in caught.value.message
    assert caught.value.code == "llm_bad_request"


def test_messages_and_tools_pass_through_untouched() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "fs::read", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "data", "vendor_extra": 1},
    ]
    tools = [{"type": "function", "function": {"name": "fs::read", "parameters": {"type": "object"}}}]
    request = parse(CompleteRequest, {"messages": messages, "tools": tools, "tool_choice": "required",
                                      "temperature": 0, "_caller_worker_id": "w-1", "agent_id": "a"})
    assert request.params() == {"messages": messages, "tools": tools, "tool_choice": "required",
                                "temperature": 0}


def test_other_requests() -> None:
    assert parse(RouteRequest, None).messages == []
    assert parse(UsageRequest, {"realm": "acme"}).realm == "acme"
    stream = parse(CompleteRequest, {"messages": HI, "stream": True, "stream_to": WRITER})
    assert stream.stream_to is not None and stream.stream_to.channel_id == "c1"
    assert "stream" not in stream.params()
