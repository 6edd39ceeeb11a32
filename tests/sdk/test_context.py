"""Context: baggage and realm parsing, the contextvar, and trace propagation."""

from __future__ import annotations

import contextvars
from typing import Any
from urllib.parse import quote

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.sdk import Call, Context, NoContextError, current_context
from workers.sdk.context import (
    bind_context,
    parse_baggage,
    peek_context,
    realm_of,
    role_of,
    run_bound,
)


class Recorder:
    def __init__(self, result: Any = None) -> None:
        self.calls: list[Call] = []
        self.result = result

    async def dispatch(self, call: Call) -> Any:
        self.calls.append(call)
        return self.result


@pytest.mark.parametrize(
    ("header", "entries"),
    [
        (None, {}),
        ("", {}),
        ("agentos-realm=acme", {"agentos-realm": "acme"}),
        (" k1 = v1 , agentos-realm=acme;prop=1 ", {"k1": "v1", "agentos-realm": "acme"}),
        ("name=J%C3%BCrgen%20S", {"name": "Jürgen S"}),
        ("novalue,=empty,k=v", {"k": "v"}),
        ("a=1,a=2", {"a": "2"}),
    ],
)
def test_parse_baggage(header: str | None, entries: dict[str, str]) -> None:
    assert parse_baggage(header) == entries


@pytest.mark.parametrize(
    ("baggage", "realm"),
    [
        (None, None),
        ("userId=alice", None),
        ("userId=alice,agentos-realm=acme", "acme"),
        ("agentos-realm=", None),
        ("agentos-realm=acme;ttl=3", "acme"),
        ("x-agentos-realm=evil", None),
    ],
)
def test_realm_of(baggage: str | None, realm: str | None) -> None:
    assert realm_of(baggage) == realm
    assert Context("a::b", Recorder(), baggage=baggage).realm == realm


@pytest.mark.parametrize(
    ("baggage", "role"),
    [
        (None, "system"),
        ("userId=alice", "system"),
        ("agentos-realm=acme,agentos-role=client", "client"),
        ("agentos-role=worker;p=1", "worker"),
        ("x-agentos-role=client", "system"),
    ],
)
def test_role_of(baggage: str | None, role: str) -> None:
    assert role_of(baggage) == role
    assert Context("a::b", Recorder(), baggage=baggage).role == role


def test_current_context_outside_a_handler_raises() -> None:
    assert peek_context() is None
    with pytest.raises(NoContextError):
        current_context()


def test_bind_context_sets_and_restores() -> None:
    ctx = Context("a::b", Recorder())
    with bind_context(ctx):
        assert current_context() is ctx
    assert peek_context() is None


async def test_context_is_inherited_by_child_tasks() -> None:
    ctx = Context("a::b", Recorder())
    seen: list[Context] = []
    with bind_context(ctx):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _record(seen))
    assert seen == [ctx]


async def _record(seen: list[Context]) -> None:
    seen.append(current_context())


async def test_calls_carry_the_trace_and_baggage() -> None:
    recorder = Recorder(result={"ok": True})
    ctx = Context(
        "a::b",
        recorder,
        invocation_id="id",
        traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        baggage="agentos-realm=acme",
    )
    assert await ctx.trigger("c::d", {"x": 1}, timeout=2, metadata={"m": 1}, namespace="ns") == {
        "ok": True
    }
    await ctx.trigger_void("c::e", 5)
    await ctx.enqueue("c::f", 6, queue="slow")
    sync, void, queued = recorder.calls
    assert sync == Call(
        "c::d", {"x": 1}, "sync", None, 2, {"m": 1}, "ns", ctx.traceparent, "agentos-realm=acme"
    )
    assert (void.kind, void.data, void.baggage) == ("void", 5, "agentos-realm=acme")
    assert (queued.kind, queued.queue, queued.traceparent) == ("enqueue", "slow", ctx.traceparent)


@given(realm=st.text(min_size=1), other=st.text(alphabet="abcxyz", min_size=1))
def test_any_percent_encoded_realm_round_trips(realm: str, other: str) -> None:
    baggage = f"{other}=1,agentos-realm={quote(realm, safe='')};p=2"
    assert realm_of(baggage) == realm


# -- run_bound: how the handler pool gives each invocation its own contextvars -------------------

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_var", default="unset")


def bound_ctx() -> Context:
    return Context("a::b", Recorder(), invocation_id="i-1", baggage="agentos-realm=acme")


async def test_run_bound_makes_the_context_current_and_keeps_changes_inside() -> None:
    ctx = bound_ctx()

    async def handler() -> tuple[Context, str]:
        VAR.set("set by the handler")
        await anyio.lowlevel.checkpoint()  # a suspension: later steps still see it
        return current_context(), VAR.get()

    assert await run_bound(ctx, handler()) == (ctx, "set by the handler")
    assert VAR.get() == "unset" and peek_context() is None


async def test_run_bound_passes_exceptions_through() -> None:
    async def handler() -> None:
        await anyio.lowlevel.checkpoint()
        raise KeyError("inner")

    with pytest.raises(KeyError, match="inner"):
        await run_bound(bound_ctx(), handler())


async def test_run_bound_passes_cancellation_in_and_out() -> None:
    cleaned: list[str] = []

    async def handler() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cleaned.append(current_context().function_id)

    async def serve() -> None:
        await run_bound(bound_ctx(), handler())

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
    assert cleaned == ["a::b"] and scope.cancelled_caught


async def test_cancel_scopes_and_tasks_inside_the_handler_work() -> None:
    async def handler() -> list[str | None]:
        with anyio.CancelScope() as inner:
            inner.cancel()
            await anyio.sleep_forever()
        seen: list[str | None] = []

        async def child() -> None:
            seen.append(current_context().realm)

        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
        return seen

    assert await run_bound(bound_ctx(), handler()) == ["acme"]
