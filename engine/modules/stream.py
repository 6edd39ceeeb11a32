"""``iii-stream``: realm-scoped live data — the ``stream::*`` functions, the trigger types and the
stream socket (iii-protocol.md §2, Stream).

Theory of operation
-------------------
Items are ``(stream_name, group_id, item_id) → JSON`` in the module's ``KV``, keyed by the
caller's realm (:mod:`.stream_store`), or in a worker's own ``stream::<op>(<name>)`` functions
when it registered them. Every write that changes an item (``stream::set``, ``stream::update``,
``stream::delete``) and every ``stream::send`` becomes one :class:`.StreamMessage`, encoded
once, which goes to

* the joined sockets of the same realm on this engine (:class:`.Hub`, never waiting on them),
* the other engines on the same Redis (:class:`.Relay`, redis adapter only),
* and, for item changes, the matching ``stream`` triggers (:class:`.StreamTriggers`).

Sockets connect to the module's own listener (:class:`.StreamServer`, ``node.ports["stream"]``)
and ``join`` a group or an item: they get a ``sync`` with the current value(s), then every
change in order.

Functions (results as iii's): ``stream::set {stream_name, group_id, item_id, data}`` →
``{old_value, new_value}``; ``stream::get`` → the item or null; ``stream::delete`` →
``{old_value}``; ``stream::update {…, ops}`` → ``{old_value, new_value}`` (``state::update``
ops, :mod:`.state_ops`); ``stream::list {stream_name, group_id}`` → items;
``stream::list_groups {stream_name}`` → group ids; ``stream::list_all {}`` →
``{stream: [{id, groups}], count}``; ``stream::send {stream_name, group_id, id?, type, data}`` →
null (a custom event for joined sockets, not stored).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from ..adapters import build_kv, build_pubsub, parse_spec
from ..config import StreamModuleConfig
from ..registry import DEFAULT_NAMESPACE, ENGINE
from ..types import Call
from .pubsub import unregister_locals
from .stream_hub import Hub
from .stream_protocol import (
    GroupRef,
    ItemRef,
    SendInput,
    SetInput,
    StreamMessage,
    StreamRef,
    UpdateInput,
    parse_input,
)
from .stream_relay import Relay
from .stream_server import StreamServer
from .stream_store import StreamStore
from .stream_triggers import StreamTriggers

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["StreamModule"]

_ITEM = {"stream_name": {"type": "string"}, "group_id": {"type": "string"}, "item_id": {"type": "string"}}


def _format(*required: str, **extra: Any) -> dict[str, Any]:
    props = {k: v for k, v in _ITEM.items() if k in required} | extra
    return {"type": "object", "required": list(required), "properties": props}


class StreamModule:
    """The stream functions, trigger types and socket listener; ``async with`` starts them.

    Attributes:
        hub: the local sockets' subscriptions (``hub.max_pending`` bounds each socket's outbox).
        store: item storage. ``relay``: cross-engine fan-out (redis adapter), else None.
        clock: seconds since the epoch, for event timestamps (injectable).
    """

    def __init__(self, node: Node, config: StreamModuleConfig | None = None) -> None:
        self.node = node
        self.router = node.router
        self.config = config or StreamModuleConfig()
        spec = parse_spec(self.config.adapter.model_dump())
        if spec.kind == "redis":  # a keyspace of its own next to the state module's
            spec = dataclasses.replace(spec, prefix=f"{spec.prefix}stream:")
        self.kv = build_kv(spec)
        self.store = StreamStore(self.kv, self.router)
        self.hub = Hub()
        self.relay = Relay(build_pubsub(spec), self.hub) if spec.kind == "redis" else None
        self.triggers = StreamTriggers(self.router, self.spawn)
        self.clock: Callable[[], float] = time.time
        self.server: StreamServer | None = None
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> StreamModule:
        stack = self._stack
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.kv)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._tg.cancel_scope.cancel)
            if self.relay is not None:
                await stack.enter_async_context(self.relay)
            await self._register(stack)
            settings = self.node.config.engine
            self.server = await stack.enter_async_context(StreamServer(
                self, host=self.config.host, port=self.config.port,
                open_timeout_s=settings.handshake_timeout_ms / 1000))
            self.node.ports["stream"] = self.server.port
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    async def _register(self, stack: AsyncExitStack) -> None:
        functions: list[tuple[str, Callable[[Any, Call], Awaitable[Any]], str, dict[str, Any]]] = [
            ("stream::set", self.set_item, "Set an item of a stream group; joined sockets get create/update",
             _format("stream_name", "group_id", "item_id", data={})),
            ("stream::get", self.get_item, "Get an item of a stream group (null if absent)",
             _format("stream_name", "group_id", "item_id")),
            ("stream::delete", self.delete_item, "Delete an item of a stream group; joined sockets get delete",
             _format("stream_name", "group_id", "item_id")),
            ("stream::update", self.update_item, "Apply set/merge/increment/decrement/append/remove ops to an item atomically",
             _format("stream_name", "group_id", "item_id", ops={"type": "array"})),
            ("stream::list", self.list_items, "List the items of a stream group", _format("stream_name", "group_id")),
            ("stream::list_groups", self.list_groups, "List the groups of a stream", _format("stream_name")),
            ("stream::list_all", self.list_all, "List every stream with its groups", _format()),
            ("stream::send", self.send_event, "Send a custom event {type, data} to the sockets joined to a group (not stored)",
             _format("stream_name", "group_id", type={"type": "string"}, data={}, id={"type": "string"})),
        ]
        for function_id, handler, description, request_format in functions:
            self.router.register_local(function_id, handler, description=description, request_format=request_format)
        stack.callback(unregister_locals, self.router, tuple(f[0] for f in functions), None)
        for type_id, provider, description in self.triggers.providers():
            await self.router.register_local_type(type_id, provider, description)
            stack.callback(self.router.registry.remove_type, DEFAULT_NAMESPACE, type_id, ENGINE)

    def spawn(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``func(*args)`` in the module's task group (trigger deliveries)."""
        assert self._tg is not None, "StreamModule used outside 'async with'"
        self._tg.start_soon(func, *args)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- functions -----------------------------------------------------------------------------

    async def set_item(self, data: Any, call: Call) -> dict[str, Any]:
        inp = parse_input(SetInput, data, "stream::set")
        old, new = await self.store.set(call, inp)
        await self._changed(call.realm, inp, "create" if old is None else "update", old, new)
        return {"old_value": old, "new_value": new}

    async def get_item(self, data: Any, call: Call) -> Any:
        return await self.store.get(call, parse_input(ItemRef, data, "stream::get"))

    async def delete_item(self, data: Any, call: Call) -> dict[str, Any]:
        ref = parse_input(ItemRef, data, "stream::delete")
        old = await self.store.delete(call, ref)
        if old is not None:
            await self._changed(call.realm, ref, "delete", old, None)
        return {"old_value": old}

    async def update_item(self, data: Any, call: Call) -> dict[str, Any]:
        inp = parse_input(UpdateInput, data, "stream::update")
        old, new = await self.store.update(call, inp)
        await self._changed(call.realm, inp, "create" if old is None else "update", old, new)
        return {"old_value": old, "new_value": new}

    async def list_items(self, data: Any, call: Call) -> list[Any]:
        return await self.store.list_items(call, parse_input(GroupRef, data, "stream::list"))

    async def list_groups(self, data: Any, call: Call) -> list[str]:
        return await self.store.list_groups(call, parse_input(StreamRef, data, "stream::list_groups"))

    async def list_all(self, data: Any, call: Call) -> dict[str, Any]:
        streams = await self.store.list_all(call)
        return {"stream": streams, "count": len(streams)}

    async def send_event(self, data: Any, call: Call) -> None:
        inp = parse_input(SendInput, data, "stream::send")
        await self._emit(call.realm, StreamMessage.custom(self.now_ms(), inp.stream_name, inp.group_id, inp.id,
                                                          inp.type, inp.data))

    # -- events --------------------------------------------------------------------------------

    async def _changed(self, realm: str | None, ref: ItemRef, kind: str, old: Any, new: Any) -> None:
        msg = StreamMessage.change(self.now_ms(), ref.stream_name, ref.group_id, ref.item_id, kind,
                                   old if kind == "delete" else new)
        await self._emit(realm, msg)
        payload = {**msg.to_dict(), "event_type": kind, "stream_name": ref.stream_name, "group_id": ref.group_id,
                   "item_id": ref.item_id, "old_value": old, "new_value": new}
        self.triggers.fire_change(realm, ref.stream_name, ref.group_id, ref.item_id, payload)

    async def _emit(self, realm: str | None, msg: StreamMessage) -> None:
        frame = msg.encode()
        self.hub.deliver(realm, msg.stream_name, msg.group_id, msg.id, frame)
        if self.relay is not None:
            await self.relay.publish(realm, msg.stream_name, msg.group_id, msg.id, frame)

    def statistics(self) -> dict[str, int]:
        """Sockets, subscriptions, frames queued and slow clients dropped, plus trigger counts."""
        hub = self.hub.statistics()
        return {**hub._asdict(), "stream_triggers": len(self.triggers.change.bound),
                "join_triggers": len(self.triggers.join.bound), "leave_triggers": len(self.triggers.leave.bound)}
