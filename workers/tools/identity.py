"""Who is calling a tool, the taint of its run, and the base of every tool's request model.

**The calling agent comes from the invocation's metadata, never from the arguments.** A tool's
arguments are written by a model, which may have read anything (a web page, a file) and may try
to act as another agent; the metadata sidecar is set by the caller's code. agent-core must
therefore call every tool as::

    ctx.trigger(function_id, arguments, timeout=…,
                metadata={"agent_id": agent.agent_id, "agent_depth": depth,
                          "taint": sorted(run_labels)})

``agent_id`` is the agent whose run makes the call; ``agent_depth`` (optional, default 0) is
how many agent hops led to this run (0 for a run a user started; a run started by
``tool::agent_send`` gets the sender's depth + 1 in *its* ``agent::chat`` metadata, and
agent-core should pass that depth on to the tools of the run). The realm is the engine's: the
``agentos-realm`` baggage the engine stamps from the caller's credential.

``taint`` (optional, default ``[]``) is the run's accumulated taint labels, from the policy of
``workers/security/taint.py`` (``secret``, ``pii``, ``untrusted``). agent-core keeps one set per
run, which only grows:

* it starts with the ``taint`` of the run's own trigger metadata (``tool::agent_send`` passes
  the sender's labels in the ``agent::chat`` metadata, next to ``agent_depth``) and the
  ``taint:<label>`` tags of the agent's record (``tool::agent_spawn`` tags an agent spawned by
  a tainted run);
* each time a tool returns, it adds the labels the tool declares in its *registration*
  metadata, ``output_taint`` (listed by ``engine::functions::list``): ``tool::web_fetch``,
  ``tool::http_request`` and ``tool::web_search`` declare ``["untrusted"]`` — their output
  comes from outside. Tools whose output the agents wrote themselves (files of the workspace,
  memory) declare nothing.

Every sink tool enforces the policy on these labels plus what the detector finds in the
outgoing text before it acts (:mod:`.sinks`); e.g. once a run holds ``untrusted``,
``tool::shell_exec`` and ``tool::code_exec`` answer ``tainted``. Registration metadata also
names each sink tool's ``taint_sink``, so agent-core may leave those tools out of a run whose
labels block that sink. The tools add the record's ``taint:<label>`` tags themselves too (as
for ``depth:N``), so the labels of a spawned agent hold even if a hop forgets them.

A malformed ``taint`` (not a list of label strings) is refused with ``invalid_arguments``; a
label the policy does not know blocks every sink (fail closed).

Request models forbid unknown fields, so an ``_agent_id`` (or any other) field smuggled into
the arguments is refused, not ignored. The engine's own ``_caller_worker_id`` stamp is dropped.
A call without an ``agent_id`` is refused (``no_agent_identity``) unless the config names a
``default_agent_id``.

Trust: every ``tool::*`` function is registered ``min_role: "worker"``, so the engine refuses
it to *client* credentials on every path (sync, void, queue, HTTP routes); only workers (agent-core,
hands, workflows) can claim an agent or send an empty ``taint``. In open mode (no tokens, loopback
only) every caller is the system. Realm isolation holds either way (workspaces and records are
per realm), and what the detector finds in the outgoing text is enforced whatever the metadata
says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from workers.sdk import Context

from .config import ToolsConfig
from .errors import InvalidArguments, NoIdentity

__all__ = ["NAME", "Caller", "Request", "caller_of", "parse", "taint_of"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""Agent ids and realms: safe as one path component (no '/', never '.' or '..')."""
LABEL = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
"""A taint label as the metadata may carry it (known or not: unknown ones block every sink)."""
DEFAULT_REALM = "default"
MAX_DEPTH_VALUE = 1_000
MAX_LABELS = 16


@dataclass(frozen=True, slots=True)
class Caller:
    """The agent a tool call is made for, its realm, its depth and its run's taint labels."""

    agent_id: str
    realm: str
    depth: int = 0
    taint: frozenset[str] = frozenset()

    def metadata(self) -> dict[str, Any]:
        """The metadata of the calls a tool forwards for this caller (same contract)."""
        return {"agent_id": self.agent_id, "agent_depth": self.depth,
                "taint": sorted(self.taint)}


def caller_of(ctx: Context, config: ToolsConfig) -> Caller:
    """The agent a tool call is made for.

    Raises:
        NoIdentity: no ``agent_id`` in the metadata and no ``default_agent_id`` configured.
        InvalidArguments: an ``agent_id``, realm, ``agent_depth`` or ``taint`` that is not
            well-formed.
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
    return Caller(agent_id, realm, depth, taint_of(metadata.get("taint")))


def taint_of(value: Any) -> frozenset[str]:
    """The labels of a metadata ``taint`` (None or absent: none).

    Raises:
        InvalidArguments: not a list of at most 16 label strings.
    """
    if value is None:
        return frozenset()
    if not isinstance(value, list) or len(value) > MAX_LABELS or not all(
            isinstance(label, str) and LABEL.fullmatch(label) for label in value):
        raise InvalidArguments("metadata taint must be a list of at most "
                               f"{MAX_LABELS} label names (e.g. [\"untrusted\"])")
    return frozenset(value)


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
