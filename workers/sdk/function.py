"""Function definitions: the ``@function`` decorator and the frozen :class:`FunctionDef` it attaches.

Registration is eager and strict: everything that can be checked is checked when the decorator
runs (the id, the handler's signature), so a bad definition fails at import, not on the first
call. The decorated function stays a plain callable; its definition is at
``FunctionDef.of(fn)``.

A handler takes ``(data)`` or ``(data, ctx)`` and may be sync or async. Sync handlers run in a
worker thread so they cannot stall the connection. When the first parameter is annotated with a
pydantic model, the model's JSON Schema becomes the ``request_format`` and incoming data is
validated into the model before the call (a mismatch answers ``invalid_arguments``); a pydantic
return annotation likewise gives the ``response_format``, and model results are dumped to JSON
types.

``min_role`` (``"worker"`` or ``"system"``) makes the engine refuse, with ``forbidden``, every call
from a credential below that role, on every path (direct, void, queued, HTTP route). It travels
as ``metadata["min_role"]``, which is what the engine reads, so any iii SDK can ask for the same
by putting it in the registration's metadata.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

import anyio.to_thread
from pydantic import BaseModel, ValidationError

from .context import Context
from .errors import DefinitionError, InvocationError

__all__ = ["FunctionDef", "MinRole", "function", "validate_function_id"]

F = TypeVar("F", bound=Callable[..., Any])

MinRole = Literal["client", "worker", "system"]
"""The roles a caller's credential can have, lowest first."""
MIN_ROLE_KEY = "min_role"
"""The metadata entry the engine reads a function's minimum caller role from."""
_ROLES: tuple[MinRole, ...] = ("client", "worker", "system")

_ATTR = "__agentos_function__"
_ID = re.compile(r"[^\s:]+(::[^\s:]+)+")


def validate_function_id(function_id: object) -> str:
    """Check a function id: ``service::name`` (one or more ``::`` parts, no whitespace).

    Returns:
        The id, unchanged.

    Raises:
        DefinitionError: not a string, empty, whitespace, or not ``::``-separated.
    """
    if not isinstance(function_id, str) or not _ID.fullmatch(function_id):
        raise DefinitionError(
            f"function id must look like 'service::name' without whitespace, got {function_id!r}"
        )
    return function_id


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """A function a worker serves: its id, handler and what the engine is told about it.

    Build it with :func:`function`; fields past ``metadata`` are derived from the handler.
    """

    id: str
    handler: Callable[..., Any]
    description: str | None = None
    request_format: Any = None
    response_format: Any = None
    metadata: dict[str, Any] | None = None
    timeout: float | None = None
    request_model: type[BaseModel] | None = field(default=None, repr=False)
    takes_context: bool = field(default=False, repr=False)
    is_async: bool = field(default=True, repr=False)

    @staticmethod
    def of(obj: FunctionDef | Callable[..., Any]) -> FunctionDef:
        """The definition of a ``@function``-decorated callable (or ``obj`` if it is one).

        Raises:
            DefinitionError: ``obj`` was not decorated with ``@function``.
        """
        if isinstance(obj, FunctionDef):
            return obj
        fdef = getattr(obj, _ATTR, None)
        if not isinstance(fdef, FunctionDef):
            raise DefinitionError(f"{obj!r} is not decorated with @function")
        return fdef

    @property
    def min_role(self) -> MinRole:
        """The lowest caller role the engine lets call this function (``client``: anyone)."""
        role = (self.metadata or {}).get(MIN_ROLE_KEY)
        return next((r for r in _ROLES if r == role), "client")

    async def invoke(self, data: Any, ctx: Context) -> Any:
        """Run the handler on ``data`` and return a wire-ready result.

        Call it once per invocation, with ``ctx`` already current. A handler ``timeout``, if
        set, bounds the run.

        Raises:
            InvocationError: ``invalid_arguments`` when ``data`` does not fit the request model,
                ``timeout`` when the handler overran its ``timeout``.
            Exception: whatever the handler raised.
        """
        if self.request_model is not None:
            try:
                data = self.request_model.model_validate(data)
            except ValidationError as exc:
                raise InvocationError(
                    "invalid_arguments",
                    f"invalid arguments for {self.id}: {exc}",
                    function_id=self.id,
                    invocation_id=ctx.invocation_id,
                ) from exc
        args = (data, ctx) if self.takes_context else (data,)
        if self.timeout is None and self.is_async:  # the common case, one coroutine less
            result = await self.handler(*args)
        elif self.timeout is None:
            result = await self._call(args)
        else:
            with anyio.move_on_after(self.timeout) as scope:
                result = await self._call(args)
            if scope.cancelled_caught:
                raise InvocationError(
                    "timeout",
                    f"{self.id} did not finish within {self.timeout}s",
                    function_id=self.id,
                    invocation_id=ctx.invocation_id,
                )
        if isinstance(result, BaseModel):
            return result.model_dump(mode="json")
        return result

    async def _call(self, args: tuple[Any, ...]) -> Any:
        if self.is_async:
            return await self.handler(*args)
        # anyio copies the contextvars into the thread, so current_context() works there too.
        # A cancelled call abandons the thread: a blocking sync handler cannot hold up shutdown.
        return await anyio.to_thread.run_sync(partial(self.handler, *args), abandon_on_cancel=True)


