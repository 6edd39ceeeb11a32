"""Running a workflow: the DAG scheduler, conditions, loops, retries and the run record.

Theory of operation
-------------------
:func:`run_workflow` opens one anyio task group and starts one task per step. A step's task
waits for the ``done`` event of each of its dependencies, so independent branches run
concurrently and nothing polls. Once its dependencies are done a step either

* is **skipped** — a dependency failed or was itself skipped for that reason (``reason`` says
  which), or its ``when`` expression is falsy;
* or **runs**: its ``input`` is rendered (:mod:`.template`) against ``{input, steps, item,
  index, iteration}`` and sent to its ``function`` (the rendered input is the payload) or its
  ``agent`` (``agent::chat`` with the input as ``message``; the output is the reply's
  ``content``). Each call is bounded by ``timeout_s`` and retried up to ``retries.max`` times
  with a doubling ``backoff_ms`` (waits go through the injected ``sleep``). A loop runs the
  call once per element of ``over`` (output: the list of outputs) or until ``until`` holds
  (output: the last output), never more than ``max`` times.

A step whose dependency was skipped by its ``when`` still runs (its dependency's output is
None); only failures propagate. A failure never cancels sibling branches; the run's status is
``failed`` when any step failed, ``succeeded`` otherwise.

The run record — ``{run_id, workflow, status, input, started, finished, error, steps: {id:
{status, attempts, iterations, started, finished, output, error, reason}}}`` — is saved through
the :class:`RunStore` on every step transition, one save at a time, so a reader sees it move.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import anyio

from workers.sdk import InvocationError

from .errors import ExpressionError
from .expr import compile_expr
from .spec import StepSpec, WorkflowSpec, topological_order
from .template import render

__all__ = ["MemoryRunStore", "RunStore", "StepCaller", "run_workflow"]

log = logging.getLogger(__name__)

AGENT_CHAT = "agent::chat"


class StepCaller(Protocol):
    """Where step calls go: the connection (``ctx.trigger``) in the worker, a fake in tests."""

    async def __call__(self, function_id: str, data: Any, timeout: float | None) -> Any: ...


class RunStore(Protocol):
    """Where run records are kept."""

    async def save(self, record: dict[str, Any]) -> None:
        """Store ``record`` (a snapshot; the runner keeps mutating its own copy)."""
        ...


class MemoryRunStore:
    """Run records in a dict: the store of unit tests, and of ``agentos workflow run`` offline."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.saves = 0

    async def save(self, record: dict[str, Any]) -> None:
        self.records[record["run_id"]] = record
        self.saves += 1


