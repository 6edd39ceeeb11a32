"""workers/control_plane/ledger.py: budgets end to end through agent turns, alerts, periods."""

from __future__ import annotations

import pytest

from tests.fakes import Text

from .conftest import Stack, code_of

COST = 1000 * 0.15e-6 + 1000 * 0.6e-6
"""What one turn costs: gpt-4o-mini's prices (litellm's map) for the usage the fake answers."""


async def turn(cp: Stack, agent: str, spent_events: int) -> dict[str, object]:
    """One agent turn in realm a, returned once the ledger has recorded its cost."""
    result: dict[str, object] = await cp.a.trigger("agent::chat", {"agent_id": agent, "message": "go"},
                                                   timeout=30)
    await cp.events.wait_for("ledger.spent", spent_events)
    return result


async def test_an_agent_is_stopped_at_its_hard_limit_before_the_call(cp: Stack) -> None:
    cp.fake.default = Text("done", prompt_tokens=1000, completion_tokens=1000)
    await cp.events.subscribe("a")
    await cp.a.trigger("agent::create", {"name": "spender"})
    await cp.sys.trigger("ledger::set_budget", {"realm_id": "a", "agent_id": "spender",
                                                "limit_usd": 0.002, "soft_threshold": 0.5})
    costs = [(await turn(cp, "spender", n))["cost_usd"] for n in (1, 2, 3)]
    assert costs == [pytest.approx(COST)] * 3
    assert len(cp.fake.chat_requests) == 3

    refused = cp.a.trigger("agent::chat", {"agent_id": "spender", "message": "more"}, timeout=30)
    assert await code_of(refused) == "budget_exceeded"
    assert len(cp.fake.chat_requests) == 3  # refused before any upstream request

    alerts = await cp.events.wait_for("ledger.alert", 2)
    assert [(a["level"], a["agent_id"], a["period_key"]) for a in alerts] == [
        ("warning", "spender", "2026-01"), ("critical", "spender", "2026-01")]
    check = await cp.a.trigger("ledger::check", {"agent_id": "spender", "estimated_cost": 0.0})
    assert check["allowed"] is False and "spender" in check["reason"]

    # The ledger's sums are the router's recorded costs.
    usage = await cp.a.trigger("llm::usage", {})
    summary = await cp.a.trigger("ledger::summary", {})
    assert summary["total_usd"] == pytest.approx(usage["totals"]["cost_usd"]) == pytest.approx(3 * COST)
    assert summary["totals"]["requests"] == usage["totals"]["requests"] == 3
    assert summary["by_agent"]["spender"]["cost_usd"] == pytest.approx(3 * COST)
    assert {m: r["cost_usd"] for m, r in summary["by_model"].items()} == {
        m: pytest.approx(r["cost_usd"]) for m, r in usage["by_model"].items() if r["requests"]}
    assert list(summary["by_provider"]) == ["openai"]

    # A new month starts from zero: the agent runs again, and may alert again.
    cp.clock.advance(days=1)
    await turn(cp, "spender", 4)
    assert len(cp.fake.chat_requests) == 4
    budget = next(b for b in (await cp.a.trigger("ledger::summary", {"period": "monthly"}))["budgets"]
                  if b["subject"] == "spender")
    assert budget["spent_usd"] == pytest.approx(COST)


async def test_the_realm_budget_counts_every_agent(cp: Stack) -> None:
    cp.fake.default = Text("done", prompt_tokens=1000, completion_tokens=1000)
    await cp.events.subscribe("a")
    for name in ("one", "two"):
        await cp.a.trigger("agent::create", {"name": name})
    await cp.sys.trigger("ledger::set_budget", {"realm_id": "a", "limit_usd": 1.5 * COST})
    await turn(cp, "one", 1)
    assert (await cp.a.trigger("ledger::check", {"agent_id": "two"}))["allowed"] is True
    await turn(cp, "two", 2)
    assert await code_of(cp.a.trigger("agent::chat", {"agent_id": "one", "message": "x"})) == "budget_exceeded"
    assert len(cp.fake.chat_requests) == 2
    # realm b is not affected by realm a's budget
    await cp.b.trigger("agent::create", {"name": "one"})
    assert (await cp.b.trigger("agent::chat", {"agent_id": "one", "message": "x"}, timeout=30))["content"] == "done"


async def test_spend_is_idempotent_by_event_id(cp: Stack) -> None:
    first = await cp.a.trigger("ledger::spend", {"agent_id": "x", "cost_usd": 0.5, "event_id": "e-1",
                                                 "model": "m", "provider": "p"})
    again = await cp.a.trigger("ledger::spend", {"agent_id": "x", "cost_usd": 0.5, "event_id": "e-1",
                                                 "model": "m", "provider": "p"})
    assert (first["recorded"], again["recorded"], again["duplicate"]) == (True, False, True)
    summary = await cp.a.trigger("ledger::summary", {})
    assert (summary["total_usd"], summary["totals"]["requests"]) == (0.5, 1)


async def test_daily_budgets_reset_each_day_and_soft_alerts_fire_once(cp: Stack) -> None:
    await cp.events.subscribe("a")
    await cp.sys.trigger("ledger::set_budget", {"realm_id": "a", "agent_id": "d", "limit_usd": 1.0,
                                                "soft_threshold": 0.5, "period": "daily"})
    for i in range(3):  # 0.3, 0.6 (warning), 0.9: one warning only
        await cp.a.trigger("ledger::spend", {"agent_id": "d", "cost_usd": 0.3, "event_id": f"d{i}"})
    assert [a["level"] for a in await cp.events.wait_for("ledger.alert", 1)] == ["warning"]
    refused = await cp.a.trigger("ledger::check", {"agent_id": "d", "estimated_cost": 0.2})
    assert (refused["allowed"], refused["remaining_usd"]) == (False, pytest.approx(0.1))
    cp.clock.advance(days=1)
    fresh = await cp.a.trigger("ledger::check", {"agent_id": "d", "estimated_cost": 0.2})
    assert (fresh["allowed"], fresh["remaining_usd"]) == (True, pytest.approx(1.0))


async def test_soft_only_budgets_alert_but_never_refuse(cp: Stack) -> None:
    await cp.sys.trigger("ledger::set_budget", {"realm_id": "a", "agent_id": "s", "limit_usd": 0.1,
                                                "hard": False})
    out = await cp.a.trigger("ledger::spend", {"agent_id": "s", "cost_usd": 0.2})
    assert [a["level"] for a in out["alerts"]] == ["warning", "critical"]
    assert (await cp.a.trigger("ledger::check", {"agent_id": "s", "estimated_cost": 1}))["allowed"] is True


async def test_only_operators_set_budgets_and_rest_works(cp: Stack) -> None:
    assert await code_of(cp.a.trigger("ledger::set_budget", {"limit_usd": 99})) == "forbidden"
    assert await code_of(cp.worker.trigger("ledger::set_budget", {"limit_usd": 99})) == "forbidden"
    r = await cp.rest("POST", "/api/ledger/budget", "t-a", {"limit_usd": 99})
    assert r.status_code == 403
    r = await cp.rest("POST", "/api/ledger/budget", "t-sys", {"realm_id": "a", "agent_id": "r",
                                                              "limit_usd": 1})
    assert r.status_code == 200, r.text
    r = await cp.rest("GET", "/api/ledger/check/a/r", "t-a", estimated_cost="2")
    assert r.status_code == 200 and r.json()["allowed"] is False
    r = await cp.rest("GET", "/api/ledger/check/b/r", "t-a")
    assert r.status_code == 403
