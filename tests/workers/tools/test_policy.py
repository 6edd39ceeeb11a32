"""Capability checks: the security worker decides when registered, else the agent's record."""

from __future__ import annotations

from typing import Any

import pytest

from workers.sdk import InvocationError
from workers.sdk.testing import FunctionEnvironment
from workers.tools import ToolsConfig
from workers.tools.errors import Forbidden
from workers.tools.identity import Caller
from workers.tools.policy import CHECK_CAPABILITY, Policy, glob_within, narrow

pytestmark = pytest.mark.anyio

ALICE = Caller("alice", "acme")


def policy(functions: dict[str, Any], config: ToolsConfig | None = None) -> Policy:
    env = FunctionEnvironment(functions, realm="acme", metadata={"agent_id": "alice"})
    return Policy(config or ToolsConfig(), env.context("tool::x"), ALICE)


def record(**caps: Any) -> Any:
    return lambda data: {"agent_id": data["key"], "capabilities": caps}


@pytest.mark.parametrize(("child", "parent", "inside"), [
    ("tool::file_read", "tool::*", True), ("tool::*", "tool::*", True), ("tool::*", "*", True),
    ("*", "tool::*", False), ("tool::file_*", "tool::*", True), ("tool::?", "tool::*", True),
    ("a*", "a?", False), ("tool::x", "tool::y", False), ("tool::[ab]", "tool::[abc]", False),
    ("example.com", "*.com", True), ("*.example.com", "*.com", False),
])
def test_glob_within_is_sound(child: str, parent: str, inside: bool) -> None:
    assert glob_within(child, parent) is inside


def test_narrow_keeps_only_covered_globs() -> None:
    assert narrow(["tool::file_*", "shell::*", "*"], ["tool::*"]) == ["tool::file_*"]
    assert narrow(["a"], []) == []


async def test_the_security_worker_decides() -> None:
    seen: list[Any] = []

    def security(data: Any) -> Any:
        seen.append(data)
        return {"allowed": data["resource"] == "ok.example", "reason": "not that host"}

    p = policy({CHECK_CAPABILITY: security, "state::get": record(network_hosts=["*"])})
    assert (await p.allowed("network", "ok.example"))[0] is True
    with pytest.raises(Forbidden, match="not that host"):
        await p.require("network", "bad.example")
    assert seen[0] == {"agent_id": "alice", "capability": "network", "resource": "ok.example"}


@pytest.mark.parametrize("answer", [None, {"allowed": 1}, "yes"])
async def test_malformed_security_answers_deny(answer: Any) -> None:
    p = policy({CHECK_CAPABILITY: lambda d: answer, "state::get": record(network_hosts=["*"])})
    assert (await p.allowed("network", "x.example"))[0] is False


async def test_a_failing_security_worker_denies() -> None:
    def broken(data: Any) -> Any:
        raise InvocationError("timeout", "slow")

    p = policy({CHECK_CAPABILITY: broken, "state::get": record(network_hosts=["*"])})
    assert (await p.allowed("network", "x.example"))[0] is False


async def test_without_security_the_record_decides() -> None:
    p = policy({"state::get": record(tools=["tool::file_*"], network_hosts=["*.example.org"],
                                     memory_scopes=["team"])})
    assert (await p.allowed("tool", "tool::file_read"))[0]
    assert not (await p.allowed("tool", "tool::shell_exec"))[0]
    assert (await p.allowed("network", "API.Example.org"))[0]  # hosts are matched lower-cased
    assert not (await p.allowed("network", "example.com"))[0]
    assert (await p.allowed("memory", "team"))[0]
    assert not (await p.allowed("memory", "other"))[0]


async def test_without_security_or_record_the_config_decides() -> None:
    p = policy({}, ToolsConfig.model_validate({"net": {"default_hosts": ["docs.example"]}}))
    assert (await p.allowed("tool", "tool::anything"))[0]  # agent-core's check stands
    assert (await p.allowed("network", "docs.example"))[0]
    assert not (await p.allowed("network", "other.example"))[0]
    assert not (await p.allowed("memory", "team"))[0]


async def test_an_unreadable_record_denies() -> None:
    def broken(data: Any) -> Any:
        raise InvocationError("invocation_failed", "redis down")

    with pytest.raises(Forbidden, match="cannot read"):
        await policy({"state::get": broken}).allowed("network", "x.example")


async def test_the_record_is_read_once_per_invocation() -> None:
    reads: list[Any] = []

    def state_get(data: Any) -> Any:
        reads.append(data)
        return {"capabilities": {"network_hosts": ["*"]}}

    p = policy({"state::get": state_get})
    for host in ("a.example", "b.example"):
        await p.allowed("network", host)
    assert reads == [{"scope": "agents", "key": "alice"}]
