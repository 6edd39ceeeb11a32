"""The workflow runner against an in-memory caller: parallel branches, retries, when, loops."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from workers.sdk import InvocationError
from workers.workflows import (
    CycleError,
    ExpressionError,
    InvalidWorkflow,
    MemoryRunStore,
    evaluate,
    parse_workflow,
    run_workflow,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Calls:
    """A caller: ``fail_first`` ids fail on their first call; ``meet`` returns once two are in."""

    def __init__(self, fail_first: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.log: list[tuple[str, Any]] = []
        self.fail_first = set(fail_first)
        self.met = anyio.Event()
        self.meeting = 0

    async def __call__(self, function_id: str, data: Any, timeout: float | None) -> Any:
        self.log.append((function_id, data))
        if function_id in self.fail_first:
            self.fail_first.discard(function_id)
            raise InvocationError("invocation_failed", f"{function_id} flaked")
        if function_id == "t::meet":
            self.meeting += 1
            if self.meeting >= 2:
                self.met.set()
            with anyio.fail_after(5):  # a bound: a sequential runner would never meet
                await self.met.wait()
            return {"met": data}
        if function_id == "t::fail":
            raise InvocationError("invocation_failed", "always fails")
        if function_id == "agent::chat":
            return {"content": f"agent {data['agent_id']} read: {data['message']}"}
        return {"echo": data}


async def no_sleep(_: float) -> None:
    return None


async def run(source: str, data: Any = None, caller: Calls | None = None) -> dict[str, Any]:
    store = MemoryRunStore()
    record = await run_workflow(parse_workflow(source), data, caller=caller or Calls(),
                                store=store, sleep=no_sleep)
    assert store.records[record["run_id"]] == record  # the last save is the final record
    return record


PARALLEL = """
name: fan
steps:
  - id: start
    function: t::echo
    input: {topic: "{{input.topic}}"}
  - id: left
    function: t::meet
    input: left
    dependsOn: [start]
  - id: right
    function: t::meet
    input: right
    dependsOn: [start]
  - id: flaky
    function: t::flaky
    input: {from: "{{steps.start.output.echo.topic}}"}
    dependsOn: [start]
    retries: {max: 2, backoff_ms: 10}
  - id: join
    agent: writer
    input: "L={{steps.left.output.met}} R={{steps.right.output.met}} F={{steps.flaky.output}}"
    dependsOn: [left, right, flaky]
"""


async def test_parallel_branch_and_retried_step_complete_with_the_right_record() -> None:
    caller = Calls(fail_first={"t::flaky"})
    record = await run(PARALLEL, {"topic": "owls"}, caller)
    steps = record["steps"]
    assert record["status"] == "succeeded" and record["error"] is None
    assert {s: v["status"] for s, v in steps.items()} == dict.fromkeys(steps, "succeeded")
    assert steps["flaky"]["attempts"] == 2 and steps["start"]["attempts"] == 1
    assert steps["flaky"]["output"] == {"echo": {"from": "owls"}}  # a whole placeholder keeps type
    assert steps["left"]["output"] == {"met": "left"}  # both branches were in flight at once
    assert steps["join"]["output"] == (
        'agent writer read: L=left R=right F={"echo": {"from": "owls"}}')
    assert all(s["started"] <= s["finished"] for s in steps.values())


async def test_a_step_that_keeps_failing_fails_and_skips_its_dependents_only() -> None:
    record = await run("""
name: f
steps:
  - {id: bad, function: t::fail, retries: {max: 1}}
  - {id: after, function: t::echo, dependsOn: [bad]}
  - {id: later, function: t::echo, dependsOn: [after]}
  - {id: other, function: t::echo}
""")
    steps = record["steps"]
    assert record["status"] == "failed" and "bad" in record["error"]
    assert steps["bad"]["status"] == "failed" and steps["bad"]["attempts"] == 2
    assert "always fails" in steps["bad"]["error"]
    assert steps["after"]["status"] == "skipped" and steps["after"]["reason"] == "dependency failed"
    assert steps["later"]["status"] == "skipped"
    assert steps["other"]["status"] == "succeeded"


async def test_a_when_false_step_is_skipped_and_its_dependents_still_run() -> None:
    caller = Calls()
    record = await run("""
name: w
steps:
  - {id: a, function: t::echo, input: {n: 1}}
  - {id: nope, function: t::never, dependsOn: [a], when: "steps.a.output.echo.n > 5"}
  - {id: yep, function: t::echo, dependsOn: [a], when: "steps.a.output.echo.n == 1 and true"}
  - {id: never, function: t::never, when: false}
  - {id: after, function: t::echo, dependsOn: [nope], input: "{{steps.nope.output}}"}
