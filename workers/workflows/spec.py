"""What a workflow is: the validated :class:`WorkflowSpec` (from YAML or JSON) and its DAG.

::

    name: research-brief
    steps:
      - id: search                       # unique, [A-Za-z0-9_-]
        function: kb::search             # or  agent: researcher
        input: {query: "{{input.topic}}"}
      - id: summarise
        agent: writer
        input: "Summarise: {{steps.search.output}}"
        dependsOn: [search]
        when: "len(steps.search.output.results) > 0"
        retries: {max: 2, backoff_ms: 200}
        timeout_s: 60
      - id: each
        function: tool::web_fetch
        input: {url: "{{item}}"}
        loop: {over: "input.urls", max: 10}

Validation happens once, at the boundary (:func:`parse_workflow`): field types, exactly one of
``agent``/``function``, expressions in the safe subset, every ``dependsOn`` naming a step, every
``{{steps.X…}}`` reference naming a dependency (direct or transitive), and no cycles
(:func:`topological_order` names the cycle). Steps without dependencies between them run in
parallel.
"""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import CycleError, ExpressionError, InvalidWorkflow
from .expr import compile_expr
from .template import placeholders

__all__ = ["LoopSpec", "RetrySpec", "StepSpec", "WorkflowSpec", "parse_workflow",
           "topological_order"]

StepId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetrySpec(_Strict):
    """``max`` retries after the first attempt, ``backoff_ms`` doubling each time."""

    max: Annotated[int, Field(ge=0, le=20)] = 0
    backoff_ms: Annotated[int, Field(ge=0, le=600_000)] = 0


class LoopSpec(_Strict):
    """Run the step once per element of ``over``, or until ``until`` holds; at most ``max``."""

    over: str | list[Any] | None = None
    until: str | None = None
    max: Annotated[int, Field(ge=1, le=1000)] = 10

    @model_validator(mode="after")
    def _one(self) -> LoopSpec:
        if (self.over is None) == (self.until is None):
            raise ValueError("a loop needs exactly one of 'over' and 'until'")
        return self


class StepSpec(_Strict):
    id: StepId
    agent: str | None = None
    function: str | None = None
    input: Any = None
    depends_on: list[StepId] = Field(default_factory=list, alias="dependsOn")
    when: str | bool | None = None
    loop: LoopSpec | None = None
    retries: RetrySpec = Field(default_factory=RetrySpec)
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] | None = None

    @model_validator(mode="after")
    def _target(self) -> StepSpec:
        if (self.agent is None) == (self.function is None):
            raise ValueError("a step needs exactly one of 'agent' and 'function'")
        return self


class WorkflowSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
    description: str = ""
    steps: list[StepSpec] = Field(min_length=1, max_length=500)

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)


def parse_workflow(source: str | dict[str, Any]) -> WorkflowSpec:
    """Validate a workflow given as YAML/JSON text or as a parsed object.

    Raises:
        InvalidWorkflow: bad YAML, a field error (one ``where: problem`` line each), a duplicate
            step id, an unknown dependency or template reference.
        CycleError: the dependencies form a cycle.
        ExpressionError: a ``when``/``loop`` expression outside the safe subset.
    """
    if isinstance(source, str):
        try:
            source = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise InvalidWorkflow(f"invalid YAML: {exc}") from exc
    if not isinstance(source, dict):
        raise InvalidWorkflow("a workflow must be a mapping with 'name' and 'steps'")
    try:
        spec = WorkflowSpec.model_validate(source)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]
        raise InvalidWorkflow("invalid workflow:\n" + "\n".join(lines)) from exc
    ids = [s.id for s in spec.steps]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InvalidWorkflow(f"duplicate step ids: {', '.join(dupes)}")
    for step in spec.steps:
        unknown = [d for d in step.depends_on if d not in ids]
        if unknown:
            raise InvalidWorkflow(f"step {step.id!r} depends on unknown steps: {', '.join(unknown)}")
    order = topological_order(spec)
    ancestors = _ancestors(spec, order)
    for step in spec.steps:
        for expr in (step.when, step.loop.until if step.loop else None,
                     step.loop.over if step.loop and isinstance(step.loop.over, str) else None):
            if expr is not None:
                try:
                    compile_expr(expr)
                except ExpressionError as exc:
                    raise ExpressionError(f"step {step.id!r}: {exc.message}") from exc
        for path in placeholders(step.input):
            parts = path.split(".")
            if parts[0] == "steps" and len(parts) > 1 and parts[1] not in ancestors[step.id]:
                raise InvalidWorkflow(f"step {step.id!r} uses {{{{{path}}}}} but does not depend "
                                      f"on step {parts[1]!r}")
    return spec


def topological_order(spec: WorkflowSpec) -> list[str]:
    """Step ids, every step after its dependencies (ties in file order).

    Raises:
        CycleError: with the cycle, e.g. ``a -> b -> a``.
    """
    deps = {s.id: s.depends_on for s in spec.steps}
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise CycleError(path[path.index(node):] + [node])
        state[node] = 1
        path.append(node)
        for dep in deps[node]:
            visit(dep)
        path.pop()
        state[node] = 2
        order.append(node)

    for step in spec.steps:
        visit(step.id)
    return order


def _ancestors(spec: WorkflowSpec, order: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for sid in order:
        found[sid] = set()
        for dep in spec.step(sid).depends_on:
            found[sid] |= {dep} | found[dep]
    return found
