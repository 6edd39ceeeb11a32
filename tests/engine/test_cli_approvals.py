"""``agentos approvals`` against a real stack: a paused agent run is listed, approved from the
command line, and goes on (the CLI runs in a thread, as a user's would)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from typer.testing import CliRunner

from engine.cli import app
from tests.fakes import FakeUpstream, Text, ToolCall, ToolCalls
from tests.workers.security.agents import Box, agent_stack


async def test_a_paused_run_is_listed_approved_and_shown(tmp_path: Path) -> None:
    box, runner = Box(), CliRunner()
    async with FakeUpstream() as fake, agent_stack(tmp_path, box, fake) as stack:
        def cli(*args: str) -> Any:
            return runner.invoke(app, [*args, "--url", stack.node.url])

        async def run(*args: str) -> Any:
            return await anyio.to_thread.run_sync(functools.partial(cli, *args))

        await stack.call("agent::create", {"template": "helper", "name": "h1"})
        await stack.call("approval::set_policy", {"tools": ["tools::get_weather"]})
        fake.script(ToolCalls([ToolCall("c1", "tools__get_weather", '{"city": "Rome"}')]), Text("Sunny in Rome."))
        paused = await stack.call("agent::chat", {"agent_id": "h1", "message": "Rome?",
                                                  "notify": {"function_id": "test::run_finished"}})
        [pending] = paused["approvals"]

        listed = await run("approvals", "list")
        assert listed.exit_code == 0, listed.output
        assert pending["approval_id"] in listed.output and "tools::get_weather" in listed.output
        approved = await run("approvals", "approve", pending["approval_id"], "--by", "ops", "--note", "fine")
        assert approved.exit_code == 0, approved.output
        assert f"{pending['approval_id']}: approved by ops" in approved.output
        with anyio.fail_after(20):
            await box.finished.wait()
        shown = await run("approvals", "run", paused["run_id"])
        assert shown.exit_code == 0, shown.output
        record = json.loads(shown.output)
        assert record["status"] == "completed" and record["result"]["content"] == "Sunny in Rome."
        twice = await run("approvals", "reject", pending["approval_id"])
        assert twice.exit_code != 0 and "already_decided" in twice.output
        none = await run("approvals", "list")
        assert none.exit_code == 0 and "(none)" in none.output
