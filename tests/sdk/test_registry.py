from __future__ import annotations

from typing import Any

import pytest

from engine.protocol import RegisterFunction, RegisterTrigger, RegisterTriggerType
from workers.sdk import (
    DefinitionError,
    FunctionDef,
    TriggerBinding,
    TriggerConfig,
    TriggerTypeDef,
    Worker,
    function,
)
from workers.sdk.registry import Registry


@function("a::f", description="F", metadata={"k": 1})
async def f(data: Any) -> Any: ...


@function("b::g")
async def g(data: Any) -> Any: ...


@function("b::late")
async def late(data: Any) -> Any: ...


class Provider:
    async def register_trigger(self, binding: TriggerConfig) -> None: ...

    async def unregister_trigger(self, binding: TriggerConfig) -> None: ...


def make() -> Registry:
    a = Worker(
        "a", functions=[f], triggers=[TriggerBinding("cron", "a::f", {"expression": "* * * * *"})]
    )
    b = Worker("b", functions=[g], trigger_types=[TriggerTypeDef("tick", "ticks", Provider())])
    return Registry([a, b], namespace="ns")


def test_workers_merge_and_frames_replay_in_order() -> None:
    frames = make().frames()
    assert [type(fr) for fr in frames] == [
        RegisterTriggerType,
        RegisterFunction,
        RegisterFunction,
        RegisterTrigger,
    ]
    ttype, rf, _, rt = frames
    assert isinstance(ttype, RegisterTriggerType) and (ttype.id, ttype.namespace) == ("tick", "ns")
    assert isinstance(rf, RegisterFunction) and (rf.id, rf.description, rf.metadata) == (
        "a::f",
        "F",
        {"k": 1},
    )
    assert isinstance(rt, RegisterTrigger) and rt.function_id == "a::f" and rt.namespace == "ns"


def test_min_role_travels_in_the_function_frame() -> None:
    @function("c::guarded", min_role="worker")
    async def guarded(data: Any) -> Any: ...

    frame = Registry([Worker("c", functions=[guarded])]).frames()[0]
    assert isinstance(frame, RegisterFunction) and frame.metadata == {"min_role": "worker"}


def test_binding_ids_are_stable_across_replays() -> None:
    registry = make()
    first = [fr.id for fr in registry.frames() if isinstance(fr, RegisterTrigger)]
    assert first == [fr.id for fr in registry.frames() if isinstance(fr, RegisterTrigger)]


def test_duplicates_across_workers_raise() -> None:
    with pytest.raises(ValueError, match="more than one function named a::f"):
        Registry([Worker("a", functions=[f]), Worker("c", functions=[f])])


def test_run_time_changes_show_in_the_replay() -> None:
    registry = make()
    frame = registry.add_function(FunctionDef.of(late))
    assert frame.id == "b::late"
    with pytest.raises(DefinitionError, match="more than one function named b::late"):
        registry.add_function(FunctionDef.of(late))
    binding, bframe = registry.add_binding(TriggerBinding("http", "b::late", {"api_path": "/x"}))
    assert binding.id == bframe.id
    registry.remove_function("a::f")
    with pytest.raises(DefinitionError, match="no function named a::f"):
        registry.remove_function("a::f")
    assert registry.remove_binding("missing") is None
    ids = [fr.id for fr in registry.frames()]
    assert "a::f" not in ids and "b::late" in ids and binding.id in ids
