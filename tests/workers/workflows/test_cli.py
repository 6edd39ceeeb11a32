"""``agentos workflow run FILE`` against a real engine (the CLI runs in a thread, as a user would)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import Worker, connect, function
from workers.workflows import build_worker


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@function("demo::shout")
async def shout(data: Any) -> str:
    return str(data).upper()


@function("demo::fail")
async def fail(data: Any) -> None:
    raise RuntimeError("nope")


async def test_workflow_run_prints_the_steps_and_exits_by_status(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("name: g\nsteps:\n  - {id: s, function: demo::shout, input: '{{input.w}}'}\n")
    bad.write_text("name: b\nsteps:\n  - {id: f, function: demo::fail}\n")
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [
        {"name": "iii-state", "config": {"adapter": {"name": "memory"}}}]})
    runner = CliRunner()
    async with Node(config) as node, \
            connect(node.url, workers=[build_worker(), Worker("demo", functions=[shout, fail])]):
        def invoke(*args: str) -> Any:
            return runner.invoke(app, [*args, "--url", node.url])

        ok = await anyio.to_thread.run_sync(functools.partial(
            invoke, "workflow", "run", str(good), "--input", '{"w": "hi"}', "--json"))
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["steps"]["s"]["output"] == "HI"
        failed = await anyio.to_thread.run_sync(functools.partial(invoke, "workflow", "run",
                                                                  str(bad)))
        assert failed.exit_code == 1
        assert "run wf-" in failed.output and "failed" in failed.output
        usage = await anyio.to_thread.run_sync(functools.partial(
            invoke, "workflow", "run", str(good), "--input", "{nope"))
        assert usage.exit_code == 2
