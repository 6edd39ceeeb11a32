"""What an agent is: the validated :class:`AgentSpec` and the stored :class:`AgentRecord`.

An agent's id is its ``name`` (``^[a-z0-9][a-z0-9_-]{0,63}$``), unique within a realm. The spec
is what a user writes (through ``agent::create``/``agent::update`` or a template); the record
adds what agent-core owns: the lifecycle ``status`` and timestamps. Validation happens once, at
the boundary (:func:`validate_spec`), and its failures become ``invalid_arguments`` with one
``field: problem`` line per error.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidArguments
from .overrides import check_variable_name

__all__ = [
    "NAME_PATTERN",
    "AgentRecord",
    "AgentSpec",
    "Capabilities",
    "Resources",
    "Status",
    "describe_errors",
    "parse_request",
    "validate_spec",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DEFAULT_CONTEXT_TOKENS = 16_000

Glob = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class Status(enum.StrEnum):
    """Where an agent is in its lifecycle (the transition table is in :mod:`.agents`)."""

    DEPLOYED = "deployed"
    PAUSED = "paused"
    ARCHIVED = "archived"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Capabilities(_Strict):
    """What an agent may touch. ``tools`` are fnmatch globs over function ids (``tool::*``)."""

    tools: list[Glob] = Field(default_factory=list, max_length=256)
    memory_scopes: list[Glob] = Field(default_factory=list, max_length=256)
    network_hosts: list[Glob] = Field(default_factory=list, max_length=256)
    allow_agent_chat: bool = False
    """Let the agent call ``agent::chat`` (sub-agents) even when a glob like ``*`` matches it."""


class Resources(_Strict):
    """Budgets, enforced by the llm-router / ledger (agent-core passes ``agent_id`` along)."""

    max_tokens_per_hour: Annotated[int, Field(ge=1)] | None = None
    max_cost_usd: Annotated[float, Field(ge=0)] | None = None


class AgentSpec(_Strict):
    """An agent as its author describes it. Every field but ``name`` has a default."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: Annotated[str, Field(max_length=2000)] = ""
    model: Annotated[str, Field(min_length=1, max_length=200)] = "default"
    """An llm-router alias (``default``, ``fast``…) or a provider model (``openai/gpt-4o``)."""
    system_prompt: Annotated[str, Field(max_length=65_536)] = ""
    """May contain ``{{var}}`` placeholders (see :mod:`.overrides`)."""
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_context_tokens: Annotated[int, Field(ge=512)] = DEFAULT_CONTEXT_TOKENS
    max_iterations: Annotated[int, Field(ge=1, le=50)] | None = None
    capabilities: Capabilities = Field(default_factory=Capabilities)
    resources: Resources = Field(default_factory=Resources)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    template: str | None = None
    variables: dict[str, Annotated[str, Field(max_length=8192)]] = Field(default_factory=dict)
    """Defaults for the prompt's ``{{var}}`` placeholders; a run's ``context`` overrides them."""

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, str]) -> dict[str, str]:
        for key in variables:
            check_variable_name(key)
        return variables


class AgentRecord(AgentSpec):
    """An agent as stored in state scope ``agents`` (key: ``agent_id``)."""

    model_config = ConfigDict(extra="ignore")

    agent_id: str
    status: Status = Status.DEPLOYED
    created_at: float = 0.0
    updated_at: float = 0.0

    def spec(self) -> dict[str, Any]:
        """The author's part of the record, as a JSON dict (what ``update`` merges into)."""
        return self.model_dump(mode="json", exclude={"agent_id", "status", "created_at", "updated_at"})

    def public(self) -> dict[str, Any]:
        """What ``agent::get``/``list`` answer."""
        return self.model_dump(mode="json")


def describe_errors(exc: ValidationError) -> str:
    """One ``field.path: problem`` per error, joined with ``; `` (for ``invalid_arguments``)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(payload)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def validate_spec(data: Any) -> AgentSpec:
    """Validate an agent spec.

    Raises:
        InvalidArguments: what is wrong, field by field.
    """
    try:
        return AgentSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidArguments(f"invalid agent: {describe_errors(exc)}") from exc
    except ValueError as exc:  # a validator's own error
        raise InvalidArguments(f"invalid agent: {exc}") from exc


M = TypeVar("M", bound=BaseModel)


def parse_request(model: type[M], data: Any) -> M:
    """Validate a handler's payload into ``model``.

    Raises:
        InvalidArguments: what is wrong, field by field.
    """
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise InvalidArguments(describe_errors(exc)) from exc
