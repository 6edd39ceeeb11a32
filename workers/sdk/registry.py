"""What one connection has registered with the engine, and the frames that replay it.

Pure bookkeeping: no I/O. The connection mutates the registry as the user registers and
unregisters things at run time, and on every (re)connect sends :meth:`Registry.frames`, so the
engine always ends up with exactly the current set, whatever happened while we were away.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.protocol import RegisterFunction, RegisterTrigger, RegisterTriggerType

from .errors import DefinitionError
from .function import FunctionDef
from .triggers import TriggerBinding, TriggerTypeDef
from .worker import Worker, unique

__all__ = ["Registry"]

RegistrationFrame = RegisterTriggerType | RegisterFunction | RegisterTrigger


class Registry:
    """The current functions, trigger types and bindings of one connection.

    Args:
        workers: merged in order; an id defined by two of them raises.
        namespace: the connection's namespace, stamped on trigger and trigger-type frames.

    Raises:
        DefinitionError: an id defined twice across ``workers``.
    """

    def __init__(self, workers: Sequence[Worker], namespace: str | None = None) -> None:
        self.namespace = namespace
        functions = [f for w in workers for f in w.functions]
        types = [t for w in workers for t in w.trigger_types]
        bindings = [b.with_id() for w in workers for b in w.triggers]
        unique("function", (f.id for f in functions))
        unique("trigger type", (t.id for t in types))
        unique("trigger", (b.id for b in bindings if b.id is not None))
        self.functions: dict[str, FunctionDef] = {f.id: f for f in functions}
        self.trigger_types: dict[str, TriggerTypeDef] = {t.id: t for t in types}
        self.bindings: dict[str, TriggerBinding] = {b.id: b for b in bindings if b.id is not None}

    def add_function(self, fdef: FunctionDef) -> RegisterFunction:
        """Record a function; returns the frame that registers it.

        Raises:
            DefinitionError: a function with that id is already registered.
        """
        if fdef.id in self.functions:
            raise DefinitionError(f"more than one function named {fdef.id}")
        self.functions[fdef.id] = fdef
        return self.function_frame(fdef)

    def remove_function(self, function_id: str) -> None:
        """Forget a function.

        Raises:
            DefinitionError: no function with that id is registered.
        """
        if self.functions.pop(function_id, None) is None:
            raise DefinitionError(f"no function named {function_id}")

    def add_binding(self, binding: TriggerBinding) -> tuple[TriggerBinding, RegisterTrigger]:
        """Record a binding (giving it an id if it has none); returns it and its frame.

        Raises:
            DefinitionError: a binding with that id is already registered.
        """
        binding = binding.with_id()
        assert binding.id is not None
        if binding.id in self.bindings:
            raise DefinitionError(f"more than one trigger named {binding.id}")
        self.bindings[binding.id] = binding
        return binding, self.binding_frame(binding)

    def remove_binding(self, binding_id: str) -> TriggerBinding | None:
        """Forget a binding; returns it, or None if it was not registered."""
        return self.bindings.pop(binding_id, None)

    def function_frame(self, fdef: FunctionDef) -> RegisterFunction:
        return RegisterFunction(
            id=fdef.id,
            description=fdef.description,
            request_format=fdef.request_format,
            response_format=fdef.response_format,
            metadata=fdef.metadata,
        )

    def binding_frame(self, binding: TriggerBinding) -> RegisterTrigger:
        assert binding.id is not None
        return RegisterTrigger(
            id=binding.id,
            trigger_type=binding.type,
            function_id=binding.function_id,
            config=binding.config,
            metadata=binding.metadata,
            namespace=self.namespace,
        )

    def trigger_type_frame(self, ttype: TriggerTypeDef) -> RegisterTriggerType:
        return RegisterTriggerType(
            id=ttype.id, description=ttype.description, namespace=self.namespace
        )

    def frames(self) -> list[RegistrationFrame]:
        """Every registration, in replay order: trigger types, then functions, then bindings.

        Types come first so the engine never parks one of our own bindings waiting for its type;
        functions before bindings so a binding's target exists when it is applied.
        """
        out: list[RegistrationFrame] = [
            self.trigger_type_frame(t) for t in self.trigger_types.values()
        ]
        out.extend(self.function_frame(f) for f in self.functions.values())
        out.extend(self.binding_frame(b) for b in self.bindings.values())
        return out
