"""Stream items: one ``KV`` for every realm, or a worker's own stream functions.

Theory of operation
-------------------
An item lives at ``(realm, stream_name, group_id, item_id)``. The realm is the invocation's
(:attr:`engine.types.Call.realm`, asserted by the engine, never read from the payload) and is
part of the adapter scope, built with :func:`engine.modules.pubsub.realm_key` over the
percent-quoted stream and group names; quoting leaves no ``/`` in either, so the mapping is
one-to-one and no stream or group name reaches another realm's items, or another stream's.

A worker may own a stream's storage: the iii SDK's ``create_stream(name, impl)`` registers
``stream::get(<name>)``, ``stream::set(<name>)``, ``stream::delete(<name>)``,
``stream::list(<name>)`` and ``stream::list_groups(<name>)``. When the function for an operation
is registered (and visible to the caller's realm), the store calls it with the operation's
input instead of touching the adapter, as iii does; the module still emits the change events.

Adapter errors are translated here, at the one boundary (``adapter_errors``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from ..adapters import KV
from ..errors import InvocationFailed
from ..registry import DEFAULT_NAMESPACE
from ..router import Router
from ..types import Call
from .pubsub import adapter_errors, realm_key
from .state_ops import apply_ops, parse_ops
from .stream_protocol import GroupRef, ItemRef, SetInput, StreamRef, UpdateInput

__all__ = ["StreamStore", "scope_of"]

_SEP = "/"


def _q(name: str) -> str:
    return quote(name, safe="")


def scope_of(realm: str | None, stream_name: str, group_id: str) -> str:
    """The adapter scope of one group of a stream in one realm."""
    return realm_key(realm, f"{_q(stream_name)}{_SEP}{_q(group_id)}")


class StreamStore:
    """Reads and writes items for the ``stream::*`` functions and the socket's ``sync``."""

    def __init__(self, kv: KV, router: Router) -> None:
        self.kv = kv
        self.router = router

    def delegate(self, op: str, stream_name: str, call: Call) -> str | None:
        """The id of the worker function that implements ``op`` for this stream, or None."""
        function_id = f"stream::{op}({stream_name})"
        entry = self.router.registry.resolve(DEFAULT_NAMESPACE, function_id)
        if entry is None:
            return None
        if entry.realm is not None and entry.realm != call.realm and call.role != "system":
            return None
        return function_id

    async def _call(self, function_id: str, inp: Any, call: Call) -> Any:
        return await self.router.invoke(function_id, inp.model_dump(), call=call)

    async def get(self, call: Call, ref: ItemRef) -> Any:
        """The item, or None."""
        if fid := self.delegate("get", ref.stream_name, call):
            return await self._call(fid, ref, call)
        with adapter_errors("stream::get"):
            return await self.kv.get(scope_of(call.realm, ref.stream_name, ref.group_id), ref.item_id)

    async def set(self, call: Call, inp: SetInput) -> tuple[Any, Any]:
        """Store an item; returns ``(old_value, new_value)``."""
        if fid := self.delegate("set", inp.stream_name, call):
            result = _result(fid, await self._call(fid, inp, call), "new_value")
            return result.get("old_value"), result.get("new_value")
        with adapter_errors("stream::set"):
            old = await self.kv.set(scope_of(call.realm, inp.stream_name, inp.group_id), inp.item_id, inp.data)
        return old, inp.data

    async def delete(self, call: Call, ref: ItemRef) -> Any:
        """Remove an item; returns the value it had (None if absent)."""
        if fid := self.delegate("delete", ref.stream_name, call):
            return _result(fid, await self._call(fid, ref, call), "old_value").get("old_value")
        with adapter_errors("stream::delete"):
            return await self.kv.delete(scope_of(call.realm, ref.stream_name, ref.group_id), ref.item_id)

    async def update(self, call: Call, inp: UpdateInput) -> tuple[Any, Any]:
        """Apply ``ops`` atomically (state::update semantics); returns ``(old, new)``.

        Raises:
            InvalidArguments: a malformed op (nothing is written).
            UpdateError: an op does not fit the stored value (nothing is written).
        """
        if fid := self.delegate("update", inp.stream_name, call):
            result = _result(fid, await self._call(fid, inp, call), "new_value")
            return result.get("old_value"), result.get("new_value")
        ops = parse_ops(inp.ops)
        with adapter_errors("stream::update"):
            return await self.kv.update(scope_of(call.realm, inp.stream_name, inp.group_id), inp.item_id,
                                        lambda current: apply_ops(current, ops))

    async def list_items(self, call: Call, ref: GroupRef) -> list[Any]:
        """The items of a group, ordered by item id."""
        if fid := self.delegate("list", ref.stream_name, call):
            items = await self._call(fid, ref, call)
            return items if isinstance(items, list) else []
        with adapter_errors("stream::list"):
            pairs = await self.kv.list(scope_of(call.realm, ref.stream_name, ref.group_id))
        return [value for _key, value in pairs]

    async def list_groups(self, call: Call, ref: StreamRef) -> list[str]:
        """The ids of the groups of a stream that hold items, sorted."""
        if fid := self.delegate("list_groups", ref.stream_name, call):
            groups = await self._call(fid, ref, call)
            return groups if isinstance(groups, list) else []
        prefix = realm_key(call.realm, _q(ref.stream_name) + _SEP)
        with adapter_errors("stream::list_groups"):
            scopes = await self.kv.scopes(prefix)
        return sorted(unquote(scope[len(prefix):]) for scope in scopes)

    async def list_all(self, call: Call) -> list[dict[str, Any]]:
        """Every stream of the caller's realm with its groups: ``[{id, groups}]``, sorted."""
        prefix = realm_key(call.realm, "")
        with adapter_errors("stream::list_all"):
            scopes = await self.kv.scopes(prefix)
        streams: dict[str, list[str]] = {}
        for scope in scopes:
            stream, sep, group = scope[len(prefix):].partition(_SEP)
            if sep:
                streams.setdefault(unquote(stream), []).append(unquote(group))
        return [{"id": name, "groups": sorted(groups)} for name, groups in sorted(streams.items())]


def _result(function_id: str, result: Any, required: str) -> dict[str, Any]:
    if not isinstance(result, dict) or (required == "new_value" and required not in result):
        raise InvocationFailed(f"{function_id} answered {type(result).__name__}, expected an object "
                               f"with {required!r}")
    return result
