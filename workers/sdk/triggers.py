"""Triggers: bindings of a trigger type to a function, and custom trigger types we provide.

A :class:`TriggerBinding` asks the engine to invoke ``function_id`` whenever a trigger of ``type``
fires with ``config`` (an ``http`` route, a ``cron`` expression, a ``subscribe`` topic…). A
:class:`TriggerTypeDef` makes this worker the *provider* of a new trigger type: the engine then
forwards every binding of that type to its :class:`TriggerTypeProvider`, which fires by calling
``trigger()`` on the bound function.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .errors import DefinitionError

__all__ = ["TriggerBinding", "TriggerConfig", "TriggerTypeProvider", "TriggerTypeDef", "Binding"]


@dataclass(frozen=True, slots=True)
class TriggerBinding:
    """Bind trigger ``type`` with ``config`` to ``function_id``.

    ``id`` names the binding on the engine; when None a uuid4 is drawn once per connection and
    kept across reconnects.

    Raises:
        DefinitionError: an empty ``type`` or ``function_id``.
    """

    type: str
    function_id: str
    config: Any
    metadata: dict[str, Any] | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not self.type.strip():
            raise DefinitionError(f"trigger type must be a non-empty string, got {self.type!r}")
        if not isinstance(self.function_id, str) or not self.function_id.strip():
            raise DefinitionError(
                f"function id must be a non-empty string, got {self.function_id!r}"
            )

    def with_id(self) -> TriggerBinding:
        """This binding with an ``id`` (a fresh uuid4 if it had none)."""
        if self.id is not None:
            return self
        return TriggerBinding(
            self.type, self.function_id, self.config, self.metadata, str(uuid.uuid4())
        )


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    """A binding as a trigger-type provider sees it (forwarded by the engine)."""

    id: str
    trigger_type: str
    function_id: str
    config: Any = None
    metadata: dict[str, Any] | None = None
    namespace: str | None = None


@runtime_checkable
class TriggerTypeProvider(Protocol):
    """Implements a custom trigger type.

    Both methods are called from the connection's task group, one task per request; raising
    refuses (or fails to undo) the binding.
    """

    async def register_trigger(self, binding: TriggerConfig) -> None:
        """Start firing ``binding``; raise to refuse it (answered ``trigger_registration_failed``)."""
        ...

    async def unregister_trigger(self, binding: TriggerConfig) -> None:
        """Stop firing ``binding``."""
        ...


@dataclass(frozen=True, slots=True)
class TriggerTypeDef:
    """A trigger type this worker provides.

    Raises:
        DefinitionError: an empty ``id`` or a provider without the two methods.
    """

    id: str
    description: str
    provider: TriggerTypeProvider = field(compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip() or self.id != self.id.strip():
            raise DefinitionError(f"trigger type id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.provider, TriggerTypeProvider):
            raise DefinitionError(
                f"provider of {self.id!r} needs async register_trigger and unregister_trigger"
            )


class Binding:
    """A live binding made with ``Connection.bind``; ``await binding.unregister()`` undoes it."""

    __slots__ = ("definition", "_unbind")

    def __init__(
        self, definition: TriggerBinding, unbind: Callable[[str], Awaitable[None]]
    ) -> None:
        self.definition = definition
        self._unbind = unbind

    @property
    def id(self) -> str:
        assert self.definition.id is not None
        return self.definition.id

    async def unregister(self) -> None:
        """Remove the binding from the engine (and from the replay on reconnect).

        Raises:
            InvalidState: the binding was already unregistered.
        """
        await self._unbind(self.id)

    def __repr__(self) -> str:
        d = self.definition
        return f"<Binding {d.id} {d.type} -> {d.function_id}>"
