"""scopes: scope names, capability globs (both spellings), partitions. Pure."""

from __future__ import annotations

import pytest

from workers.memory.errors import InvalidArguments, ScopeForbidden
from workers.memory.scopes import (
    AgentAccess,
    allowed,
    canonical_scope,
    default_scopes,
    kb_partition,
)


@pytest.mark.parametrize(("scope", "expected"), [
    ("self", "self"), ("shared:team", "shared:team"), ("shared.team", "shared:team"),
    ("shared:a.b-c_d", "shared:a.b-c_d"),
])
def test_canonical_scope(scope: str, expected: str) -> None:
    assert canonical_scope(scope) == expected


@pytest.mark.parametrize("scope", ["", "me", "shared:", "shared: x", "agent:bob", "shared:" + "x" * 65])
def test_bad_scopes(scope: str) -> None:
    with pytest.raises(InvalidArguments):
        canonical_scope(scope)


@pytest.mark.parametrize(("globs", "scope", "expected"), [
    ([], "self", False),
    (["self"], "self", True),
    (["self.*"], "self", True),
    (["self:*"], "self", True),
    (["shared.code"], "shared:code", True),
    (["shared.code"], "shared:ops", False),
    (["shared:*"], "shared:ops", True),
    (["shared.*"], "self", False),
    (["*"], "shared:anything", True),
    (["self.*", "shared.research"], "shared:research", True),
])
def test_allowed(globs: list[str], scope: str, expected: bool) -> None:
    assert allowed(scope, globs) is expected


@pytest.mark.parametrize(("globs", "expected"), [
    ([], []),
    (["self.*"], ["self"]),
    (["self.*", "shared.code", "shared:*"], ["self", "shared:code"]),
    (["shared:ops"], ["shared:ops"]),
])
def test_default_scopes(globs: list[str], expected: list[str]) -> None:
    assert default_scopes(globs) == expected


def test_agent_access() -> None:
    access = AgentAccess("ada", ("self.*", "shared.team"))
    assert access.check("self") == "agent:ada"
    assert access.check("shared.team") == "shared:team"
    with pytest.raises(ScopeForbidden):
        access.check("shared:other")
    with pytest.raises(ScopeForbidden):
        AgentAccess("bob", ()).defaults()


def test_kb_partition() -> None:
    assert kb_partition("docs") == "kb:docs"
    with pytest.raises(InvalidArguments):
        kb_partition("bad name")
