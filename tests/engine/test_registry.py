"""Ownership, namespace and parking rules of the registry, with no event loop."""

from __future__ import annotations

import pytest

from engine.errors import InvalidNamespace, RegistrationConflict
from engine.registry import (
    ENGINE,
    FunctionEntry,
    Registry,
    TriggerEntry,
    TriggerState,
    TriggerTypeEntry,
    check_namespace,
    min_role_of,
)


def make(live: set[str]) -> Registry:
    return Registry(is_live=lambda wid: wid in live)


def test_second_live_owner_is_refused_and_first_keeps_it() -> None:
    reg = make({"a", "b"})
    reg.add_function(FunctionEntry("x::f", "default", "a"))
    with pytest.raises(RegistrationConflict) as info:
        reg.add_function(FunctionEntry("x::f", "default", "b"))
    assert info.value.code == "FUNCTION_NAMESPACE_CONFLICT" and info.value.owner_worker_id == "a"
    assert reg.resolve("default", "x::f").owner == "a"  # type: ignore[union-attr]


def test_dead_owner_is_taken_over_and_same_owner_replaces() -> None:
    live = {"a", "b"}
    reg = make(live)
    reg.add_function(FunctionEntry("x::f", "default", "a", description="v1"))
    assert reg.add_function(FunctionEntry("x::f", "default", "a", description="v2")).description == "v1"  # type: ignore[union-attr]
    live.discard("a")
    assert reg.resolve("default", "x::f") is None
    reg.add_function(FunctionEntry("x::f", "default", "b"))
    assert reg.resolve("default", "x::f").owner == "b"  # type: ignore[union-attr]


def test_same_id_in_two_namespaces_is_two_functions() -> None:
    reg = make({"a", "b"})
    reg.add_function(FunctionEntry("o::f", "orders", "a"))
    reg.add_function(FunctionEntry("o::f", "default", "b"))
    assert reg.resolve("orders", "o::f").owner == "a"  # type: ignore[union-attr]
    assert reg.resolve(None, "o::f").owner == "b"  # type: ignore[union-attr]


def test_engine_ids_only_in_default_and_builtins_cannot_be_taken() -> None:
    reg = make({"a"})
    with pytest.raises(InvalidNamespace):
        reg.add_function(FunctionEntry("engine::x", "orders", "a"))
    reg.add_function(FunctionEntry("engine::health::check", "default", ENGINE))
    with pytest.raises(RegistrationConflict):
        reg.add_function(FunctionEntry("engine::health::check", "default", "a"))


@pytest.mark.parametrize("ns", ["", "  ", "\t"])
def test_blank_namespace_is_invalid(ns: str) -> None:
    with pytest.raises(InvalidNamespace):
        check_namespace(ns)
    assert check_namespace(None) == "default"


def test_worker_name_lease() -> None:
    live = {"a", "b"}
    reg = make(live)
    reg.lease_name("default", "api", "a")
    with pytest.raises(RegistrationConflict) as info:
        reg.lease_name("default", "api", "b")
    assert info.value.code == "WORKER_NAMESPACE_CONFLICT"
    reg.lease_name("other", "api", "b")  # another namespace is another name
    live.discard("a")
    reg.lease_name("default", "api", "b")


def test_trigger_parks_until_type_appears_and_parks_again_when_it_leaves() -> None:
    live = {"a", "p"}
    reg = make(live)
    trig = TriggerEntry("t1", "webhook", "x::f", {"k": 1}, owner="a")
    reg.add_trigger(trig)
    assert reg.find_type(trig) is None and trig.state is TriggerState.PARKED
    waiting = reg.add_type(TriggerTypeEntry("webhook", "default", "p"))
    assert waiting == [trig]
    trig.state, trig.provider, trig.type_namespace = TriggerState.ACTIVE, "p", "default"
    dropped = reg.drop_owner("p")
    assert [t.id for t in dropped.orphaned] == ["t1"] and trig.state is TriggerState.PARKED
    assert "t1" in reg.triggers  # the binding survives its provider


def test_trigger_namespace_lookup_order() -> None:
    reg = make({"p", "q"})
    reg.add_type(TriggerTypeEntry("hook", "default", "p"))
    reg.add_type(TriggerTypeEntry("hook", "orders", "q"))
    assert reg.find_type(TriggerEntry("t", "hook", "f", None, "a"), "orders").owner == "q"  # type: ignore[union-attr]
    assert reg.find_type(TriggerEntry("t", "hook", "f", None, "a"), "billing").owner == "p"  # type: ignore[union-attr]
    explicit = TriggerEntry("t", "hook", "f", None, "a", trigger_namespace="orders")
    assert reg.find_type(explicit, None).owner == "q"  # type: ignore[union-attr]


def test_drop_owner_removes_everything_it_owned() -> None:
    reg = make({"a"})
    reg.add_function(FunctionEntry("x::f", "default", "a"))
    reg.add_trigger(TriggerEntry("t", "cron", "x::f", {}, owner="a"))
    reg.add_trigger(TriggerEntry("durable", "cron", "x::f", {}, owner=None))
    reg.lease_name("default", "w", "a")
    dropped = reg.drop_owner("a")
    assert [f.function_id for f in dropped.functions] == ["x::f"]
    assert [t.id for t in dropped.triggers] == ["t"]
    assert list(reg.triggers) == ["durable"]


@pytest.mark.parametrize(("metadata", "expected"), [
    (None, "client"), ({}, "client"), ({"k": 1}, "client"), ({"min_role": None}, "client"),
    ({"min_role": "client"}, "client"), ({"min_role": "worker"}, "worker"), ({"min_role": "system"}, "system"),
    ({"min_role": "admin"}, None), ({"min_role": "WORKER"}, None), ({"min_role": 1}, None), ({"min_role": ["worker"]}, None),
])
def test_min_role_of_registration_metadata(metadata: dict[str, object] | None, expected: str | None) -> None:
    assert min_role_of(metadata) == expected