""", caller=caller)
    steps = record["steps"]
    assert steps["nope"]["status"] == "skipped" and steps["nope"]["reason"] == "when is false"
    assert steps["never"]["status"] == "skipped" and steps["nope"]["attempts"] == 0
    assert steps["yep"]["status"] == "succeeded"
    assert steps["after"]["status"] == "succeeded" and steps["after"]["output"] == {"echo": None}
    assert all(fid != "t::never" for fid, _ in caller.log)
    assert record["status"] == "succeeded"


async def test_loop_over_runs_once_per_item_and_until_stops_when_it_holds() -> None:
    caller = Calls()
    record = await run("""
name: l
steps:
  - id: each
    function: t::echo
    input: {url: "{{item}}", i: "{{index}}"}
    loop: {over: input.urls, max: 5}
  - id: until
    function: t::echo
    input: {n: "{{iteration}}"}
    loop: {until: "output.echo.n >= 2", max: 10}
""", {"urls": ["a", "b", "c"]}, caller)
    steps = record["steps"]
    assert steps["each"]["iterations"] == 3 and steps["each"]["attempts"] == 3
    assert steps["each"]["output"] == [{"echo": {"url": u, "i": i}} for i, u in enumerate("abc")]
    assert steps["until"]["iterations"] == 3 and steps["until"]["output"] == {"echo": {"n": 2}}
    assert len(caller.log) == 6


async def test_a_loop_that_exceeds_max_fails() -> None:
    record = await run("""
name: l
steps:
  - {id: x, function: t::echo, loop: {until: "false", max: 3}}
""")
    assert record["steps"]["x"]["status"] == "failed" and record["steps"]["x"]["iterations"] == 3


async def test_a_step_timeout_counts_as_a_failed_attempt() -> None:
    class Hangs(Calls):
        async def __call__(self, function_id: str, data: Any, timeout: float | None) -> Any:
            if function_id == "t::hang":
                await anyio.Event().wait()
            return await super().__call__(function_id, data, timeout)

    record = await run("name: t\nsteps:\n  - {id: h, function: t::hang, timeout_s: 0.01}\n",
                       caller=Hangs())
    assert record["steps"]["h"]["status"] == "failed"
    assert record["steps"]["h"]["error"].startswith("timeout")


def test_a_cycle_is_refused_with_the_cycle_named() -> None:
    with pytest.raises(CycleError) as info:
        parse_workflow("""
name: c
steps:
  - {id: a, function: t::x, dependsOn: [c]}
  - {id: b, function: t::x, dependsOn: [a]}
  - {id: c, function: t::x, dependsOn: [b]}
""")
    assert info.value.cycle == ["a", "c", "b", "a"]
    assert info.value.code == "invalid_arguments"


@pytest.mark.parametrize(("source", "message"), [
    ("name: x\nsteps:\n  - {id: a, function: t::x, dependsOn: [zz]}\n", "unknown steps: zz"),
    ("name: x\nsteps:\n  - {id: a, function: t::x}\n  - {id: a, function: t::y}\n", "duplicate"),
    ("name: x\nsteps:\n  - {id: a}\n", "exactly one of 'agent' and 'function'"),
    ("name: x\nsteps:\n  - {id: a, function: t::x, input: '{{steps.b.output}}'}\n"
     "  - {id: b, function: t::x}\n", "does not depend on step 'b'"),
    ("name: x\nsteps: [\n", "invalid YAML"),
])
def test_invalid_workflows_are_refused(source: str, message: str) -> None:
    with pytest.raises(InvalidWorkflow, match=message):
        parse_workflow(source)


@pytest.mark.parametrize("source", [
    "__import__('os').system('true')", "steps.__class__", "(lambda: 1)()", "[x for x in y]",
    "open('f')", "a := 1",
])
def test_unsafe_expressions_are_refused(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse_workflow({"name": "x", "steps": [{"id": "a", "function": "t::x", "when": source}]})


@pytest.mark.parametrize(("source", "expected"), [
    ("steps.a.output.n + 1 == 3", True), ("len(steps.a.output.items) > 1", True),
    ("'b' in steps.a.output.items", True), ("not steps.missing.output", True),
    ("steps.a.output['n'] * 2", 4), ("lower('AB') == 'ab' or false", True), ("null", None),
    ("1 < steps.a.output.n <= 2", True), ("contains(steps.a.output.items, 'z')", False),
])
def test_expressions_evaluate(source: str, expected: Any) -> None:
    names = {"steps": {"a": {"output": {"n": 2, "items": ["a", "b"]}}}}
    assert evaluate(source, names) == expected
