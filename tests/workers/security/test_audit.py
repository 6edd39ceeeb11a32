"""The audit log through the engine: atomic appends under concurrency, tampering pinpointed."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

from workers.sdk import Context, Worker, connect, function
from workers.security.audit import AuditLog, page_scope, slot_key

from .conftest import Stack, running


async def all_entries(stack: Stack) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await stack.call("security::audit_list", {"limit": 1000, "after_seq": after})
        out += page["entries"]
        if not page["entries"]:
            return out
        after = page["next_after_seq"]


async def test_append_list_verify(stack: Stack) -> None:
    first = await stack.call("security::audit", {"type": "tool.call", "agent_id": "a1",
                                                 "detail": {"tool": "math::add", "ok": True}})
    assert first["seq"] == 1 and len(first["hash"]) == 64 and first["id"] == first["hash"][:24]
    second = await stack.call("security::audit", {"type": "agent.action", "detail": "free text"})
    assert second["seq"] == 2
    entries = await all_entries(stack)
    assert [e["seq"] for e in entries] == [1, 2]
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert entries[0]["detail"] == {"tool": "math::add", "ok": True}
    assert entries[0]["ts"] == stack.clock.now and entries[0]["realm"] is None
    verdict = await stack.call("security::verify_audit")
    assert verdict == {"valid": True, "entries": 2, "head": {"seq": 2, "hash": second["hash"]}}
    only = await stack.call("security::audit_list", {"agent_id": "a1"})
    assert [e["seq"] for e in only["entries"]] == [1]
    typed = await stack.call("security::audit_list", {"type": "agent.action", "limit": 5})
    assert [e["seq"] for e in typed["entries"]] == [2] and typed["next_after_seq"] == 2


async def test_a_thousand_concurrent_appends_from_several_writers(tmp_path: Path) -> None:
    async with running(tmp_path) as stack, AsyncExitStack() as connections:
        clients = [await connections.enter_async_context(connect(stack.node.url, workers=[],
                                                                 name=f"writer-{i}"))
                   for i in range(4)]
        # A second writer with its own cache and lock, as another security process would be:
        # it races the worker for the same slots, so only compare-and-set keeps the chain whole.
        rival = AuditLog(clock=stack.clock)
        rival_conn = await connections.enter_async_context(connect(stack.node.url, workers=[],
                                                                   name="rival"))
        rival_ctx = Context(function_id="test::rival", dispatcher=rival_conn)
        answers: list[dict[str, Any]] = []

        async def through_worker(client: Any, n: int) -> None:
            answers.append(await client.trigger("security::audit", {
                "type": "load", "agent_id": f"agent-{n % 7}", "detail": {"n": n}}, timeout=60))

        async def directly(n: int) -> None:
            answers.append(await rival.append(rival_ctx, "load", "rival", {"n": n}))

        async with anyio.create_task_group() as tg:
            for n in range(800):
                tg.start_soon(through_worker, clients[n % 4], n)
            for n in range(200):
                tg.start_soon(directly, n)

        assert sorted(a["seq"] for a in answers) == list(range(1, 1001))
        assert len({a["hash"] for a in answers}) == 1000
        verdict = await stack.call("security::verify_audit", timeout=60)
        assert verdict["valid"] is True and verdict["entries"] == 1000
        assert verdict["head"]["seq"] == 1000
        entries = await all_entries(stack)
        assert [e["seq"] for e in entries] == list(range(1, 1001))  # contiguous, no duplicates
        for before, after in zip(entries, entries[1:], strict=False):
            assert after["prev_hash"] == before["hash"]  # one chain: no fork


async def _fill(stack: Stack, n: int) -> None:
    for i in range(n):
        await stack.call("security::audit", {"type": "step", "detail": {"i": i}})


async def _slot(stack: Stack, seq: int) -> Any:
    return await stack.call("state::get", {"scope": page_scope(seq), "key": slot_key(seq)})


async def test_an_edited_entry_is_pinpointed(stack: Stack) -> None:
    await _fill(stack, 20)
    original = await _slot(stack, 7)
    await stack.call("state::set", {"scope": page_scope(7), "key": slot_key(7),
                                    "value": {**original, "detail": {"i": 999}}})
    verdict = await stack.call("security::verify_audit")
    assert verdict["valid"] is False and verdict["first_broken_seq"] == 7
    assert verdict["reason"].startswith("hash_mismatch") and verdict["entries"] == 6
    assert (await stack.call("security::verify_audit", {"from_seq": 8}))["valid"] is True
    assert (await stack.call("security::verify_audit", {"to_seq": 6}))["valid"] is True
    assert (await stack.call("security::verify_audit", {"from_seq": 8, "to_seq": 20}))["entries"] == 13


async def test_deleted_moved_and_truncated_entries_are_pinpointed(stack: Stack) -> None:
    await _fill(stack, 12)
    entry5, entry6 = await _slot(stack, 5), await _slot(stack, 6)
    await stack.call("state::set", {"scope": page_scope(5), "key": slot_key(5), "value": entry6})
    await stack.call("state::set", {"scope": page_scope(6), "key": slot_key(6), "value": entry5})
    verdict = await stack.call("security::verify_audit")
    assert (verdict["first_broken_seq"], verdict["reason"].split(":")[0]) == (5, "misplaced")
    await stack.call("state::set", {"scope": page_scope(5), "key": slot_key(5), "value": entry5})
    await stack.call("state::set", {"scope": page_scope(6), "key": slot_key(6), "value": entry6})
    assert (await stack.call("security::verify_audit"))["valid"] is True

    await stack.call("state::delete", {"scope": page_scope(9), "key": slot_key(9)})
    verdict = await stack.call("security::verify_audit")
    assert (verdict["first_broken_seq"], verdict["reason"].split(":")[0]) == (9, "missing")
    assert (await stack.call("security::verify_audit", {"from_seq": 10}))["first_broken_seq"] == 9


async def test_a_truncated_tail_is_pinpointed(stack: Stack) -> None:
    await _fill(stack, 5)
    await stack.call("state::delete", {"scope": page_scope(5), "key": slot_key(5)})
    verdict = await stack.call("security::verify_audit")
    assert (verdict["valid"], verdict["first_broken_seq"]) == (False, 5)
    assert verdict["reason"].startswith("missing")


async def test_appends_continue_the_chain_after_a_restart(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        await _fill(stack, 3)
    async with running(tmp_path) as stack:  # a fresh worker: no cached head, same SQLite file
        assert (await stack.call("security::audit", {"type": "after"}))["seq"] == 4
        assert (await stack.call("security::verify_audit"))["entries"] == 4


async def test_realms_have_separate_chains(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, client_token="t-acme") as acme:
        assert (await acme.call("security::audit", {"type": "x"}))["seq"] == 1
        assert (await acme.call("security::audit", {"type": "y"}))["seq"] == 2
        entries = await all_entries(acme)
        assert {e["realm"] for e in entries} == {"acme"}
        async with connect(acme.node.url, workers=[], name="beta", token="t-beta") as beta:
            assert (await beta.trigger("security::audit", {"type": "z"}))["seq"] == 1
            listed = await beta.trigger("security::audit_list", {})
            assert [e["type"] for e in listed["entries"]] == ["z"]


async def test_published_audit_events_are_appended(tmp_path: Path) -> None:
    appended = anyio.Event()

    @function("test::on_audit_write")
    async def on_write(data: Any) -> None:
        if data.get("event_type") == "state:created":
            appended.set()

    async with running(tmp_path, extra=[Worker("watcher", functions=[on_write])]) as stack:
        await stack.client.bind("state", "test::on_audit_write", {"scope": page_scope(1)})
        await stack.call("publish", {"topic": "audit", "data": {
            "type": "hook.fired", "agent_id": "a9", "detail": {"hook": "before_tool"}}})
        with anyio.fail_after(10):
            await appended.wait()
        entries = await all_entries(stack)
        assert [(e["type"], e["agent_id"], e["detail"]) for e in entries] == [
            ("hook.fired", "a9", {"hook": "before_tool"})]


async def test_bad_audit_payloads(stack: Stack) -> None:
    for payload in (None, {}, {"type": ""}, {"type": 5}, {"type": "x" * 200},
                    {"type": "t", "agent_id": ""}, {"type": "t", "detail": "x" * 40_000},
                    {"type": "t", "detail": float("nan")}):
        assert await stack.code_of("security::audit", payload) == "invalid_arguments", payload
    for payload in ({"from_seq": 0}, {"to_seq": "x"}, {"limit": 0}):
        code = await stack.code_of("security::verify_audit" if "limit" not in payload
                                   else "security::audit_list", payload)
        assert code == "invalid_arguments"
    assert (await stack.call("security::verify_audit")) == {
        "valid": True, "entries": 0, "head": {"seq": 0, "hash": "0" * 64}}
