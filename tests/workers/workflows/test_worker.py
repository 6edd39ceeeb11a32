"""``workflow::*`` on a real engine: stored, run through the bus, the record kept in state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import InvocationError, Worker, connect, function
from workers.workflows import build_worker, parse_workflow

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@function("demo::double")
async def double(data: Any) -> dict[str, Any]:
    return {"value": data["n"] * 2}


FLOW = """
name: doubling
steps:
  - {id: one, function: demo::double, input: {n: "{{input.n}}"}}
  - {id: two, function: demo::double, input: {n: "{{steps.one.output.value}}"}, dependsOn: [one]}
"""


async def test_create_run_and_read_back_through_the_engine() -> None:
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [
        {"name": "iii-state", "config": {"adapter": {"name": "memory"}}}]})
    async with Node(config) as node, \
            connect(node.url, workers=[build_worker(), Worker("demo", functions=[double])]), \
            connect(node.url, workers=[], name="client") as client:
        assert await client.trigger("workflow::create", {"yaml": FLOW}) == {
            "name": "doubling", "steps": ["one", "two"]}
        listed = await client.trigger("workflow::list", {})
        assert listed["workflows"][0]["name"] == "doubling"
        record = await client.trigger("workflow::run", {"name": "doubling", "input": {"n": 3}})
        assert record["status"] == "succeeded"
        assert record["steps"]["two"]["output"] == {"value": 12}
        stored = await client.trigger("workflow::runs", {"run_id": record["run_id"]})
        assert stored == record
        assert [r["run_id"] for r in (await client.trigger("workflow::runs", {}))["runs"]] == [
            record["run_id"]]
        with pytest.raises(InvocationError) as info:
            await client.trigger("workflow::run", {"spec": {"name": "c", "steps": [
                {"id": "a", "function": "demo::double", "dependsOn": ["a"]}]}})
        assert info.value.code == "invalid_arguments" and "a -> a" in info.value.message
        with pytest.raises(InvocationError) as info:
            await client.trigger("workflow::get", {"name": "nope"})
        assert info.value.code == "not_found"


@pytest.mark.parametrize("path", sorted((REPO / "workflows").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_examples_are_valid(path: Path) -> None:
    assert parse_workflow(path.read_text()).steps
