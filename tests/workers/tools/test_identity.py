"""Who calls a tool: the metadata's agent, never the arguments."""

from __future__ import annotations

from typing import Any

import pytest

from workers.sdk.testing import FunctionEnvironment
from workers.tools import ToolsConfig
from workers.tools.errors import InvalidArguments, NoIdentity
from workers.tools.identity import Caller, Request, caller_of, parse


def ctx(metadata: dict[str, Any] | None = None, realm: str | None = "acme") -> Any:
    return FunctionEnvironment(realm=realm, metadata=metadata).context("tool::x")


def test_the_agent_comes_from_the_metadata() -> None:
    assert caller_of(ctx({"agent_id": "alice", "agent_depth": 2}), ToolsConfig()) == Caller("alice", "acme", 2)
    assert caller_of(ctx({"agent_id": "bob"}, realm=None), ToolsConfig()) == Caller("bob", "default", 0)


def test_no_agent_is_refused_unless_a_default_is_configured() -> None:
    with pytest.raises(NoIdentity):
        caller_of(ctx({}), ToolsConfig())
    assert caller_of(ctx(), ToolsConfig(default_agent_id="solo")).agent_id == "solo"


@pytest.mark.parametrize("metadata", [
    {"agent_id": "../bob"}, {"agent_id": ".."}, {"agent_id": "a/b"}, {"agent_id": ""},
    {"agent_id": 7}, {"agent_id": "alice", "agent_depth": -1}, {"agent_id": "alice", "agent_depth": "1"},
    {"agent_id": "alice", "agent_depth": True},
])
def test_malformed_identities_are_refused(metadata: dict[str, Any]) -> None:
    with pytest.raises(InvalidArguments):
        caller_of(ctx(metadata), ToolsConfig())


def test_the_runs_taint_comes_from_the_metadata() -> None:
    caller = caller_of(ctx({"agent_id": "alice", "taint": ["untrusted", "pii", "untrusted"]}),
                       ToolsConfig())
    assert caller.taint == {"untrusted", "pii"}
    assert caller.metadata() == {"agent_id": "alice", "agent_depth": 0, "taint": ["pii", "untrusted"]}
    assert caller_of(ctx({"agent_id": "alice", "taint": None}), ToolsConfig()).taint == frozenset()
    # a label the policy does not know is kept (it blocks every sink), not dropped
    assert caller_of(ctx({"agent_id": "a", "taint": ["radioactive"]}), ToolsConfig()).taint == {
        "radioactive"}


@pytest.mark.parametrize("taint", ["untrusted", ["Untrusted"], [1], [""], ["a b"], ["x"] * 17,
                                   {"untrusted": True}, [["untrusted"]]])
def test_a_malformed_taint_is_refused(taint: Any) -> None:
    with pytest.raises(InvalidArguments, match="metadata taint"):
        caller_of(ctx({"agent_id": "alice", "taint": taint}), ToolsConfig())


def test_a_realm_that_cannot_name_a_directory_is_refused() -> None:
    with pytest.raises(InvalidArguments):
        caller_of(ctx({"agent_id": "alice"}, realm="../etc"), ToolsConfig())


class Example(Request):
    path: str


def test_requests_forbid_smuggled_fields_and_drop_the_engine_stamp() -> None:
    assert parse(Example, {"path": "a", "_caller_worker_id": "w1"}).path == "a"
    with pytest.raises(InvalidArguments, match="_agent_id"):
        parse(Example, {"path": "a", "_agent_id": "bob"})
    with pytest.raises(InvalidArguments, match="path"):
        parse(Example, None)
