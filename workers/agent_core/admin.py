"""The management functions: ``agent::create/get/list/update/delete``, the lifecycle steps
``agent::pause/resume/archive`` and ``agent::templates::list/get``.

Every change publishes ``{event, agent_id, status, at}`` on topic ``agent.lifecycle`` (events:
``created``, ``updated``, ``paused``, ``resumed``, ``archived``, ``deleted``). Publishing is
best effort: a node without pubsub still manages agents (the failure is logged).

``agent::create`` takes a full spec, or ``{template, name, overrides?}``: the template's spec,
then the payload's own fields, then ``overrides`` are merged (nested objects key by key). An
``agent::update`` payload replaces the top-level fields it names, except ``capabilities`` and
``resources``, which are merged key by key; it may also carry ``status`` (a lifecycle step).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef, InvocationError, function

from .agents import (
    EVENT_OF,
    Action,
    AgentStore,
    action_towards,
    ensure_writable,
    next_status,
)
from .errors import InvalidArguments, TemplateNotFound
from .overrides import deep_merge
from .spec import NAME_PATTERN, AgentRecord, AgentSpec, Status, parse_request, validate_spec
from .templates import TemplateLibrary

__all__ = ["AgentAdmin", "AgentRef", "CreateRequest", "ListRequest", "TOPIC", "define"]

log = logging.getLogger(__name__)

TOPIC = "agent.lifecycle"
_MERGED_ON_UPDATE = ("capabilities", "resources")

Handler = Callable[[Any, Context], Awaitable[Any]]


class AgentRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_id: str = Field(pattern=NAME_PATTERN)


class ListRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Status | None = None
    tag: str | None = None


class TemplateRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)


class CreateRequest(AgentSpec):
    """A spec (``template`` names a template to start from) plus ``overrides`` laid on top."""

    overrides: dict[str, Any] = Field(default_factory=dict)


def _update_schema() -> dict[str, Any]:
    schema = AgentSpec.model_json_schema()
    props = {k: v for k, v in schema["properties"].items() if k != "name"}
    props["agent_id"] = {"type": "string", "pattern": NAME_PATTERN}
    props["status"] = {"type": "string", "enum": [s.value for s in Status]}
    out = {"type": "object", "properties": props, "required": ["agent_id"],
           "additionalProperties": False}
    if "$defs" in schema:
        out["$defs"] = schema["$defs"]
    return out


def _rebuild(record: AgentRecord, spec: AgentSpec, status: Status) -> AgentRecord:
    fields = spec.model_dump(exclude={"agent_id", "status", "created_at", "updated_at"})
    return AgentRecord(**fields, agent_id=record.agent_id, status=status,
                       created_at=record.created_at, updated_at=record.updated_at)


class AgentAdmin:
    """The management handlers over one store and one template library."""

    def __init__(self, store: AgentStore, templates: TemplateLibrary) -> None:
        self.store = store
        self.templates = templates

    async def _publish(self, ctx: Context, event: str, record: AgentRecord) -> None:
        data = {"event": event, "agent_id": record.agent_id, "status": record.status.value,
                "at": self.store.clock()}
        try:
            await ctx.trigger("publish", {"topic": TOPIC, "data": data})
        except InvocationError as exc:
            log.warning("could not publish %s of %s on %s: %s", event, record.agent_id, TOPIC, exc)

    async def create(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse_request(CreateRequest, data)
        explicit = req.model_dump(mode="json", exclude_unset=True, exclude={"overrides"})
        base: dict[str, Any] = {}
        if req.template is not None:
            template = self.templates.get(req.template)
            if template is None:
                raise TemplateNotFound(f"no template {req.template!r}")
            base = template.spec
        if req.overrides.get("name", req.name) != req.name:
            raise InvalidArguments("overrides cannot rename the agent")
        spec = validate_spec(deep_merge(deep_merge(base, explicit), req.overrides))
        record = await self.store.insert(ctx, spec)
        await self._publish(ctx, "created", record)
        return record.public()

    async def get(self, data: Any, ctx: Context) -> dict[str, Any]:
        ref = parse_request(AgentRef, data)
        return (await self.store.get(ctx, ref.agent_id)).public()

    async def list_agents(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse_request(ListRequest, data)
        agents = [
            r.public() for r in await self.store.all(ctx)
            if (req.status is None or r.status is req.status)
            and (req.tag is None or req.tag in r.tags)
        ]
        return {"agents": agents}

    async def update(self, data: Any, ctx: Context) -> dict[str, Any]:
        ref = parse_request(AgentRef, data)
        assert isinstance(data, dict)
        patch = {k: v for k, v in data.items() if k not in ("agent_id", "status")}
        if patch.get("name", ref.agent_id) != ref.agent_id:
            raise InvalidArguments("agents cannot be renamed")
        try:
            target = Status(data["status"]) if data.get("status") is not None else None
        except ValueError as exc:
            raise InvalidArguments(f"status must be one of {[s.value for s in Status]}") from exc
        steps: list[Action] = []

        def edit(record: AgentRecord) -> AgentRecord:
            ensure_writable(record)
            spec: AgentSpec = record
            if patch:
                merged = record.spec()
                for key, value in patch.items():
                    nested = key in _MERGED_ON_UPDATE and isinstance(value, dict)
                    merged[key] = deep_merge(merged.get(key) or {}, value) if nested else value
                spec = validate_spec(merged)
            action = action_towards(record.status, target) if target is not None else None
            steps[:] = [action] if action is not None else []
            status = next_status(record.status, action) if action is not None else record.status
            return _rebuild(record, spec, status)

        _, after = await self.store.change(ctx, ref.agent_id, edit)
        if patch:
            await self._publish(ctx, "updated", after)
        for action in steps:
            await self._publish(ctx, EVENT_OF[action], after)
        return after.public()

    async def delete(self, data: Any, ctx: Context) -> dict[str, Any]:
        ref = parse_request(AgentRef, data)
        record = await self.store.remove(ctx, ref.agent_id)
        await self._publish(ctx, "deleted", record)
        return {"deleted": True, "agent_id": record.agent_id}

    def _step(self, action: Action) -> Handler:
        async def handler(data: Any, ctx: Context) -> dict[str, Any]:
            ref = parse_request(AgentRef, data)

            def edit(record: AgentRecord) -> AgentRecord:
                return record.model_copy(update={"status": next_status(record.status, action)})

            _, after = await self.store.change(ctx, ref.agent_id, edit)
            await self._publish(ctx, EVENT_OF[action], after)
            return after.public()

        return handler

    async def templates_list(self, data: Any, ctx: Context) -> dict[str, Any]:
        return {"templates": [t.summary() for t in self.templates.all()]}

    async def templates_get(self, data: Any, ctx: Context) -> dict[str, Any]:
        ref = parse_request(TemplateRef, data)
        template = self.templates.get(ref.name)
        if template is None:
            raise TemplateNotFound(f"no template {ref.name!r}")
        return {"name": template.name, "path": template.path, "spec": template.spec}

    def definitions(self) -> list[FunctionDef]:
        """The ``@function`` definitions of every management handler."""
        ref, spec = AgentRef.model_json_schema(), CreateRequest.model_json_schema()
        table: list[tuple[str, Handler, str, dict[str, Any]]] = [
            ("agent::create", self.create,
             "Create an agent from a spec, or from {template, name, overrides}", spec),
            ("agent::get", self.get, "Get an agent by agent_id", ref),
            ("agent::list", self.list_agents, "List agents (optional status and tag filters)",
             ListRequest.model_json_schema()),
            ("agent::update", self.update,
             "Update an agent's fields and/or status (archived agents are read-only)",
             _update_schema()),
            ("agent::delete", self.delete, "Delete an agent (any status)", ref),
            ("agent::pause", self._step(Action.PAUSE), "Pause an agent: no new runs", ref),
            ("agent::resume", self._step(Action.RESUME), "Resume a paused agent", ref),
            ("agent::archive", self._step(Action.ARCHIVE),
             "Archive an agent: read-only, no runs", ref),
            ("agent::templates::list", self.templates_list, "List the loaded agent templates",
             {"type": "object", "properties": {}}),
            ("agent::templates::get", self.templates_get, "Get one agent template's spec",
             TemplateRef.model_json_schema()),
        ]
        return [define(fid, handler, description, schema)
                for fid, handler, description, schema in table]


def define(function_id: str, handler: Handler, description: str,
           request_format: dict[str, Any], metadata: dict[str, Any] | None = None) -> FunctionDef:
    """A :class:`FunctionDef` serving ``handler`` (a bound method or closure) as ``function_id``."""

    async def serve(data: Any, ctx: Context) -> Any:
        return await handler(data, ctx)

    serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
    return FunctionDef.of(function(function_id, description=description,
                                   request_format=request_format, metadata=metadata)(serve))
