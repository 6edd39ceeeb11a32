"""workers/control_plane/pulse.py: the context reaches the model; skips; cron; status."""

from __future__ import annotations

import anyio

from .conftest import WAIT, Stack, code_of


def prompt_of(cp: Stack, index: int = -1) -> str:
    body = cp.fake.chat_requests[index].body
    return "\n".join(str(m.get("content")) for m in body["messages"])


async def scene(cp: Stack) -> dict[str, str]:
    """Realm a: an agent with a mission, a boss, an active directive and a budget."""
    await cp.a.trigger("agent::create", {"name": "pulsar"})
    mission = await cp.a.trigger("mission::create", {"title": "Fix the flux capacitor",
                                                     "status": "todo"})
    await cp.a.trigger("mission::checkout", {"mission_id": mission["id"], "agent_id": "pulsar"})
    await cp.a.trigger("hierarchy::set", {"agent_id": "doc-brown", "title": "Inventor"})
    await cp.a.trigger("hierarchy::set", {"agent_id": "pulsar", "reports_to": "doc-brown",
                                          "title": "Assistant"})
    directive = await cp.a.trigger("directive::create", {"title": "Reach 88 mph",
                                                         "status": "active"})
    await cp.sys.trigger("ledger::set_budget", {"realm_id": "a", "agent_id": "pulsar",
                                                "limit_usd": 2.5})
    return {"mission": mission["id"], "directive": directive["id"]}


async def test_the_context_is_in_the_prompt_the_model_sees(cp: Stack) -> None:
    ids = await scene(cp)
    run = await cp.a.trigger("pulse::invoke", {"agent_id": "pulsar"}, timeout=30)
    assert run["status"] == "completed" and run["trigger"] == "manual"
    prompt = prompt_of(cp)
    for expected in ("Fix the flux capacitor", ids["mission"], "Reach 88 mph", ids["directive"],
                     "pulsar (Assistant) -> doc-brown (Inventor)", "remaining_usd: 2.500000"):
        assert expected in prompt, expected
    status = await cp.a.trigger("pulse::status", {"agent_id": "pulsar"})
    assert [r["run_id"] for r in status["runs"]] == [run["run_id"]]


async def test_context_sources_choose_what_goes_in(cp: Stack) -> None:
    await scene(cp)
    await cp.a.trigger("pulse::register", {"agent_id": "pulsar", "schedule": "0 0 1 1 *",
                                           "context_sources": ["directives"], "enabled": False})
    await cp.a.trigger("pulse::tick", {"agent_id": "pulsar"})  # disabled: skipped
    assert cp.fake.chat_requests == []
    await cp.a.trigger("pulse::toggle", {"agent_id": "pulsar", "enabled": True})
    run = await cp.a.trigger("pulse::tick", {"job_id": "pulse:a:pulsar"}, timeout=30)
    assert run["status"] == "completed"
    prompt = prompt_of(cp)
    assert "Reach 88 mph" in prompt and "flux capacitor" not in prompt
    statuses = [r["status"] for r in (await cp.a.trigger("pulse::status", {"agent_id": "pulsar"}))["runs"]]
    assert statuses == ["completed", "skipped"]


async def test_over_budget_pulses_are_skipped_without_a_model_call(cp: Stack) -> None:
    await cp.a.trigger("agent::create", {"name": "broke"})
    await cp.sys.trigger("ledger::set_budget", {"realm_id": "a", "agent_id": "broke",
                                                "limit_usd": 0})
    run = await cp.a.trigger("pulse::invoke", {"agent_id": "broke"})
    assert run["status"] == "skipped" and "budget" in run["reason"]
    assert cp.fake.chat_requests == []


async def test_a_cron_schedule_fires_the_pulse(cp: Stack) -> None:
    await cp.events.subscribe("a")
    await scene(cp)
    config = await cp.a.trigger("pulse::register", {"agent_id": "pulsar", "schedule": "* * * * * *"})
    assert config["trigger_id"] == "pulse:a:pulsar"
    with anyio.fail_after(WAIT):
        runs = await cp.events.wait_for("pulse.run", 1)
    await cp.a.trigger("pulse::toggle", {"agent_id": "pulsar", "enabled": False})
    assert runs[0]["trigger"] == "cron" and runs[0]["_realm"] == "a"
    assert "Fix the flux capacitor" in prompt_of(cp, 0)
    listed = await cp.sys.trigger("engine::triggers::list", {})
    assert "pulse:a:pulsar" not in [t["id"] for t in listed["triggers"]]


async def test_invalid_schedules_are_refused(cp: Stack) -> None:
    assert await code_of(cp.a.trigger("pulse::register", {"agent_id": "x", "schedule": "nope"})) == "invalid_arguments"
    assert (await cp.a.trigger("pulse::status", {"agent_id": "x"}))["config"] is None
