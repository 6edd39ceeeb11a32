"""Run one function handler without an engine: :class:`FunctionEnvironment`.

Like temporal's ``ActivityEnvironment``: the handler gets a real :class:`Context` (realm, caller,
metadata) whose ``trigger``/``trigger_void``/``enqueue`` go to fake functions you provide, and
every such call is recorded::

    env = FunctionEnvironment(functions={"llm::complete": fake_complete}, realm="acme")
    assert await env.run(chat, {"text": "hi"}) == {...}
    assert env.calls[0].function_id == "llm::complete"
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .context import Call, Context, bind_context
from .errors import FunctionNotFound
from .function import FunctionDef
from .types import REALM_BAGGAGE_KEY

__all__ = ["FunctionEnvironment"]

_TRACEPARENT = "00-{trace}-{span}-01"


class FunctionEnvironment:
    """A fake engine for one handler at a time: no socket, no event loop of its own.

    Args:
        functions: fake functions by id, ``(data) -> result`` (sync or async), that the handler
            may call through its context.
        realm: the realm the invocation runs in (sent as ``agentos-realm`` baggage).
        caller_worker_id: what ``ctx.caller_worker_id`` says.
        metadata: the invocation's metadata sidecar.

    Attributes:
        calls: every call the handler made, in order, as :class:`~workers.sdk.Call` records.
    """

    def __init__(
        self,
        functions: Mapping[str, Callable[[Any], Any]] | None = None,
        *,
        realm: str | None = None,
        caller_worker_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.functions = dict(functions or {})
        self.realm = realm
        self.caller_worker_id = caller_worker_id
        self.metadata = dict(metadata or {})
        self.calls: list[Call] = []

    def context(self, function_id: str) -> Context:
        """A fresh context for one invocation of ``function_id`` in this environment."""
        return Context(
            function_id=function_id,
            dispatcher=self,
            invocation_id=str(uuid.uuid4()),
            caller_worker_id=self.caller_worker_id,
            metadata=dict(self.metadata),
            traceparent=_TRACEPARENT.format(trace=uuid.uuid4().hex, span=uuid.uuid4().hex[:16]),
            baggage=f"{REALM_BAGGAGE_KEY}={self.realm}" if self.realm is not None else None,
        )

    async def run(self, fdef: FunctionDef | Callable[..., Any], data: Any = None) -> Any:
        """Invoke a handler as the engine would: validation, context, result conversion.

        Args:
            fdef: a ``@function``-decorated callable or its definition.
            data: the payload.

        Returns:
            What the handler returned (pydantic models dumped to JSON types).

        Raises:
            Whatever the handler raised (``InvocationError("invalid_arguments")`` for a payload
            that does not fit its request model).
        """
        fdef = FunctionDef.of(fdef)
        ctx = self.context(fdef.id)
        with bind_context(ctx):
            return await fdef.invoke(data, ctx)

    async def dispatch(self, call: Call) -> Any:
        """Record ``call`` and run the matching fake (the Dispatcher contract).

        Returns:
            The fake's result for ``sync``, None for ``void``, a fresh receipt id for ``enqueue``
            (the fake runs at once in every case).

        Raises:
            FunctionNotFound: no fake with that id.
        """
        self.calls.append(call)
        fake = self.functions.get(call.function_id)
        if fake is None:
            raise FunctionNotFound(
                f"Function '{call.function_id}' not found", function_id=call.function_id
            )
        result = fake(call.data)
        if inspect.isawaitable(result):
            result = await result
        if call.kind == "void":
            return None
        if call.kind == "enqueue":
            return str(uuid.uuid4())
        return result