class _Run:
    def __init__(self, spec: WorkflowSpec, data: Any, caller: StepCaller, store: RunStore,
                 run_id: str, now: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        self.spec, self.caller, self.store, self.now, self.sleep = spec, caller, store, now, sleep
        self.done = {s.id: anyio.Event() for s in spec.steps}
        self.lock = anyio.Lock()
        self.record: dict[str, Any] = {
            "run_id": run_id, "workflow": spec.name, "status": "running", "input": data,
            "started": now(), "finished": None, "error": None,
            "steps": {s.id: {"status": "pending", "attempts": 0, "iterations": 0, "started": None,
                             "finished": None, "output": None, "error": None, "reason": None}
                      for s in spec.steps},
        }

    async def save(self) -> None:
        async with self.lock:
            await self.store.save(copy.deepcopy(self.record))

    def names(self, **extra: Any) -> dict[str, Any]:
        steps = {sid: {"output": r["output"], "status": r["status"], "error": r["error"]}
                 for sid, r in self.record["steps"].items()}
        return {"input": self.record["input"], "steps": steps, **extra}

    async def step(self, step: StepSpec) -> None:
        entry = self.record["steps"][step.id]
        try:
            for dep in step.depends_on:
                await self.done[dep].wait()
            blocked = [d for d in step.depends_on
                       if self.record["steps"][d]["status"] == "failed"
                       or self.record["steps"][d]["reason"] == "dependency failed"]
            if blocked:
                entry.update(status="skipped", reason="dependency failed",
                             error=f"not run: {', '.join(blocked)} did not succeed")
                return
            if step.when is not None:
                try:
                    go = compile_expr(step.when).evaluate(self.names())
                except ExpressionError as exc:
                    entry.update(status="failed", error=exc.message, finished=self.now())
                    return
                if not go:
                    entry.update(status="skipped", reason="when is false")
                    return
            entry.update(status="running", started=self.now())
            await self.save()
            try:
                entry["output"] = await self.execute(step, entry)
                entry["status"] = "succeeded"
            except (InvocationError, TimeoutError) as exc:
                entry.update(status="failed", error=_describe(exc))
            entry["finished"] = self.now()
        finally:
            self.done[step.id].set()
            await self.save()

    async def execute(self, step: StepSpec, entry: dict[str, Any]) -> Any:
        loop = step.loop
        if loop is None:
            return await self.attempt(step, entry, self.names())
        if loop.over is not None:
            items = (compile_expr(loop.over).evaluate(self.names())
                     if isinstance(loop.over, str) else loop.over)
            if not isinstance(items, list):
                raise ExpressionError(f"loop.over of {step.id!r} is not a list: {items!r}")
            if len(items) > loop.max:
                raise ExpressionError(f"loop.over of {step.id!r} has {len(items)} items, "
                                      f"more than max={loop.max}")
            outputs = []
            for index, item in enumerate(items):
                entry["iterations"] = index + 1
                outputs.append(await self.attempt(step, entry, self.names(item=item, index=index)))
            return outputs
        assert loop.until is not None
        until = compile_expr(loop.until)
        output: Any = None
        for iteration in range(loop.max):
            entry["iterations"] = iteration + 1
            output = await self.attempt(step, entry, self.names(iteration=iteration, output=output))
            if until.evaluate(self.names(iteration=iteration, output=output)):
                return output
        raise ExpressionError(f"loop of {step.id!r} ran max={loop.max} times and "
                              f"'until' never held")

    async def attempt(self, step: StepSpec, entry: dict[str, Any], names: Mapping[str, Any]) -> Any:
        payload = render(step.input, names)
        function_id, data = self.target(step, payload)
        for retry in range(step.retries.max + 1):
            entry["attempts"] += 1
            try:
                with anyio.fail_after(step.timeout_s):
                    result = await self.caller(function_id, data, step.timeout_s)
                return result.get("content") if step.agent is not None and isinstance(result, dict) else result
            except (InvocationError, TimeoutError) as exc:
                entry["error"] = _describe(exc)
                if retry == step.retries.max:
                    raise
                log.info("workflow %s step %s attempt %d failed (%s); retrying", self.spec.name,
                         step.id, entry["attempts"], entry["error"])
                await self.save()
                await self.sleep(step.retries.backoff_ms * (2 ** retry) / 1000)
        raise AssertionError("unreachable")

    @staticmethod
    def target(step: StepSpec, payload: Any) -> tuple[str, Any]:
        if step.function is not None:
            return step.function, payload
        if isinstance(payload, dict) and ("message" in payload or "messages" in payload):
            return AGENT_CHAT, {**payload, "agent_id": step.agent}
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False,
                                                                  default=str)
        return AGENT_CHAT, {"agent_id": step.agent, "message": text}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout: the step did not finish within timeout_s"
    return str(exc)


async def run_workflow(
    spec: WorkflowSpec,
    data: Any = None,
    *,
    caller: StepCaller,
    store: RunStore,
    run_id: str | None = None,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> dict[str, Any]:
    """Run ``spec`` with ``data`` as ``input`` and return the final run record.

    Call it with a spec from :func:`~.spec.parse_workflow` (already checked for cycles). Step
    failures are recorded, not raised.

    Args:
        caller: makes the step calls.
        store: receives the record on every transition (and the final one last).
        run_id: default ``wf-<12 hex>``.
        now, sleep: the clock (wall seconds) and the retry backoff's wait.

    Returns:
        The run record (see the module docstring).
    """
    run = _Run(spec, data, caller, store, run_id or f"wf-{uuid.uuid4().hex[:12]}", now, sleep)
    await run.save()
    order = topological_order(spec)
    async with anyio.create_task_group() as tg:
        for sid in order:
            tg.start_soon(run.step, spec.step(sid), name=f"workflow {spec.name} step {sid}")
    statuses = [s["status"] for s in run.record["steps"].values()]
    failed = [sid for sid, s in run.record["steps"].items() if s["status"] == "failed"]
    run.record.update(status="failed" if "failed" in statuses else "succeeded",
                      finished=now(), error=f"steps failed: {', '.join(failed)}" if failed else None)
    await run.save()
    return run.record
