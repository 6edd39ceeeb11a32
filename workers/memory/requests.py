"""The payloads of ``embedding::*`` and ``memory::*`` (store, recall, forget), validated once.

Every model forbids unknown keys, so a typo is an ``invalid_arguments`` naming the field rather
than a silently ignored option (the engine's ``_caller_worker_id`` is dropped first). Their
JSON Schemas are what ``engine::functions::list`` shows, which is what an agent's model sees
when it is given these functions as tools.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InvalidArguments

__all__ = [
    "AgentScoped",
    "EmbedRequest",
    "Entry",
    "ForgetRequest",
    "RecallRequest",
    "Request",
    "StoreRequest",
    "parse",
]

CALLER_KEY = "_caller_worker_id"
AgentId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
                               description="The agent whose memory this is")]
SessionId = Annotated[str, Field(min_length=1, max_length=200)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    """Validate a handler's payload into ``model``.

    Raises:
        InvalidArguments: what is wrong, field by field.
    """
    if isinstance(data, dict) and CALLER_KEY in data:
        data = {k: v for k, v in data.items() if k != CALLER_KEY}
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
                 for e in exc.errors()]
        raise InvalidArguments("; ".join(parts)) from exc


class EmbedRequest(Request):
    """``embedding::generate``: exactly one of ``text`` and ``batch``."""

    text: str | None = None
    batch: list[str] | None = Field(default=None, min_length=1)
    per_chunk: bool = False
    """Also return each window's vector and span (a long text has several)."""

    @model_validator(mode="after")
    def _one(self) -> EmbedRequest:
        if (self.text is None) == (self.batch is None):
            raise ValueError("give exactly one of 'text' and 'batch'")
        return self


class AgentScoped(Request):
    agent_id: AgentId
    scope: str = Field(default="self", description="'self' or 'shared:<name>'")


class Entry(Request):
    content: str = Field(description="The text to remember")
    role: str | None = Field(default=None, max_length=32,
                             description="Who said it: user, assistant, system, note…")
    importance: float | None = Field(default=None, ge=0, le=1,
                                     description="0..1; estimated from the text when absent")
    metadata: dict[str, Any] | None = None


class StoreRequest(AgentScoped):
    """``memory::store``: exactly one of ``content`` (with ``role``…) and ``items``."""

    content: str | None = Field(default=None, description="The text to remember")
    role: str | None = Field(default="user", max_length=32)
    importance: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, Any] | None = None
    items: list[Entry] | None = Field(default=None, min_length=1,
                                      description="Several memories at once (all or none stored)")
    session_id: SessionId | None = None

    @model_validator(mode="after")
    def _one(self) -> StoreRequest:
        if (self.content is None) == (self.items is None):
            raise ValueError("give exactly one of 'content' and 'items'")
        return self

    def entries(self) -> list[Entry]:
        if self.items is not None:
            return self.items
        assert self.content is not None
        return [Entry(content=self.content, role=self.role, importance=self.importance,
                      metadata=self.metadata)]


class RecallRequest(Request):
    agent_id: AgentId
    query: str = Field(description="What to remember: a question or topic")
    limit: int | None = Field(default=None, ge=1, le=100)
    scopes: list[str] | None = Field(default=None, min_length=1, max_length=32,
                                     description="Default: 'self' and the agent's named shared scopes")
    min_score: float = Field(default=0.0, ge=0, le=1)


class ForgetRequest(AgentScoped):
    ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=1000)
