"""The request payloads of the ``llm::*`` functions, validated once at the boundary.

Messages and tools stay the caller's own dicts (passed to the provider untouched, so fields such
as ``name``, ``tool_call_id`` or vendor extras survive); only their outline is checked here, so
that garbage is refused as ``llm_bad_request`` before any provider is paid to refuse it. Unknown
top-level keys are ignored (the engine adds ``_caller_worker_id``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import BadRequest

__all__ = ["ChannelRef", "CompleteRequest", "RouteRequest", "UsageRequest", "parse"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

_Payload = TypeVar("_Payload", bound=BaseModel)


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ChannelRef(BaseModel):
    """A channel writer reference from ``engine::channels::create``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    channel_id: Annotated[str, Field(min_length=1)]
    access_key: Annotated[str, Field(min_length=1)]
    direction: Literal["write"]


def _check_message(index: int, message: dict[str, Any]) -> None:
    role = message.get("role")
    if role not in ROLES:
        raise ValueError(f"messages[{index}].role must be one of {sorted(ROLES)}, got {role!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        raise ValueError(f"messages[{index}].content must be a string, a list of parts or null")
    if role == "assistant":
        calls = message.get("tool_calls")
        if content is None and not calls:
            raise ValueError(f"messages[{index}]: an assistant message needs content or tool_calls")
        if calls is not None and not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
            raise ValueError(f"messages[{index}].tool_calls must be a list of objects")
    elif content is None:
        raise ValueError(f"messages[{index}]: a {role} message needs content")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise ValueError(f"messages[{index}]: a tool message needs tool_call_id")


def _check_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for index, message in enumerate(messages):
        _check_message(index, message)
    return messages


def _check_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    for index, tool in enumerate(tools or []):
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict) \
                or not isinstance(function.get("name"), str) or not function["name"]:
            raise ValueError(f"tools[{index}] must be {{type: 'function', function: {{name, …}}}}")
    return tools or None


class CompleteRequest(_Request):
    """``llm::complete`` input. ``model`` is an alias, ``auto``, or ``provider/model``."""

    model: str | None = None
    messages: Annotated[list[dict[str, Any]], Field(min_length=1)]
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    stream_to: ChannelRef | None = None
    agent_id: str | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("messages")
    @classmethod
    def check_messages(cls, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _check_messages(messages)

    @field_validator("tools")
    @classmethod
    def check_tools(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return _check_tools(tools)

    @model_validator(mode="after")
    def _stream_needs_channel(self) -> CompleteRequest:
        if self.stream and self.stream_to is None:
            raise ValueError("stream: true needs stream_to: the writer reference of a channel "
                             "from engine::channels::create")
        return self

    def params(self) -> dict[str, Any]:
        """The OpenAI request fields to send upstream (unset ones left out)."""
        fields = ("messages", "tools", "tool_choice", "temperature", "top_p", "max_tokens", "stop",
                  "response_format", "seed", "parallel_tool_calls")
        return {f: getattr(self, f) for f in fields if getattr(self, f) is not None}


class RouteRequest(_Request):
    """``llm::route`` input: what ``llm::complete`` would get (``model`` absent = ``auto``)."""

    model: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    agent_id: str | None = None

    @field_validator("messages")
    @classmethod
    def check_messages(cls, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _check_messages(messages)

    @field_validator("tools")
    @classmethod
    def check_tools(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return _check_tools(tools)


class UsageRequest(_Request):
    """``llm::usage`` filters (each optional)."""

    realm: str | None = None
    agent_id: str | None = None
    model: str | None = None


def parse(model: type[_Payload], data: Any) -> _Payload:
    """Validate ``data`` into ``model``.

    Raises:
        BadRequest: not an object, or invalid; the message names every problem.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest(f"expected an object payload, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where and not message.startswith(where) else message)
        raise BadRequest("; ".join(problems)) from exc
