"""Who is calling a tool, and the base of every tool's request model.

**The calling agent comes from the invocation's metadata, never from the arguments.** A tool's
arguments are written by a model, which may have read anything (a web page, a file) and may try
to act as another agent; the metadata sidecar is set by the caller's code. agent-core must
therefore call every tool as::

    ctx.trigger(function_id, arguments, timeout=…,
                metadata={"agent_id": agent.agent_id, "agent_depth": depth})

``agent_id`` is the agent whose run makes the call; ``agent_depth`` (optional, default 0) is
how many agent hops led to this run (0 for a run a user started; a run started by
``tool::agent_send`` gets the sender's depth + 1 in *its* ``agent::chat`` metadata, and
agent-core should pass that depth on to the tools of the run). The realm is the engine's: the
``agentos-realm`` baggage the engine stamps from the caller's credential.

Request models forbid unknown fields, so an ``_agent_id`` (or any other) field smuggled into
the arguments is refused, not ignored. The engine's own ``_caller_worker_id`` stamp is dropped.
A call without an ``agent_id`` is refused (``no_agent_identity``) unless the config names a
``default_agent_id``.

Trust note: the engine does not (yet) let a worker restrict its functions to the ``worker``
role, so a realm-bound *client* that can reach ``tool::*`` directly could claim any agent of its
own realm. Realm isolation still holds (workspaces and records are per realm).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from workers.sdk import Context

from .config import ToolsConfig
from .errors import InvalidArguments, NoIdentity

__all__ = ["NAME", "Caller", "Request", "caller_of", "parse"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""Agent ids and realms: safe as one path component (no '/', never '.' or '..')."""
DEFAULT_REALM = "default"
MAX_DEPTH_VALUE = 1_000


@dataclass(frozen=True, slots=True)
class Caller:
    agent_id: str
    realm: str
    depth: int = 0


def caller_of(ctx: Context, config: ToolsConfig) -> Caller:
    """The agent a tool call is made for.

    Raises:
        NoIdentity: no ``agent_id`` in the metadata and no ``default_agent_id`` configured.
        InvalidArguments: an ``agent_id``, realm or ``agent_depth`` that is not well-formed.
    """
    metadata = ctx.metadata or {}
    agent_id = metadata.get("agent_id", config.default_agent_id)
    if agent_id is None:
        raise NoIdentity("the call names no agent: the caller must send metadata "
                         '{"agent_id": ...} (see workers/tools/identity.py)')
    if not isinstance(agent_id, str) or not NAME.fullmatch(agent_id):
        raise InvalidArguments(f"metadata agent_id {agent_id!r} is not a valid agent id")
    realm = ctx.realm or DEFAULT_REALM
    if not NAME.fullmatch(realm):
        raise InvalidArguments(f"realm {realm!r} cannot name a workspace")
    depth = metadata.get("agent_depth", 0)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH_VALUE:
        raise InvalidArguments(f"metadata agent_depth {depth!r} is not a small non-negative integer")
    return Caller(agent_id, realm, depth)


class Request(BaseModel):
    """Base of every tool's arguments: unknown fields are refused; the engine stamp is dropped."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_engine_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and "_caller_worker_id" in data:
            data = {k: v for k, v in data.items() if k != "_caller_worker_id"}
        return data


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    """Validate a tool's arguments.

    Raises:
        InvalidArguments: one ``field: problem`` per error.
    """
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
                             for e in exc.errors())
        raise InvalidArguments(problems) from exc
