"""@function: validation at decoration, pydantic formats, and running a handler."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from workers.sdk import (
    Context,
    DefinitionError,
    FunctionDef,
    InvocationError,
    current_context,
    function,
)
from workers.sdk.testing import FunctionEnvironment


class AddIn(BaseModel):
    a: int
    b: int


class AddOut(BaseModel):
    sum: int


@pytest.mark.parametrize(
    "bad_id",
    ["", "plain", "a::", "::b", "a::::b", "a b::c", "a::b c", " a::b", "a::b\n", "a:b", 42, None],
)
def test_bad_ids_are_refused_at_decoration(bad_id: Any) -> None:
    with pytest.raises(DefinitionError, match="service::name"):
        function(bad_id)


@pytest.mark.parametrize("good_id", ["math::add", "a::b::c", "agent-core::chat_v2", "x.y::z"])
def test_good_ids(good_id: str) -> None:
    @function(good_id)
    async def handler(data: Any) -> Any:
        return data

    assert FunctionDef.of(handler).id == good_id


def test_the_function_stays_a_plain_callable() -> None:
    @function("math::double", description="Doubles", metadata={"tier": 1}, timeout=3)
    def double(data: int) -> int:
        return data * 2

    assert double(21) == 42
    fdef = FunctionDef.of(double)
    assert (fdef.id, fdef.description, fdef.metadata, fdef.timeout) == (
        "math::double",
        "Doubles",
        {"tier": 1},
        3,
    )
    assert fdef.handler is double
    assert not fdef.is_async and not fdef.takes_context
    with pytest.raises(AttributeError):
        fdef.id = "other::id"  # type: ignore[misc]


def no_params() -> None: ...
def three(a: Any, b: Any, c: Any) -> None: ...
def star_args(*args: Any) -> None: ...
def star_kwargs(data: Any, **kw: Any) -> None: ...
def required_kwonly(data: Any, *, flag: bool) -> None: ...


@pytest.mark.parametrize("handler", [no_params, three, star_args, star_kwargs, required_kwonly])
def test_bad_signatures_are_refused(handler: Any) -> None:
    with pytest.raises(DefinitionError, match="handler"):
        function("x::y")(handler)


def test_optional_keyword_only_parameters_are_fine() -> None:
    @function("x::opt")
    async def handler(data: Any, ctx: Context, *, verbose: bool = False) -> None: ...

    assert FunctionDef.of(handler).takes_context


def test_decorating_twice_raises() -> None:
    @function("x::once")
    async def handler(data: Any) -> None: ...

    with pytest.raises(DefinitionError, match="already decorated"):
        function("x::twice")(handler)


@pytest.mark.parametrize("timeout", [0, -1])
def test_bad_timeout(timeout: float) -> None:
    with pytest.raises(DefinitionError, match="timeout"):
        function("x::t", timeout=timeout)


def fresh() -> Any:
    """A new undecorated handler (decorating one twice raises)."""

    async def handler(data: Any) -> None: ...

    return handler


def test_min_role_goes_into_the_metadata() -> None:
    fdef = FunctionDef.of(function("x::r", min_role="worker", metadata={"k": 1})(fresh()))
    assert fdef.metadata == {"k": 1, "min_role": "worker"} and fdef.min_role == "worker"
    assert FunctionDef.of(function("x::s", min_role="system")(fresh())).metadata == {"min_role": "system"}
    assert FunctionDef.of(function("x::m", metadata={"min_role": "worker"})(fresh())).min_role == "worker"
    assert FunctionDef.of(function("x::o")(fresh())).min_role == "client"


@pytest.mark.parametrize(
    ("min_role", "metadata"),
    [("admin", None), ("Worker", None), (None, {"min_role": "root"}), (None, {"min_role": 1}),
     ("worker", {"min_role": "system"})],
)
def test_bad_min_role_is_refused_at_decoration(min_role: Any, metadata: Any) -> None:
    with pytest.raises(DefinitionError, match="min_role"):
        function("x::bad", min_role=min_role, metadata=metadata)


def test_of_refuses_undecorated() -> None:
    with pytest.raises(DefinitionError, match="not decorated"):
        FunctionDef.of(no_params)


def test_a_callable_object_is_a_handler() -> None:
    class Handler:
        async def __call__(self, data: AddIn) -> AddOut:
            return AddOut(sum=data.a + data.b)

    handler = function("math::obj")(Handler())
    fdef = FunctionDef.of(handler)
    assert fdef.is_async and fdef.request_model is AddIn


# -- pydantic formats ------------------------------------------------------------------------


@function("math::add")
async def add(data: AddIn, ctx: Context) -> AddOut:
    return AddOut(sum=data.a + data.b)


def test_formats_derive_from_pydantic_annotations() -> None:
    fdef = FunctionDef.of(add)
    assert fdef.request_format == AddIn.model_json_schema()
    assert fdef.response_format == AddOut.model_json_schema()
    assert fdef.request_model is AddIn


def test_explicit_formats_win() -> None:
    schema = {"type": "object"}

    @function("math::explicit", request_format=schema, response_format={"type": "integer"})
    async def handler(data: AddIn) -> AddOut: ...

    fdef = FunctionDef.of(handler)
    assert fdef.request_format == schema and fdef.response_format == {"type": "integer"}


def test_plain_annotations_give_no_format() -> None:
    @function("math::plain")
    async def handler(data: dict[str, int]) -> int: ...

    fdef = FunctionDef.of(handler)
    assert (
        fdef.request_format is None and fdef.response_format is None and fdef.request_model is None
    )


async def test_data_is_validated_into_the_model_and_results_dumped() -> None:
    assert await FunctionEnvironment().run(add, {"a": 2, "b": 3}) == {"sum": 5}


async def test_invalid_data_answers_invalid_arguments() -> None:
    with pytest.raises(InvocationError) as info:
        await FunctionEnvironment().run(add, {"a": 2, "b": "three"})
    assert info.value.code == "invalid_arguments"
    assert "math::add" in info.value.message and "b" in info.value.message


async def test_sync_handlers_run_in_a_thread_with_their_context() -> None:
    seen: dict[str, Any] = {}

    @function("x::sync")
    def handler(data: Any, ctx: Context) -> str:
        seen["thread"] = threading.current_thread()
        seen["same_ctx"] = current_context() is ctx
        return f"hi {data}"

    assert await FunctionEnvironment().run(handler, "bob") == "hi bob"
    assert seen["thread"] is not threading.main_thread()
    assert seen["same_ctx"]


async def test_handler_timeout_answers_timeout() -> None:
    @function("x::slow", timeout=0.01)
    async def handler(data: Any) -> None:
        await anyio.sleep_forever()

    with pytest.raises(InvocationError) as info:
        await FunctionEnvironment().run(handler)
    assert info.value.code == "timeout"
