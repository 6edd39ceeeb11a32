"""engine/cli_ops.py: ``agentos realm|mission|ledger`` against a running engine (CliRunner)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import anyio
from click.testing import Result
from typer.testing import CliRunner

from engine.cli import app

from .conftest import Stack

runner = CliRunner()


async def agentos(cp: Stack, *args: str, token: str = "t-sys", stdin: str | None = None) -> Result:
    """Run the CLI in a thread (it runs its own event loop) against the test engine."""
    env = {"AGENTOS_URL": cp.url, "AGENTOS_TOKEN": token}
    return await anyio.to_thread.run_sync(partial(runner.invoke, app, list(args), env=env,
                                                  input=stdin))


def parsed(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_realm_commands(cp: Stack) -> None:
    created = parsed(await agentos(cp, "realm", "create", "Acme", "--id", "acme"))
    assert created["id"] == "acme"
    listed = await agentos(cp, "realm", "list")
    assert "acme" in listed.stdout and "active" in listed.stdout
    assert parsed(await agentos(cp, "realm", "get", "acme"))["name"] == "Acme"
    issued = await agentos(cp, "realm", "issue-key", "acme")
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip()
    assert key.startswith("aos_")
    mine = await agentos(cp, "realm", "list", "--json", token=key)
    assert [r["id"] for r in json.loads(mine.stdout)] == ["acme"]
    refused = await agentos(cp, "realm", "create", "Evil", token="t-a")
    assert refused.exit_code == 1 and "forbidden" in refused.stderr
    deleted = parsed(await agentos(cp, "realm", "delete", "acme", "--yes"))
    assert deleted["deleted"] is True and deleted["keys_revoked"] == 1


async def test_mission_commands(cp: Stack) -> None:
    mission = parsed(await agentos(cp, "mission", "create", "Ship it", "--status", "todo",
                                   token="t-a"))
    out = parsed(await agentos(cp, "mission", "checkout", mission["id"], "ann", token="t-a"))
    assert (out["status"], out["assignee"]) == ("in_progress", "ann")
    taken = await agentos(cp, "mission", "checkout", mission["id"], "bob", token="t-a")
    assert taken.exit_code == 1 and "already_checked_out" in taken.stderr
    moved = parsed(await agentos(cp, "mission", "transition", mission["id"], "in_review",
                                 token="t-a"))
    assert moved["status"] == "in_review"
    table = await agentos(cp, "mission", "list", "--realm", "a")
    assert mission["id"] in table.stdout and "in_review" in table.stdout
    other = await agentos(cp, "mission", "list", "--json", token="t-b")
    assert json.loads(other.stdout) == []


async def test_ledger_commands(cp: Stack) -> None:
    budget = parsed(await agentos(cp, "ledger", "set-budget", "1.5", "--agent", "ann",
                                  "--realm", "a", "--soft", "0.5"))
    assert (budget["limit_usd"], budget["soft_threshold"]) == (1.5, 0.5)
    await cp.a.trigger("ledger::spend", {"agent_id": "ann", "cost_usd": 1.0, "model": "m",
                                         "provider": "p"})
    summary = await agentos(cp, "ledger", "summary", token="t-a")
    assert summary.exit_code == 0 and "1.000000" in summary.stdout
    ok = await agentos(cp, "ledger", "check", "ann", "--estimated-cost", "0.25", token="t-a")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["allowed"] is True
    refused = await agentos(cp, "ledger", "check", "ann", "--estimated-cost", "1", token="t-a")
    assert refused.exit_code == 1 and json.loads(refused.stdout)["allowed"] is False
