from __future__ import annotations

from typing import Any

import pytest

from workers.sdk import (
    DefinitionError,
    FunctionDef,
    TriggerBinding,
    TriggerConfig,
    TriggerTypeDef,
    Worker,
    function,
)


@function("svc::one")
async def one(data: Any) -> Any:
    return data


@function("svc::two")
async def two(data: Any) -> Any:
    return data


class Provider:
    async def register_trigger(self, binding: TriggerConfig) -> None: ...

    async def unregister_trigger(self, binding: TriggerConfig) -> None: ...


def test_takes_decorated_callables_or_definitions() -> None:
    worker = Worker("svc", functions=[one, FunctionDef.of(two)], description="demo")
    assert [f.id for f in worker.functions] == ["svc::one", "svc::two"]
    assert worker.description == "demo"


def test_duplicate_functions_raise() -> None:
    with pytest.raises(ValueError, match="more than one function named svc::one"):
        Worker("svc", functions=[one, two, one])


def test_duplicate_trigger_types_raise() -> None:
    ttype = TriggerTypeDef("tick", "ticks", Provider())
    with pytest.raises(DefinitionError, match="more than one trigger type named tick"):
        Worker("svc", trigger_types=[ttype, ttype])


def test_duplicate_binding_ids_raise() -> None:
    binding = TriggerBinding("cron", "svc::one", {"expression": "* * * * *"}, id="b1")
    with pytest.raises(DefinitionError, match="more than one trigger named b1"):
        Worker("svc", triggers=[binding, binding])


def test_undecorated_functions_raise() -> None:
    async def bare(data: Any) -> None: ...

    with pytest.raises(DefinitionError, match="not decorated"):
        Worker("svc", functions=[bare])


@pytest.mark.parametrize("name", ["", "  ", None])
def test_names_must_be_given(name: Any) -> None:
    with pytest.raises(DefinitionError):
        Worker(name)


def test_binding_and_type_validation() -> None:
    with pytest.raises(DefinitionError):
        TriggerBinding("", "svc::one", {})
    with pytest.raises(DefinitionError):
        TriggerBinding("cron", "", {})
    with pytest.raises(DefinitionError, match="register_trigger"):
        TriggerTypeDef("tick", "ticks", object())  # type: ignore[arg-type]
    with pytest.raises(DefinitionError):
        TriggerTypeDef(" tick", "ticks", Provider())


def test_binding_ids_are_drawn_once() -> None:
    binding = TriggerBinding("cron", "svc::one", {})
    assert binding.id is None
    named = binding.with_id()
    assert named.id is not None and named.with_id() is named
