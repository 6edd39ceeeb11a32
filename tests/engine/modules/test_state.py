"""``iii-state`` through a real Node: functions on every adapter, realms, limits, triggers.

The function tests call ``node.router.invoke`` with an engine-asserted :class:`Call` (the realm a
credential would give); the trigger tests connect a worker over a real socket with our SDK.
Nothing sleeps: handlers push what they see into a memory stream the test awaits.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from redis.asyncio import Redis

from engine.config import NodeConfig
from engine.errors import WireError
from engine.node import Node
from engine.types import Call
from workers.sdk import Context, TriggerBinding, Worker, connect, function

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
ACME = Call("test", role="client", realm="acme")
GLOBEX = Call("test", role="client", realm="globex")
DEFAULT = Call("test", role="system")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@functools.cache
def redis_unavailable() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis answering at {REDIS_URL}: {exc}"
    finally:
        client.close()
    return None


async def drop_prefix(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """The ``adapter:`` entry of a state module, one per backend (redis skips when absent)."""
    kind = request.param
    if kind == "memory":
        yield {"name": "memory"}
    elif kind == "sqlite":
        yield {"name": "sqlite", "config": {"path": str(tmp_path / "state.db")}}
    else:
        if (reason := redis_unavailable()) is not None:
            pytest.skip(reason)
        prefix = f"agentos-test:{uuid.uuid4().hex}:"
        try:
            yield {"name": "redis", "config": {"url": REDIS_URL, "prefix": prefix}}
        finally:
            await drop_prefix(prefix)


def node_config(adapter: dict[str, Any], *, max_value_bytes: int = 1024, **engine: Any) -> NodeConfig:
    return NodeConfig.model_validate({
        "engine": {"host": "127.0.0.1", "port": 0, "registration_namespace_grace_ms": 0, **engine},
        "workers": [{"name": "iii-state", "config": {"adapter": adapter, "max_value_bytes": max_value_bytes}}],
    })


@pytest.fixture
async def node(adapter: dict[str, Any]) -> AsyncIterator[Node]:
    async with Node(node_config(adapter)) as n:
        yield n


async def call(node: Node, function_id: str, data: Any, who: Call = ACME) -> Any:
    return await node.router.invoke(function_id, data, call=who)


async def fails(node: Node, function_id: str, data: Any, who: Call = ACME) -> WireError:
    with pytest.raises(WireError) as info:
        await call(node, function_id, data, who)
    return info.value


class Inbox:
    """What handlers received, in arrival order; ``next()`` waits (with a deadline), never sleeps."""

    def __init__(self) -> None:
        self.tx: MemoryObjectSendStream[Any]
        self.rx: MemoryObjectReceiveStream[Any]
        self.tx, self.rx = anyio.create_memory_object_stream[Any](1000)

    async def next(self) -> Any:
        with anyio.fail_after(5):
            return await self.rx.receive()

    def close(self) -> None:
        self.tx.close()
        self.rx.close()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.close()


# -- functions, on every adapter ---------------------------------------------------------------


async def test_set_get_update_list_delete(node: Node) -> None:
    assert await call(node, "state::set", {"scope": "s", "key": "a", "value": {"n": 1}}) == {
        "old_value": None, "new_value": {"n": 1}}
    assert await call(node, "state::set", {"scope": "s", "key": "b", "data": "alias"}) == {
        "old_value": None, "new_value": "alias"}
    assert await call(node, "state::get", {"scope": "s", "key": "a"}) == {"n": 1}
    assert await call(node, "state::update", {"scope": "s", "key": "a", "ops": [
        {"type": "increment", "path": "n", "by": 2}, {"type": "append", "path": "log", "value": "x"}]}) == {
        "old_value": {"n": 1}, "new_value": {"n": 3, "log": ["x"]}}
    assert await call(node, "state::update", {"scope": "s", "key": "c", "ops": [{"type": "increment"}]}) == {
        "old_value": None, "new_value": 1}
    assert await call(node, "state::list", {"scope": "s"}) == [{"n": 3, "log": ["x"]}, "alias", 1]
    assert await call(node, "state::set", {"scope": "other", "key": "k", "value": 0}) == {"old_value": None, "new_value": 0}
    assert await call(node, "state::list_groups", {}) == {"groups": ["other", "s"]}
    assert await call(node, "state::delete", {"scope": "s", "key": "b"}) == "alias"
    assert await call(node, "state::delete", {"scope": "s", "key": "b"}) is None
    assert await call(node, "state::delete", {"scope": "other", "key": "k"}) == 0
    assert await call(node, "state::list_groups", None) == {"groups": ["s"]}


async def test_unknown_scopes_and_keys_read_as_empty(node: Node) -> None:
    assert await call(node, "state::get", {"scope": "nope", "key": "nope"}) is None
    assert await call(node, "state::list", {"scope": "nope"}) == []
    assert await call(node, "state::delete", {"scope": "nope", "key": "k"}) is None
    assert await call(node, "state::list_groups", {}) == {"groups": []}


async def test_realms_never_see_each_other(node: Node) -> None:
    key = {"scope": "s", "key": "k"}
    await call(node, "state::set", {**key, "value": "acme"}, ACME)
    await call(node, "state::set", {**key, "value": "globex"}, GLOBEX)
    await call(node, "state::set", {"scope": "g-only", "key": "k", "value": 1}, GLOBEX)
    assert await call(node, "state::get", key, ACME) == "acme"
    assert await call(node, "state::get", key, GLOBEX) == "globex"
    assert await call(node, "state::get", key, DEFAULT) is None  # the default realm is a realm too
    assert await call(node, "state::list_groups", {}, ACME) == {"groups": ["s"]}
    assert await call(node, "state::list_groups", {}, GLOBEX) == {"groups": ["g-only", "s"]}
    assert await call(node, "state::update", {**key, "ops": [{"type": "append", "value": "!"}]}, ACME) == {
        "old_value": "acme", "new_value": "acme!"}
    assert await call(node, "state::delete", key, GLOBEX) == "globex"
    assert await call(node, "state::get", key, ACME) == "acme!"
    # No realm name, however odd, reaches into another realm's scopes.
    for realm in ("acme\x1fs", "acme%1Fs", "-", "", "%"):
        odd = Call("test", role="client", realm=realm or None)
        assert await call(node, "state::get", {"scope": "s", "key": "k"}, odd) is None
        assert await call(node, "state::list_groups", {}, odd) == {"groups": []}


async def test_compare_and_set(node: Node) -> None:
    key = {"scope": "cas", "key": "k"}
    assert await call(node, "state::cas", {**key, "expected": None, "value": {"v": 1}}) == {
        "ok": True, "old_value": None, "new_value": {"v": 1}}
    assert await call(node, "state::cas", {**key, "expected": None, "value": {"v": 9}}) == {
        "ok": False, "current": {"v": 1}}
    assert await call(node, "state::cas", {**key, "expected": {"v": 1.0}, "value": {"v": 2}}) == {
        "ok": True, "old_value": {"v": 1}, "new_value": {"v": 2}}
    assert await call(node, "state::cas", {**key, "expected": {"v": True}, "value": 0}) == {"ok": False, "current": {"v": 2}}
    ops = [{"type": "increment", "path": "v"}]
    assert await call(node, "state::update", {**key, "expected": {"v": 1}, "ops": ops}) == {"ok": False, "current": {"v": 2}}
    assert await call(node, "state::update", {**key, "expected": {"v": 2}, "ops": ops}) == {
        "ok": True, "old_value": {"v": 2}, "new_value": {"v": 3}}
    assert await call(node, "state::get", key) == {"v": 3}


async def test_concurrent_updates_never_lose_a_write(node: Node) -> None:
    async def bump() -> None:
        await call(node, "state::update", {"scope": "c", "key": "n", "ops": [{"type": "increment"}]})

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(bump)
    assert await call(node, "state::get", {"scope": "c", "key": "n"}) == 40


# -- bad input: clear errors, nothing written ----------------------------------------------------


async def test_values_over_the_limit_are_refused_and_nothing_is_written(node: Node) -> None:
    key = {"scope": "big", "key": "k"}
    await call(node, "state::set", {**key, "value": "small"})
    err = await fails(node, "state::set", {**key, "value": "x" * 2000})
    assert err.code == "VALUE_TOO_LARGE" and "max_value_bytes=1024" in err.message
    err = await fails(node, "state::update", {**key, "ops": [{"type": "set", "value": ["y" * 600, "z" * 600]}]})
    assert err.code == "VALUE_TOO_LARGE"
    err = await fails(node, "state::cas", {**key, "expected": "small", "value": "é" * 600})  # 1200 bytes of UTF-8
    assert err.code == "VALUE_TOO_LARGE"
    assert await call(node, "state::get", key) == "small"


async def test_update_errors_write_nothing(node: Node) -> None:
    key = {"scope": "u", "key": "k"}
    await call(node, "state::set", {**key, "value": {"name": "text", "n": 1}})
    err = await fails(node, "state::update", {**key, "ops": [{"type": "increment", "path": "n"},
                                                               {"type": "increment", "path": "name"}]})
    assert err.code == "UPDATE_ERROR" and "name is a string, not a number" in err.message
    assert await call(node, "state::get", key) == {"name": "text", "n": 1}


@pytest.mark.parametrize(
    ("function_id", "data", "field"),
    [
        ("state::set", {"key": "k", "value": 1}, "'scope'"),
        ("state::set", {"scope": "", "key": "k", "value": 1}, "'scope'"),
        ("state::set", {"scope": "s", "key": 5, "value": 1}, "'key'"),
        ("state::set", {"scope": "s", "key": "k"}, "'value' is required"),
        ("state::set", [1, 2], "expected an object payload"),
        ("state::get", {"scope": ["s"], "key": "k"}, "'scope'"),
        ("state::get", "s/k", "expected an object payload"),
        ("state::delete", {"scope": "s"}, "'key'"),
        ("state::update", {"scope": "s", "key": "k", "ops": {"type": "set"}}, "'ops' must be a list"),
        ("state::update", {"scope": "s", "key": "k"}, "'ops' must be a list"),
        ("state::update", {"scope": "s", "key": "k", "ops": [{"type": "bump"}]}, "'ops[0].type'"),
        ("state::cas", {"scope": "s", "key": "k", "value": 1}, "'expected' is required"),
        ("state::cas", {"scope": "s", "key": "k", "expected": None}, "'value' is required"),
        ("state::list", {}, "'scope'"),
        ("state::set", {"scope": "s", "key": "k", "value": float("nan")}, "not JSON"),
    ],
)
async def test_invalid_arguments_name_the_field(node: Node, function_id: str, data: Any, field: str) -> None:
    err = await fails(node, function_id, data)
    assert err.code == "invalid_arguments" and field in err.message
    assert await call(node, "state::list_groups", {}) == {"groups": []}  # nothing was written


# -- triggers, through a real socket -----------------------------------------------------------


def recorder(function_id: str, inbox: Inbox) -> Any:
    @function(function_id)
    async def handler(data: Any, ctx: Context) -> None:
        await inbox.tx.send((function_id, data, ctx.realm))

    return handler


def events(*items: tuple[str, str, str, Any, Any]) -> list[dict[str, Any]]:
    return [{"type": "state", "event_type": f"state:{kind}", "scope": scope, "key": key,
             "old_value": old, "new_value": new} for kind, scope, key, old, new in items]


async def test_state_trigger_sees_created_updated_deleted(node: Node, inbox: Inbox) -> None:
    worker = Worker("watcher", functions=[recorder("watch::all", inbox), recorder("watch::k", inbox)],
                    triggers=[TriggerBinding("state", "watch::all", {"scope": "s"}),
                              TriggerBinding("state", "watch::k", {"scope": "s", "key": "k"})])
    async with connect(node.url, workers=[worker]):
        # Bindings without a realm (open mode) see the default realm.
        await call(node, "state::set", {"scope": "s", "key": "k", "value": 1}, DEFAULT)
        await call(node, "state::update", {"scope": "s", "key": "k", "ops": [{"type": "increment"}]}, DEFAULT)
        await call(node, "state::set", {"scope": "s", "key": "other", "value": "o"}, DEFAULT)
        await call(node, "state::set", {"scope": "elsewhere", "key": "k", "value": 0}, DEFAULT)
        await call(node, "state::delete", {"scope": "s", "key": "k"}, DEFAULT)
        await call(node, "state::delete", {"scope": "s", "key": "missing"}, DEFAULT)  # fires nothing
        await call(node, "state::set", {"scope": "s", "key": "last", "value": None}, DEFAULT)
        got: dict[str, list[Any]] = {"watch::all": [], "watch::k": []}
        while len(got["watch::all"]) < 5:
            fid, data, realm = await inbox.next()
            assert realm is None
            got[fid].append(data)
    assert got["watch::all"] == events(("created", "s", "k", None, 1), ("updated", "s", "k", 1, 2),
                                       ("created", "s", "other", None, "o"), ("deleted", "s", "k", 2, None),
                                       ("created", "s", "last", None, None))
    assert got["watch::k"][:3] == events(("created", "s", "k", None, 1), ("updated", "s", "k", 1, 2),
                                         ("deleted", "s", "k", 2, None))


async def test_condition_function_filters_events(node: Node, inbox: Inbox) -> None:
    @function("watch::only_big")
    async def only_big(data: Any) -> bool:
        return isinstance(data["new_value"], int) and data["new_value"] > 10

    worker = Worker("cond", functions=[only_big, recorder("watch::big", inbox)],
                    triggers=[TriggerBinding("state", "watch::big", {"condition_function_id": "watch::only_big"})])
    async with connect(node.url, workers=[worker]):
        for value in (1, 50, "x", 11):
            await call(node, "state::set", {"scope": "c", "key": str(value), "value": value}, DEFAULT)
        assert [(await inbox.next())[1]["new_value"] for _ in range(2)] == [50, 11]


async def test_triggers_only_see_their_own_realm(adapter: dict[str, Any], inbox: Inbox) -> None:
    tokens = [{"token": "acme-worker", "role": "worker", "realm": "acme"}]
    async with Node(node_config(adapter, auth={"tokens": tokens})) as node:
        worker = Worker("acme", functions=[recorder("watch::acme", inbox)],
                        triggers=[TriggerBinding("state", "watch::acme", {"scope": "s"})])
        async with connect(node.url, workers=[worker], token="acme-worker"):
            await call(node, "state::set", {"scope": "s", "key": "k", "value": "globex"}, GLOBEX)
            await call(node, "state::set", {"scope": "s", "key": "k", "value": "default"}, DEFAULT)
            await call(node, "state::set", {"scope": "s", "key": "k", "value": "acme"}, ACME)
            fid, data, realm = await inbox.next()  # events are delivered in order: the first is acme's
            assert (fid, data["new_value"], data["old_value"], realm) == ("watch::acme", "acme", None, "acme")


async def test_invalid_trigger_config_is_refused(node: Node, inbox: Inbox) -> None:
    worker = Worker("bad", functions=[recorder("watch::bad", inbox)])
    async with connect(node.url, workers=[worker]) as conn:
        await conn.bind("state", "watch::bad", {"scope": 5})
        good = await conn.bind("state", "watch::bad", {"key": "k"})
        await conn.trigger("engine::health::check")  # a round trip: both bindings were applied
        assert [t.id for t in node.router.registry.triggers.values() if t.trigger_type == "state"] == [good.id]
        await good.unregister()
        await conn.trigger("engine::health::check")
        assert not node.modules["state"]._bindings


@pytest.mark.redis
async def test_events_reach_triggers_on_every_engine_sharing_redis(inbox: Inbox) -> None:
    if (reason := redis_unavailable()) is not None:
        pytest.skip(reason)
    prefix = f"agentos-test:{uuid.uuid4().hex}:"
    shared = {"name": "redis", "config": {"url": REDIS_URL, "prefix": prefix}}
    try:
        async with Node(node_config(shared)) as one, Node(node_config(shared)) as two:
            worker = Worker("far", functions=[recorder("watch::far", inbox)],
                            triggers=[TriggerBinding("state", "watch::far", {"scope": "x"})])
            async with connect(two.url, workers=[worker]):
                await call(one, "state::set", {"scope": "x", "key": "k", "value": 1}, DEFAULT)
                assert (await inbox.next())[1] == events(("created", "x", "k", None, 1))[0]
                assert await call(two, "state::get", {"scope": "x", "key": "k"}, DEFAULT) == 1
    finally:
        await drop_prefix(prefix)


async def test_module_exit_removes_its_functions(adapter: dict[str, Any]) -> None:
    async with Node(node_config(adapter)) as node:
        state = node.modules["state"]
        assert node.router.registry.resolve("default", "state::get") is not None
    assert node.router.registry.resolve("default", "state::get") is None
    assert ("default", "state") not in node.router.registry.types
    assert state.kv._closed


async def test_triggers_disabled_leaves_bindings_parked(inbox: Inbox) -> None:
    config = NodeConfig.model_validate({
        "engine": {"host": "127.0.0.1", "port": 0, "registration_namespace_grace_ms": 0},
        "workers": [{"name": "iii-state", "config": {"adapter": {"name": "memory"}, "triggers_enabled": False}}],
    })
    async with Node(config) as node:
        worker = Worker("parked", functions=[recorder("watch::parked", inbox)],
                        triggers=[TriggerBinding("state", "watch::parked", {})])
        async with connect(node.url, workers=[worker]) as conn:
            listed = (await conn.trigger("engine::triggers::list"))["triggers"]
            assert [t["state"] for t in listed if t["function_id"] == "watch::parked"] == ["parked"]
            assert (await call(node, "state::set", {"scope": "s", "key": "k", "value": 1}))["new_value"] == 1


async def test_malformed_events_from_other_engines_are_ignored(node: Node, inbox: Inbox) -> None:
    state = node.modules["state"]
    worker = Worker("w", functions=[recorder("watch::any", inbox)], triggers=[TriggerBinding("state", "watch::any", {})])
    async with connect(node.url, workers=[worker]):
        junks: list[Any] = ["junk", None, {"realm": None}, {"event": {"scope": 1}}, {"event": []}, {"event": {"scope": "s"}}]
        for junk in junks:
            await state._dispatch(junk)
        await call(node, "state::set", {"scope": "s", "key": "k", "value": 1}, DEFAULT)
        assert (await inbox.next())[1]["event_type"] == "state:created"
