"""The body of ``POST /v1/chat/completions``, validated once, with OpenAI-style ``param`` paths.

:func:`parse_chat` turns the request body into a :class:`ChatRequest` or raises
:class:`~workers.api.errors.InvalidRequest` naming the first problem and where it is
(``messages[2].role``, ``tools[0].function.name``, ``n``…). Pure: no I/O.

What is checked: the top-level fields' types and ranges (strictly: ``"stream": "yes"`` is an
error, not ``True``), every message's outline (role, content as a string or a list of typed
parts, the tool-call plumbing of ``assistant`` and ``tool`` messages) and every tool's outline.
Unknown top-level fields are ignored, as OpenAI-compatible servers do; unknown keys inside a
message (``name``, vendor extras) are kept and passed on. Unsupported options are refused rather
than silently dropped: ``n`` > 1 and ``logprobs: true``.

The two targets take different things (:meth:`ChatRequest.llm_payload`,
:meth:`ChatRequest.agent_messages`): a provider model gets the messages untouched with the
sampling options; an agent (``model: "agent:<name>"``) runs its own tools and settings, so it
takes text messages only and refuses client-side ``tools``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InvalidRequest

__all__ = ["AGENT_PREFIX", "ChatRequest", "StreamOptions", "parse_chat", "param_of"]

AGENT_PREFIX = "agent:"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
AGENT_ROLES = {"system": "system", "developer": "system", "user": "user",
               "assistant": "assistant", "tool": "tool"}
"""Roles an agent run takes, and what each becomes (``developer`` is a system message)."""
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
TOOL_CHOICES = ("none", "auto", "required")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    include_usage: bool = False


class ChatRequest(BaseModel):
    """A validated chat completion request (see the module docstring)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    model: Annotated[str, Field(min_length=1, max_length=256)]
    messages: Annotated[list[dict[str, Any]], Field(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    n: Annotated[int, Field(ge=1)] | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    logprobs: bool | None = None
    user: str | None = None

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    @property
    def agent(self) -> str | None:
        """The agent name of ``agent:<name>``, or None for a provider model or alias."""
        return self.model[len(AGENT_PREFIX):] if self.model.startswith(AGENT_PREFIX) else None

    def llm_payload(self) -> dict[str, Any]:
        """The ``llm::complete`` payload (without the streaming fields)."""
        payload: dict[str, Any] = {"model": self.model, "messages": self.messages}
        for name in ("tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "stop",
                     "response_format", "seed"):
            value = getattr(self, name)
            if value is not None:
                payload[name] = value
        max_tokens = self.max_completion_tokens or self.max_tokens
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        return payload

    def agent_messages(self) -> list[dict[str, Any]]:
        """The messages as ``agent::chat`` takes them: text content, agent roles.

        Raises:
            InvalidRequest: client-side tools, a role an agent does not take, or a non-text part.
        """
        for name in ("tools", "tool_choice"):
            if getattr(self, name) is not None:
                raise InvalidRequest(f"agent models run their own tools: '{name}' is not supported "
                                     f"with {self.model!r}", param=name)
        out = []
        for index, message in enumerate(self.messages):
            role = AGENT_ROLES.get(message["role"])
            if role is None:
                raise InvalidRequest(f"agent models do not take {message['role']!r} messages",
                                     param=f"messages[{index}].role")
            content = message.get("content")
            if isinstance(content, list):
                content = _text_of(content, f"messages[{index}].content")
            out.append({**message, "role": role, "content": content})
        return out


def _text_of(parts: Sequence[dict[str, Any]], where: str) -> str:
    texts = []
    for i, part in enumerate(parts):
        if part["type"] != "text":
            raise InvalidRequest(f"agent models take text only, not {part['type']!r} parts",
                                 param=f"{where}[{i}].type")
        texts.append(part["text"])
    return "\n".join(texts)


def param_of(loc: Sequence[str | int]) -> str:
    """An OpenAI-style field path: ``("messages", 2, "role")`` → ``messages[2].role``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _check_parts(parts: list[Any], where: str) -> None:
    if not parts:
        raise InvalidRequest("a list of content parts must not be empty", param=where)
    for i, part in enumerate(parts):
        here = f"{where}[{i}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest("each content part must be an object with a 'type'", param=here)
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise InvalidRequest("a text part needs 'text' (a string)", param=f"{here}.text")


def _check_tool_calls(calls: Any, where: str) -> None:
    if not isinstance(calls, list):
        raise InvalidRequest("'tool_calls' must be a list", param=where)
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("id"), str) or not isinstance(function, dict) \
                or not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            raise InvalidRequest("a tool call is {id, type: 'function', function: {name, arguments: "
                                 "<JSON string>}}", param=f"{where}[{i}]")


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidRequest("each message must be an object {role, content}", param=where)
    role = message.get("role")
    if role not in ROLES:
        raise InvalidRequest(f"invalid role {role!r}: use one of {', '.join(ROLES)}", param=f"{where}.role")
    content = message.get("content")
    if isinstance(content, list):
        _check_parts(content, f"{where}.content")
    elif content is not None and not isinstance(content, str):
        raise InvalidRequest("content must be a string, a list of content parts, or null",
                             param=f"{where}.content")
    if role == "assistant":
        if message.get("tool_calls") is not None:
            _check_tool_calls(message["tool_calls"], f"{where}.tool_calls")
        elif content is None:
            raise InvalidRequest("an assistant message needs content or tool_calls", param=f"{where}.content")
    elif content is None:
        raise InvalidRequest(f"a {role} message needs content", param=f"{where}.content")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise InvalidRequest("a tool message needs 'tool_call_id'", param=f"{where}.tool_call_id")
    if "name" in message and not isinstance(message["name"], str):
        raise InvalidRequest("'name' must be a string", param=f"{where}.name")


def _check_tools(tools: list[Any]) -> None:
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise InvalidRequest("a tool is {type: 'function', function: {name, description?, parameters?}}",
                                 param=f"tools[{i}]")
        name = function.get("name")
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            raise InvalidRequest("a tool name must match ^[a-zA-Z0-9_-]{1,64}$",
                                 param=f"tools[{i}].function.name")
        if "parameters" in function and not isinstance(function["parameters"], dict):
            raise InvalidRequest("'parameters' must be a JSON Schema object",
                                 param=f"tools[{i}].function.parameters")


def _check_tool_choice(choice: str | dict[str, Any]) -> None:
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise InvalidRequest(f"tool_choice must be one of {', '.join(TOOL_CHOICES)} or "
                                 "{type: 'function', function: {name}}", param="tool_choice")
        return
    function = choice.get("function")
    if choice.get("type") != "function" or not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequest("tool_choice must be {type: 'function', function: {name}}", param="tool_choice")


def parse_chat(body: Any) -> ChatRequest:
    """Validate a chat completion request body.

    Raises:
        InvalidRequest: the first problem found, with its ``param``.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    for name in ("model", "messages"):
        if name not in body:
            raise InvalidRequest(f"missing required parameter: '{name}'", param=name,
                                 code="missing_required_parameter")
    if not isinstance(body["messages"], list):
        raise InvalidRequest("'messages' must be a list of message objects", param="messages")
    for index, message in enumerate(body["messages"]):
        _check_message(index, message)
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise InvalidRequest(f"{param_of(err['loc'])}: {err['msg']}", param=param_of(err["loc"])) from exc
    if request.n is not None and request.n > 1:
        raise InvalidRequest("only n=1 is supported", param="n")
    if request.logprobs:
        raise InvalidRequest("logprobs are not supported", param="logprobs")
    if request.tools is not None:
        _check_tools(request.tools)
    if request.tool_choice is not None:
        _check_tool_choice(request.tool_choice)
    if request.stream_options is not None and not request.stream:
        raise InvalidRequest("stream_options is only allowed with stream: true", param="stream_options")
    return request

