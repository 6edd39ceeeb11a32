"""workers/control_plane/council.py and activity.py: quorum votes, effects, the hash chain."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from workers.control_plane.activity import GENESIS, entry_hash, verify
from workers.sdk import InvocationError

from .conftest import Stack, code_of


async def seat(cp: Stack, realm: str = "a") -> None:
    await cp.sys.trigger("council::members", {"realm_id": realm, "members": ["alice", "bob", "carol"],
                                              "quorum": 2})


async def vote(cp: Stack, proposal: dict[str, Any], member: str, choice: str = "approve") -> dict[str, Any]:
    out: dict[str, Any] = await cp.a.trigger("council::vote", {"proposal_id": proposal["id"],
                                                               "member": member, "vote": choice})
    return out


async def test_quorum_one_vote_each_members_only(cp: Stack) -> None:
    await seat(cp)
    p = await cp.a.trigger("council::submit", {"type": "budget_override", "title": "more",
                                               "payload": {"agent_id": "x", "limit_usd": 5}})
    assert (await vote(cp, p, "alice"))["status"] == "pending"
    assert await code_of(vote(cp, p, "alice")) == "already_voted"
    assert await code_of(vote(cp, p, "mallory")) == "not_a_member"
    done = await vote(cp, p, "bob")
    assert done["status"] == "approved" and done["effect"]["ok"] is True
    assert await code_of(vote(cp, p, "carol")) == "proposal_closed"
    budgets = (await cp.a.trigger("ledger::summary", {}))["budgets"]
    assert [(b["subject"], b["limit_usd"]) for b in budgets] == [("x", 5)]


async def test_rejection_has_no_effect(cp: Stack) -> None:
    await seat(cp)
    p = await cp.a.trigger("council::submit", {"type": "budget_override",
                                               "payload": {"limit_usd": 1000}})
    await vote(cp, p, "alice", "reject")
    out = await vote(cp, p, "bob", "reject")
    assert out["status"] == "rejected" and "effect" not in out
    assert (await cp.a.trigger("ledger::summary", {}))["budgets"] == []
    listed = await cp.a.trigger("council::proposals", {"status": "rejected"})
    assert [x["id"] for x in listed["proposals"]] == [p["id"]]


async def test_concurrent_votes_decide_once(cp: Stack) -> None:
    await cp.sys.trigger("council::members", {"realm_id": "a", "quorum": 3,
                                              "members": [f"m{i}" for i in range(5)]})
    p = await cp.a.trigger("council::submit", {"type": "custom", "payload": {"note": "hi"}})
    outcomes: list[Any] = []

    async def cast(member: str) -> None:
        try:
            outcomes.append((await vote(cp, p, member))["status"])
        except InvocationError as exc:
            outcomes.append(exc.code)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(cast, f"m{i}")
    assert outcomes.count("approved") == 1
    assert sorted(outcomes) == sorted(["pending", "pending", "approved", "proposal_closed",
                                       "proposal_closed"])
    effects = [e for e in (await cp.a.trigger("council::activity_log", {}))["entries"]
               if e["kind"] == "proposal.effect"]
    assert len(effects) == 1


async def test_terminate_archives_the_agent(cp: Stack) -> None:
    await seat(cp)
    await cp.a.trigger("agent::create", {"name": "doomed"})
    p = await cp.a.trigger("council::submit", {"type": "terminate_agent",
                                               "payload": {"agent_id": "doomed"}})
    await vote(cp, p, "alice")
    out = await vote(cp, p, "carol")
    assert out["effect"]["ok"] is True
    assert (await cp.a.trigger("agent::get", {"agent_id": "doomed"}))["status"] == "archived"
    assert await code_of(cp.a.trigger("agent::chat", {"agent_id": "doomed", "message": "hi"})) == "agent_archived"
    assert cp.fake.chat_requests == []


async def test_suspending_a_realm_stops_its_model_calls(cp: Stack) -> None:
    await seat(cp)
    await cp.a.trigger("agent::create", {"name": "worker"})
    p = await cp.a.trigger("council::submit", {"type": "suspend_realm", "payload": {}})
    await vote(cp, p, "alice")
    await vote(cp, p, "bob")
    assert (await cp.sys.trigger("realm::get", {"realm_id": "a"}))["status"] == "suspended"
    check = await cp.a.trigger("ledger::check", {"agent_id": "worker"})
    assert check["allowed"] is False and "suspended" in check["reason"]
    assert await code_of(cp.a.trigger("agent::chat", {"agent_id": "worker", "message": "hi"})) == "budget_exceeded"
    assert cp.fake.chat_requests == []
    # realm b runs on; realm a's council can only act on realm a
    await cp.b.trigger("agent::create", {"name": "worker"})
    assert (await cp.b.trigger("agent::chat", {"agent_id": "worker", "message": "hi"}, timeout=30))["content"]
    other = await cp.a.trigger("council::submit", {"type": "resume_realm", "payload": {"realm_id": "b"}})
    await vote(cp, other, "alice")
    refused = await vote(cp, other, "bob")
    assert refused["effect"] == {"ok": False, "error": {
        "code": "forbidden", "message": "a realm's council can only suspend or resume its own realm"}}
    resume = await cp.a.trigger("council::submit", {"type": "resume_realm", "payload": {}})
    await vote(cp, resume, "alice")
    await vote(cp, resume, "bob")
    assert (await cp.a.trigger("ledger::check", {"agent_id": "worker"}))["allowed"] is True


async def test_hire_and_override(cp: Stack) -> None:
    await seat(cp)
    p = await cp.a.trigger("council::submit", {"type": "hire_agent",
                                               "payload": {"agent": {"name": "newbie"}}})
    await vote(cp, p, "alice")
    await vote(cp, p, "bob")
    assert (await cp.a.trigger("agent::get", {"agent_id": "newbie"}))["status"] == "deployed"
    assert await code_of(cp.a.trigger("council::override", {"agent_id": "newbie", "action": "pause"})) == "forbidden"
    out = await cp.sys.trigger("council::override", {"realm_id": "a", "agent_id": "newbie",
                                                     "action": "pause", "reason": "audit"})
    assert out["agent"]["status"] == "paused"


async def test_bad_proposals_are_refused_at_submission(cp: Stack) -> None:
    assert await code_of(cp.a.trigger("council::submit", {"type": "custom"})) == "not_found"
    await seat(cp)
    assert await code_of(cp.a.trigger("council::submit", {"type": "terminate_agent", "payload": {}})) == "invalid_arguments"
    assert await code_of(cp.a.trigger("council::submit", {"type": "coup"})) == "invalid_arguments"
    assert await code_of(cp.a.trigger("council::members", {"members": ["me"]})) == "forbidden"
    assert (await cp.a.trigger("council::members", {}))["members"] == ["alice", "bob", "carol"]


async def test_the_log_is_a_verifiable_chain_and_tampering_is_pinpointed(cp: Stack) -> None:
    await seat(cp)
    p = await cp.a.trigger("council::submit", {"type": "custom", "payload": {}})
    await vote(cp, p, "alice")
    await cp.a.trigger("council::activity", {"kind": "note", "actor": "ops", "detail": {"x": 1}})
    log = (await cp.a.trigger("council::activity_log", {}))["entries"]
    assert [e["kind"] for e in log] == ["council.members", "proposal.submitted", "proposal.voted", "note"]
    assert log[0]["prev"] == GENESIS and all(e["hash"] == entry_hash(e) for e in log)
    assert await cp.a.trigger("council::verify", {}) == {"valid": True, "entries": 4}
    assert (await cp.b.trigger("council::verify", {})) == {"valid": True, "entries": 0}

    forged = {**log[2], "detail": {**log[2]["detail"], "vote": "reject"}}
    await cp.a.trigger("state::set", {"scope": "council:log", "key": f"{3:010d}", "value": forged})
    broken = await cp.a.trigger("council::verify", {})
    assert (broken["valid"], broken["broken_at"]) == (False, 3)
    assert "changed" in broken["reason"]
    r = await cp.rest("GET", "/api/council/verify/a", "t-a")
    assert r.json()["broken_at"] == 3


@pytest.mark.parametrize(("change", "at", "why"), [
    (lambda log: log[:1] + log[2:], 2, "removed"),
    (lambda log: [log[0], {**log[1], "prev": "f" * 64}, *log[2:]], 2, "prev"),
])
def test_verify_names_the_first_broken_link(change: Any, at: int, why: str) -> None:
    log: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, 5):
        entry: dict[str, Any] = {"seq": seq, "prev": prev, "ts": 1.0, "kind": "k", "actor": None,
                                 "detail": seq}
        entry["hash"] = prev = entry_hash(entry)
        log.append(entry)
    assert verify(log)["valid"] is True
    broken = verify(change(log))
    assert broken["broken_at"] == at and why in broken["reason"]
