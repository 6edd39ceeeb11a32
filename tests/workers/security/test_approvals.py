"""Human approvals through the engine: requests, decisions, waiting, policy, and durable resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from workers.sdk import Worker, function
from workers.security import SecurityConfig

from .conftest import FakeClock, Stack, running


def resumer(received: list[Any], deliveries: list[anyio.Event]) -> Worker:
    """Serves ``test::resume_run``; the n-th delivery sets ``deliveries[n]``."""

    @function("test::resume_run")
    async def resume_run(data: Any) -> None:
        received.append(data)
        deliveries[len(received) - 1].set()

    return Worker("resumer", functions=[resume_run])


REQUEST = {"agent_id": "a1", "run_id": "run-7", "function_id": "tools::shell",
           "arguments": {"cmd": "ls"}, "reason": "shell needs a human"}


async def test_request_list_get_decide(stack: Stack) -> None:
    published: list[Any] = []
    seen = anyio.Event()

    @function("test::on_approval")
    async def on_approval(data: Any) -> None:
        published.append(data)
        if len(published) == 2:
            seen.set()

    await stack.client.register_function(on_approval)
    await stack.client.bind("subscribe", "test::on_approval", {"topic": "approval.requested"})
    await stack.client.bind("subscribe", "test::on_approval", {"topic": "approval.decided"})

    ticket = await stack.call("approval::request", REQUEST)
    assert ticket["status"] == "pending" and ticket["approval_id"].startswith("apr_")
    record = await stack.call("approval::get", {"approval_id": ticket["approval_id"]})
    assert {k: record[k] for k in REQUEST} == REQUEST and record["status"] == "pending"
    listed = await stack.call("approval::list", {"status": "pending"})
    assert [r["approval_id"] for r in listed["approvals"]] == [ticket["approval_id"]]

    decided = await stack.call("approval::decide", {"approval_id": ticket["approval_id"],
                                                    "decision": "approve", "by": "alice", "note": "ok"})
    assert (decided["status"], decided["decided_by"], decided["note"]) == ("approved", "alice", "ok")
    assert decided["resume_state"] is None
    assert await stack.code_of("approval::decide", {"approval_id": ticket["approval_id"],
                                                    "decision": "reject", "by": "bob"}) == "already_decided"
    assert (await stack.call("approval::list", {"status": "pending"}))["approvals"] == []
    assert len((await stack.call("approval::list", {"status": "approved"}))["approvals"]) == 1
    with anyio.fail_after(10):
        await seen.wait()
    assert published[0] == {k: REQUEST[k] for k in ("agent_id", "run_id", "function_id", "reason")} | {
        "approval_id": ticket["approval_id"]}  # no arguments on the bus
    assert published[1]["decision"] == "approve" and published[1]["by"] == "alice"
    types = [e["type"] for e in (await stack.call("security::audit_list", {}))["entries"]]
    assert types == ["approval.requested", "approval.decided"]


async def test_wait_returns_when_decided_and_is_bounded(stack: Stack) -> None:
    ticket = await stack.call("approval::request", REQUEST)
    ref = {"approval_id": ticket["approval_id"]}
    timed_out = await stack.call("approval::wait", {**ref, "timeout_s": 0})
    assert timed_out["timed_out"] is True and timed_out["status"] == "pending"
    answers: list[Any] = []

    async def waiter() -> None:
        answers.append(await stack.call("approval::wait", {**ref, "timeout_s": 60}, timeout=70))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        await stack.call("approval::decide", {**ref, "decision": "reject", "by": "carol"})
    assert [(a["status"], a["timed_out"]) for a in answers] == [("rejected", False)] * 2
    again = await stack.call("approval::wait", {**ref, "timeout_s": 60})
    assert again["status"] == "rejected" and again["timed_out"] is False


async def test_expired_requests_cannot_be_decided(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running(tmp_path, clock=clock) as stack:
        ticket = await stack.call("approval::request", {**REQUEST, "expires_in_s": 60})
        clock.advance(61)
        assert (await stack.call("approval::get", ticket))["status"] == "expired"
        assert await stack.code_of("approval::decide", {**ticket, "decision": "approve",
                                                        "by": "x"}) == "already_decided"
        assert len((await stack.call("approval::list", {"status": "expired"}))["approvals"]) == 1


async def test_too_many_pending(tmp_path: Path) -> None:
    config = SecurityConfig(data_dir=tmp_path, max_pending_approvals=2)
    async with running(tmp_path, config=config) as stack:
        await stack.call("approval::request", REQUEST)
        await stack.call("approval::request", REQUEST)
        assert await stack.code_of("approval::request", REQUEST) == "too_many_pending"
        await stack.call("approval::request", {**REQUEST, "agent_id": "a2"})


async def test_policy_and_required(stack: Stack) -> None:
    assert await stack.call("approval::required", {"agent_id": "a1", "function_id": "tools::shell"}) is False
    await stack.call("approval::set_policy", {"tools": ["tools::shell", "email::*"]})
    await stack.call("approval::set_policy", {"agent_id": "a1", "tools": ["http::post"]})
    assert await stack.call("approval::get_policy", {}) == {"agent_id": None,
                                                            "tools": ["tools::shell", "email::*"]}
    for agent, fid, needed in [("a1", "tools::shell", True), ("a1", "email::send", True),
                               ("a1", "http::post", True), ("a2", "http::post", False),
                               ("a2", "tools::read", False)]:
        assert await stack.call("approval::required", {"agent_id": agent, "function_id": fid}) is needed


async def test_a_paused_run_resumes_after_an_engine_restart(tmp_path: Path) -> None:
    received: list[Any] = []
    delivered = [anyio.Event()]
    db = tmp_path / "durable.db"
    async with running(tmp_path, db=db) as stack:
        ticket = await stack.call("approval::request", {
            **REQUEST, "resume": {"function_id": "test::resume_run",
                                  "data": {"run_id": "run-7", "step": 3}}})
    # everything is gone: engine, security worker, client. A new node opens the same SQLite file.
    async with running(tmp_path, db=db, extra=[resumer(received, delivered)]) as stack:
        assert (await stack.call("approval::get", ticket))["status"] == "pending"
        decided = await stack.call("approval::decide", {**ticket, "decision": "approve", "by": "dave"})
        assert decided["resume_state"] == "enqueued" and decided["resume_receipt"]
        with anyio.fail_after(20):
            await delivered[0].wait()
        [payload] = received
        assert payload["run_id"] == "run-7" and payload["step"] == 3
        assert payload["approval"] == {
            "approval_id": ticket["approval_id"], "status": "approved", "decision": "approve",
            "decided_by": "dave", "note": None, "function_id": "tools::shell",
            "arguments": {"cmd": "ls"}}
        assert (await stack.call("approval::get", ticket))["resume_state"] == "enqueued"


async def test_resume_can_be_sent_again(tmp_path: Path) -> None:
    received: list[Any] = []
    delivered = [anyio.Event(), anyio.Event()]
    async with running(tmp_path, extra=[resumer(received, delivered)]) as stack:
        ticket = await stack.call("approval::request", {
            **REQUEST, "resume": {"function_id": "test::resume_run", "data": "opaque"}})
        await stack.call("approval::decide", {**ticket, "decision": "reject", "by": "eve"})
        with anyio.fail_after(20):
            await delivered[0].wait()
        again = await stack.call("approval::resume", ticket)
        assert again["resume_state"] == "enqueued"
        with anyio.fail_after(20):
            await delivered[1].wait()
        assert [r["data"] for r in received] == ["opaque", "opaque"]
        assert {r["approval"]["decision"] for r in received} == {"reject"}


@pytest.mark.parametrize(("function_id", "payload", "code"), [
    ("approval::request", {**REQUEST, "function_id": "not an id"}, "invalid_arguments"),
    ("approval::request", {k: v for k, v in REQUEST.items() if k != "run_id"}, "invalid_arguments"),
    ("approval::request", {**REQUEST, "resume": {"data": 1}}, "invalid_arguments"),
    ("approval::request", {**REQUEST, "expires_in_s": -1}, "invalid_arguments"),
    ("approval::decide", {"approval_id": "apr_x", "decision": "maybe", "by": "x"}, "invalid_arguments"),
    ("approval::decide", {"approval_id": "apr_x", "decision": "approve"}, "invalid_arguments"),
    ("approval::decide", {"approval_id": "apr_nope", "decision": "approve", "by": "x"}, "not_found"),
    ("approval::get", {"approval_id": "apr_nope"}, "not_found"),
    ("approval::wait", {"approval_id": "apr_nope", "timeout_s": 1}, "not_found"),
    ("approval::wait", {"approval_id": "apr_x", "timeout_s": -1}, "invalid_arguments"),
    ("approval::list", {"status": "lost"}, "invalid_arguments"),
    ("approval::set_policy", {"tools": "tools::*"}, "invalid_arguments"),
    ("approval::required", {"agent_id": "a1"}, "invalid_arguments"),
    ("approval::resume", {"approval_id": "apr_nope"}, "not_found"),
])
async def test_malformed_and_unknown(stack: Stack, function_id: str, payload: Any, code: str) -> None:
    assert await stack.code_of(function_id, payload) == code