def function(
    id: str,
    *,
    description: str | None = None,
    request_format: Any = None,
    response_format: Any = None,
    metadata: dict[str, Any] | None = None,
    timeout: float | None = None,
    min_role: MinRole | None = None,
) -> Callable[[F], F]:
    """Declare ``fn`` as the handler of function ``id``.

    Use it at module level on the functions a :class:`~workers.sdk.Worker` lists::

        @function("math::add", description="Add two numbers")
        async def add(data: AddIn, ctx: Context) -> AddOut: ...

    Args:
        id: the function id, ``service::name``.
        description: shown in ``engine::functions::list``.
        request_format: the JSON Schema of the input; derived from a pydantic first parameter
            when None.
        response_format: the JSON Schema of the output; derived from a pydantic return
            annotation when None.
        metadata: free-form metadata registered with the function.
        timeout: seconds the handler may run before it is cancelled and answered ``timeout``.
        min_role: the lowest role a caller's credential needs (``client`` < ``worker`` <
            ``system``); the engine answers ``forbidden`` below it. Stored as
            ``metadata["min_role"]``; None leaves the metadata as given (default: anyone).

    Returns:
        A decorator returning ``fn`` itself, with its :class:`FunctionDef` attached.

    Raises:
        DefinitionError: a bad id, a bad ``timeout``, a ``min_role`` that is not a role (or
            that contradicts ``metadata["min_role"]``), a handler that does not take ``(data)``
            or ``(data, ctx)``, or a function that is already decorated.
    """
    validate_function_id(id)
    if timeout is not None and not timeout > 0:
        raise DefinitionError(f"timeout of {id} must be > 0, got {timeout!r}")
    metadata = _with_min_role(id, metadata, min_role)

    def decorate(fn: F) -> F:
        if hasattr(fn, _ATTR):
            raise DefinitionError(f"{fn!r} is already decorated as {FunctionDef.of(fn).id!r}")
        takes_context, first, returns = _inspect(id, fn)
        model = first if _is_model(first) else None
        fdef = FunctionDef(
            id=id,
            handler=fn,
            description=description,
            request_format=request_format
            if request_format is not None or model is None
            else model.model_json_schema(),
            response_format=response_format
            if response_format is not None or not _is_model(returns)
            else returns.model_json_schema(),
            metadata=dict(metadata) if metadata is not None else None,
            timeout=timeout,
            request_model=model,
            takes_context=takes_context,
            is_async=inspect.iscoroutinefunction(fn)
            or inspect.iscoroutinefunction(type(fn).__call__),
        )
        setattr(fn, _ATTR, fdef)
        return fn

    return decorate


def _with_min_role(
    function_id: str, metadata: dict[str, Any] | None, min_role: str | None
) -> dict[str, Any] | None:
    """``metadata`` with ``min_role`` merged in, checked as the engine will check it."""
    given = (metadata or {}).get(MIN_ROLE_KEY)
    for role in (min_role, given):
        if role is not None and role not in _ROLES:
            raise DefinitionError(
                f"min_role of {function_id} must be one of {', '.join(_ROLES)}, got {role!r}"
            )
    if min_role is None:
        return metadata
    if given is not None and given != min_role:
        raise DefinitionError(
            f"{function_id}: min_role={min_role!r} contradicts metadata['min_role']={given!r}"
        )
    return {**(metadata or {}), MIN_ROLE_KEY: min_role}


def _inspect(function_id: str, fn: Callable[..., Any]) -> tuple[bool, Any, Any]:
    """``(takes_context, first parameter's type, return type)`` of a handler, or raise."""
    if not callable(fn):
        raise DefinitionError(f"@function({function_id!r}) needs a callable, got {fn!r}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"cannot read the signature of {fn!r}") from exc
    positional = []
    for param in sig.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(
                f"{function_id}: handler must take (data) or (data, ctx), not *args/**kwargs"
            )
        if param.kind is param.KEYWORD_ONLY:
            if param.default is param.empty:
                raise DefinitionError(
                    f"{function_id}: handler has a required keyword-only parameter {param.name!r}"
                )
            continue
        positional.append(param)
    if not 1 <= len(positional) <= 2:
        raise DefinitionError(
            f"{function_id}: handler must take (data) or (data, ctx), it takes {len(positional)} "
            "positional parameters"
        )
    hints = _hints(fn)
    first = hints.get(positional[0].name, positional[0].annotation)
    returns = hints.get("return", sig.return_annotation)
    return len(positional) == 2, first, returns


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        return typing.get_type_hints(target)
    except Exception:
        pass
    # One unresolvable name (a TYPE_CHECKING import, a local class) must not hide the others.
    hints: dict[str, Any] = {}
    namespace = getattr(inspect.unwrap(target), "__globals__", {})
    for name, annotation in getattr(target, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # noqa: S307 - what get_type_hints does
            except Exception:
                continue
        hints[name] = annotation
    return hints


def _is_model(annotation: Any) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
