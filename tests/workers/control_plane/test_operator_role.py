"""Operator-only functions read the caller's role from what the engine asserted in baggage."""

from __future__ import annotations

import pytest

from workers.control_plane._state import require_operator
from workers.sdk import Context


def context(baggage: str | None) -> Context:
    return Context(function_id="bridge::register", dispatcher=None, baggage=baggage)  # type: ignore[arg-type]


@pytest.mark.parametrize(("baggage", "role"), [
    (None, "system"),
    ("k=v", "system"),
    ("agentos-role=client", "client"),
    ("k=v,agentos-role=worker", "worker"),
])
def test_caller_role_comes_from_the_engine_asserted_baggage(baggage: str | None, role: str) -> None:
    assert context(baggage).role == role


@pytest.mark.parametrize("baggage", ["agentos-role=client", "agentos-role=worker", "agentos-realm=a"])
async def test_only_an_unbound_system_caller_is_an_operator(baggage: str) -> None:
    with pytest.raises(Exception, match="system role"):
        await require_operator(context(baggage), "bridge::register")
    await require_operator(context(None), "bridge::register")
