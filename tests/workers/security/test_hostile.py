"""Hostile input to every function: wrong types, nesting bombs, oversized values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from workers.sdk import InvocationError, connect
from workers.security import SecurityService
from workers.security.audit import AuditLog
from workers.security.errors import InvalidArguments

from .conftest import Stack, running

FUNCTIONS = [f.id for f in SecurityService().definitions()]
NO_REQUIRED_FIELDS = {"security::verify_audit", "security::audit_list", "vault::list",
                      "vault::rotate", "approval::list", "approval::get_policy"}


@pytest.mark.parametrize("payload", [42, "text", [1, 2], True, 1.5])
async def test_every_function_refuses_non_objects(stack: Stack, payload: Any) -> None:
    for function_id in FUNCTIONS:
        try:
            await stack.call(function_id, payload)
        except InvocationError as exc:
            assert exc.code == "invalid_arguments", (function_id, exc)
        else:
            assert function_id == "vault::list", function_id  # takes no arguments at all


async def test_every_function_answers_an_empty_payload(stack: Stack) -> None:
    for function_id in FUNCTIONS:
        if function_id in NO_REQUIRED_FIELDS:
            await stack.call(function_id, {})
        else:
            assert await stack.code_of(function_id, {}) == "invalid_arguments", function_id


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


async def test_deep_nesting_over_the_wire_is_served(stack: Stack) -> None:
    # msgpack stops deeper payloads at the sender (or at the engine, for JSON clients)
    entry = await stack.call("security::audit", {"type": "t", "detail": nested(400)})
    assert entry["seq"] == 1
    assert (await stack.call("security::verify_audit"))["valid"] is True


def test_nesting_bombs_are_refused_without_recursion_errors() -> None:
    with pytest.raises(InvalidArguments):
        AuditLog()._plain(nested(100_000))


async def test_oversized_values_are_refused_cleanly(stack: Stack) -> None:
    big = "x" * 2_000_000
    assert await stack.code_of("approval::request", {
        "agent_id": "a", "run_id": "r", "function_id": "t::x", "arguments": big}) == "VALUE_TOO_LARGE"
    assert await stack.code_of("security::audit", {"type": "t", "detail": big}) == "invalid_arguments"
    assert await stack.code_of("taint::label", {"value_id": "v", "text": "y" * 9_000_000}) == "invalid_arguments"


async def test_a_client_cannot_reach_vault_get_by_any_path(tmp_path: Path) -> None:
    """The engine refuses a client credential before the vault runs: sync, void and queued."""
    async with running(tmp_path, auth=True, client_token="t-acme") as acme:
        await acme.call("vault::set", {"name": "k", "value": "v"})
        with pytest.raises(InvocationError) as err:
            await acme.call("vault::get", {"name": "k"})
        assert err.value.code == "forbidden" and "may only be called by worker callers" in err.value.message
        await acme.client.trigger_void("vault::get", {"name": "k"})
        receipt = await acme.client.enqueue("vault::get", {"name": "k"})
        queue = acme.node.modules["queue"]
        with anyio.fail_after(10):
            await queue.wait_until(lambda: queue.statistics().dead_lettered == 1)
        [dead] = await queue.backend.dlq_list("default")
        assert dead.id == receipt and dead.last_error["code"] == "forbidden"
        # Not even the vault's own refusal ran: nothing was read, and a worker sees it guarded.
        async with connect(acme.node.url, workers=[], name="tools", token="t-worker") as tools:
            info = await tools.trigger("engine::functions::info", {"function_id": "vault::get"})
            assert info["function"]["min_role"] == "worker"
        assert (await acme.call("security::audit_list", {"type": "vault.read"}))["entries"] == []
