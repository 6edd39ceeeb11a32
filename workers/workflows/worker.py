"""The workflows worker: ``workflow::create/run/get/list/runs``.

* ``workflow::create {yaml | spec}`` validates and stores a workflow under its name.
* ``workflow::run {name | yaml | spec, input?}`` runs one to the end and answers the run record
  (step failures are in the record; an invalid workflow is answered ``invalid_arguments``).
* ``workflow::get {name}``, ``workflow::list {}`` → ``{workflows: [{name, description, steps}]}``.
* ``workflow::runs {run_id}`` → one record; ``{name?}`` → ``{runs: [...]}`` newest first.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from workers.sdk import Context, InvocationError, Worker, function

from .errors import InvalidWorkflow, WorkflowNotFound
from .runner import run_workflow
from .spec import WorkflowSpec, parse_workflow
from .store import RUNS_SCOPE, WORKFLOWS_SCOPE, StateRunStore

__all__ = ["build_worker"]


class _Source(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    yaml: str | None = None
    spec: dict[str, Any] | None = None
    input: Any = None
    run_id: str | None = None


def _source(data: Any) -> _Source:
    if not isinstance(data, dict):
        raise InvalidWorkflow("expected an object payload")
    return _Source.model_validate(data)


async def _load(ctx: Context, req: _Source) -> WorkflowSpec:
    if req.yaml is not None:
        return parse_workflow(req.yaml)
    if req.spec is not None:
        return parse_workflow(req.spec)
    if req.name is None:
        raise InvalidWorkflow("give one of 'name', 'yaml' or 'spec'")
    stored = await ctx.trigger("state::get", {"scope": WORKFLOWS_SCOPE, "key": req.name})
    if not stored:
        raise WorkflowNotFound(f"no workflow named {req.name!r}")
    return parse_workflow(stored["spec"])


@function("workflow::create", description="Validate and store a workflow ({yaml} or {spec})")
async def create(data: Any, ctx: Context) -> dict[str, Any]:
    req = _source(data)
    if req.yaml is None and req.spec is None:
        raise InvalidWorkflow("give 'yaml' or 'spec'")
    spec = await _load(ctx, req)
    value = {"name": spec.name, "spec": spec.model_dump(mode="json", by_alias=True,
                                                         exclude_none=True),
             "created": time.time()}
    await ctx.trigger("state::set", {"scope": WORKFLOWS_SCOPE, "key": spec.name, "value": value})
    return {"name": spec.name, "steps": [s.id for s in spec.steps]}


@function("workflow::run", description="Run a workflow ({name | yaml | spec, input}) to the end; "
                                       "answers the run record")
async def run(data: Any, ctx: Context) -> dict[str, Any]:
    req = _source(data)
    spec = await _load(ctx, req)

    async def call(function_id: str, payload: Any, timeout: float | None) -> Any:
        return await ctx.trigger(function_id, payload, timeout=timeout)

    return await run_workflow(spec, req.input, caller=call, store=StateRunStore(ctx),
                              run_id=req.run_id)


@function("workflow::get", description="A stored workflow ({name})")
async def get(data: Any, ctx: Context) -> dict[str, Any]:
    req = _source(data)
    if req.name is None:
        raise InvalidWorkflow("'name' is required")
    stored = await ctx.trigger("state::get", {"scope": WORKFLOWS_SCOPE, "key": req.name})
    if not stored:
        raise WorkflowNotFound(f"no workflow named {req.name!r}")
    result: dict[str, Any] = stored
    return result


@function("workflow::list", description="Stored workflows")
async def list_workflows(data: Any, ctx: Context) -> dict[str, Any]:
    found = await ctx.trigger("state::list", {"scope": WORKFLOWS_SCOPE}) or []
    return {"workflows": [{"name": w["name"], "description": w["spec"].get("description", ""),
                           "steps": [s["id"] for s in w["spec"]["steps"]]} for w in found]}


@function("workflow::runs", description="One run ({run_id}) or the runs of a workflow ({name?})")
async def runs(data: Any, ctx: Context) -> dict[str, Any]:
    req = _source(data or {})
    if req.run_id is not None:
        record = await ctx.trigger("state::get", {"scope": RUNS_SCOPE, "key": req.run_id})
        if record is None:
            raise InvocationError("not_found", f"no run {req.run_id!r}")
        result: dict[str, Any] = record
        return result
    found = await ctx.trigger("state::list", {"scope": RUNS_SCOPE}) or []
    found = [r for r in found if req.name is None or r.get("workflow") == req.name]
    found.sort(key=lambda r: r.get("started") or 0, reverse=True)
    return {"runs": found}


def build_worker() -> Worker:
    """The workflows worker (``python -m workers.workflows``)."""
    return Worker("workflows", functions=[create, run, get, list_workflows, runs],
                  description="Declarative multi-step workflows over functions and agents")
