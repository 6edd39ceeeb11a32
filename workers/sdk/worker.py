"""The :class:`Worker`: a declarative bundle of functions, trigger bindings and trigger types.

A worker is only a definition; ``connect(workers=[...])`` serves it. Several workers may share one
connection (one process, one socket), in which case their definitions are merged and any id
defined twice is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import DefinitionError
from .function import FunctionDef
from .triggers import TriggerBinding, TriggerTypeDef

__all__ = ["Worker", "unique"]


def unique(kind: str, ids: Iterable[str]) -> None:
    """Raise if an id appears twice.

    Raises:
        DefinitionError: ``more than one {kind} named X``.
    """
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise DefinitionError(f"more than one {kind} named {item}")
        seen.add(item)


class Worker:
    """A named set of functions, trigger bindings and trigger types, served by ``connect()``.

    Args:
        name: the worker's name (reported to the engine, used in logs).
        functions: ``@function``-decorated callables or their :class:`FunctionDef`.
        triggers: bindings to register once connected.
        trigger_types: trigger types this worker provides.
        description: reported to the engine.

    Raises:
        DefinitionError: an empty name, an undecorated function, or an id defined twice.
    """

    __slots__ = ("name", "functions", "triggers", "trigger_types", "description")

    def __init__(
        self,
        name: str,
        *,
        functions: Sequence[FunctionDef | Callable[..., Any]] = (),
        triggers: Sequence[TriggerBinding] = (),
        trigger_types: Sequence[TriggerTypeDef] = (),
        description: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"worker name must be a non-empty string, got {name!r}")
        self.name = name
        self.functions: tuple[FunctionDef, ...] = tuple(FunctionDef.of(f) for f in functions)
        self.triggers: tuple[TriggerBinding, ...] = tuple(triggers)
        self.trigger_types: tuple[TriggerTypeDef, ...] = tuple(trigger_types)
        self.description = description
        unique("function", (f.id for f in self.functions))
        unique("trigger type", (t.id for t in self.trigger_types))
        unique("trigger", (t.id for t in self.triggers if t.id is not None))

    def __repr__(self) -> str:
        return f"<Worker {self.name!r}: {len(self.functions)} functions>"
