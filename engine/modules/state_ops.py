"""The update operations of ``state::update``, as pure functions over JSON values.

Theory of operation
-------------------
An update is two steps. :func:`parse_ops` validates the caller's ``ops`` list once, before
storage is touched, and turns it into frozen :class:`Op` values; a malformed op is the caller's
mistake and raises :class:`~engine.errors.InvalidArguments` naming the field (``ops[1].by``).
:func:`apply_ops` then folds the ops over the current value inside the storage's atomic
read-modify-write (``KV.update``), so it must stay pure and quick: it copies its input, never
mutates it, does no I/O and may run more than once (Redis retries). An op that does not fit the
*stored* value (increment a string, merge into a list) raises :class:`UpdateError`
(``UPDATE_ERROR``), which aborts the whole update: nothing is written.

Ops (``path`` is a dotted string ``"a.b"`` or a list ``["a", "b"]``; empty or absent means the
whole value; missing intermediate objects are created)

============  ==================================================================================
``set``       put ``value`` (required) at ``path``
``merge``     shallow-merge the object ``value`` into the object at ``path`` (missing → ``{}``)
``increment`` add ``by`` (a number, default 1) to the number at ``path`` (missing → 0)
``decrement`` subtract ``by`` (default 1) from the number at ``path`` (missing → 0)
``append``    append ``value`` to the list at ``path`` (missing → ``[]``); a string value is
              concatenated to a string
``remove``    delete ``path`` (no-op if absent); an empty path makes the whole value null
============  ==================================================================================

:func:`same_json` is the equality of compare-and-set: JSON equality, where ``1 == 1.0`` (JSON
has one number type) but ``true != 1`` and ``{} != []``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from engine.errors import InvalidArguments, WireError

__all__ = ["Op", "OpType", "UpdateError", "apply_op", "apply_ops", "parse_ops", "parse_path",
           "same_json"]

OpType = Literal["set", "merge", "increment", "decrement", "append", "remove"]
OP_TYPES: tuple[str, ...] = get_args(OpType)
_NEEDS_VALUE = frozenset({"set", "merge", "append"})


class UpdateError(WireError):
    """An op does not fit the stored value; the update is aborted and nothing is written."""

    code = "UPDATE_ERROR"


@dataclass(frozen=True, slots=True)
class Op:
    """One validated update operation; build it with :func:`parse_ops`."""

    type: OpType
    path: tuple[str, ...] = ()
    value: Any = None
    by: int | float = 1


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_path(raw: Any, where: str = "path") -> tuple[str, ...]:
    """Normalise a path: None/""/[] → ``()``, ``"a.b"`` → ``("a", "b")``, a list of strings as is.

    Raises:
        InvalidArguments: not a string or a list of non-empty strings, or an empty segment.
    """
    if raw is None or raw == "" or raw == []:
        return ()
    if isinstance(raw, str):
        parts: Sequence[Any] = raw.split(".")
    elif isinstance(raw, list):
        parts = raw
    else:
        raise InvalidArguments(f"'{where}' must be a dotted string or a list of strings, "
                               f"got {type(raw).__name__}")
    if not all(isinstance(p, str) and p for p in parts):
        raise InvalidArguments(f"'{where}' has an empty or non-string segment: {raw!r}")
    return tuple(parts)


def parse_ops(raw: Any, field: str = "ops") -> list[Op]:
    """Validate the ``ops`` argument of ``state::update``.

    Call it before touching storage, so bad input never starts a write.

    Raises:
        InvalidArguments: ``ops`` is not a list, an op is not an object, its ``type`` is
            unknown, a required ``value`` is missing, ``merge`` got a non-object or ``by`` is
            not a number; the message names the field (``ops[2].type``).
    """
    if not isinstance(raw, list):
        raise InvalidArguments(f"'{field}' must be a list of operations, got {type(raw).__name__}")
    ops = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise InvalidArguments(f"'{where}' must be an object, got {type(item).__name__}")
        kind = item.get("type")
        if kind not in OP_TYPES:
            raise InvalidArguments(f"'{where}.type' must be one of {', '.join(OP_TYPES)}, "
                                   f"got {kind!r}")
        if kind in _NEEDS_VALUE and "value" not in item:
            raise InvalidArguments(f"'{where}.value' is required for {kind}")
        value = item.get("value")
        if kind == "merge" and not isinstance(value, dict):
            raise InvalidArguments(f"'{where}.value' must be an object to merge, "
                                   f"got {type(value).__name__}")
        by = item.get("by", 1)
        if not _is_number(by):
            raise InvalidArguments(f"'{where}.by' must be a number, got {type(by).__name__}")
        ops.append(Op(cast(OpType, kind), parse_path(item.get("path"), f"{where}.path"), value, by))
    return ops


def apply_ops(value: Any, ops: Sequence[Op]) -> Any:
    """Return the value after applying ``ops`` in order; ``value`` is not modified.

    Raises:
        UpdateError: an op does not fit the value (the whole update must then be dropped).
    """
    out = copy.deepcopy(value)
    for i, op in enumerate(ops):
        out = apply_op(out, op, index=i)
    return out


def apply_op(value: Any, op: Op, *, index: int = 0) -> Any:
    """Apply one op to ``value`` (which it may modify in place) and return the result.

    Raises:
        UpdateError: the op does not fit the value.
    """
    if not op.path:
        return _combine(value, op, index, "the whole value")
    removing = op.type == "remove"
    root = {} if value is None and not removing else value
    parent = root
    for depth, part in enumerate(op.path):
        if not isinstance(parent, dict):
            if removing:  # nothing lives at that path: nothing to remove
                return root
            raise _misfit(index, op, op.path[:depth], parent, "an object")
        if depth == len(op.path) - 1:
            break
        child = parent.get(part)
        if child is None:
            if removing:
                return root
            child = parent[part] = {}
        parent = child
    leaf = op.path[-1]
    if removing:
        parent.pop(leaf, None)
    else:
        parent[leaf] = _combine(parent.get(leaf), op, index, ".".join(op.path))
    return root


def _combine(current: Any, op: Op, index: int, where: str) -> Any:
    kind = op.type
    if kind == "set":
        return op.value
    if kind == "remove":
        return None
    if kind == "merge":
        if current is None:
            return dict(op.value)
        if not isinstance(current, dict):
            raise _misfit(index, op, where, current, "an object")
        return {**current, **op.value}
    if kind in ("increment", "decrement"):
        if current is None:
            current = 0
        if not _is_number(current):
            raise _misfit(index, op, where, current, "a number")
        return current + op.by if kind == "increment" else current - op.by
    # append
    if current is None:
        return [op.value]
    if isinstance(current, list):
        return [*current, op.value]
    if isinstance(current, str) and isinstance(op.value, str):
        return current + op.value
    raise _misfit(index, op, where, current, "a list")


def _misfit(index: int, op: Op, where: str | tuple[str, ...], found: Any, wanted: str) -> UpdateError:
    place = where if isinstance(where, str) else (".".join(where) or "the whole value")
    return UpdateError(f"ops[{index}] ({op.type}): {place} is {_json_type(found)}, "
                       f"not {wanted}; nothing was written")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value (``1 == 1.0``) but never equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(same_json(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_json, a, b))
    return type(a) is type(b) and a == b
