"""Thin calls to the engine's ``state::*`` functions through the invocation's context.

Every call goes out with the handler's baggage, so the engine keys it by the caller's realm: no
helper here takes a realm, and none can reach another realm's data. Errors of the state module
(``adapter_error``, ``VALUE_TOO_LARGE``) propagate unchanged as ``InvocationError``.
"""

from __future__ import annotations

from typing import Any

from workers.sdk import Context

__all__ = ["cas", "delete", "get", "put", "update", "values"]


async def get(ctx: Context, scope: str, key: str) -> Any:
    """The stored value, or None."""
    return await ctx.trigger("state::get", {"scope": scope, "key": key})


async def put(ctx: Context, scope: str, key: str, value: Any) -> None:
    """Store ``value`` (last writer wins; use :func:`cas` when that matters)."""
    await ctx.trigger("state::set", {"scope": scope, "key": key, "value": value})


async def delete(ctx: Context, scope: str, key: str) -> Any:
    """Delete the key; the old value, or None."""
    return await ctx.trigger("state::delete", {"scope": scope, "key": key})


async def cas(ctx: Context, scope: str, key: str, expected: Any, value: Any) -> tuple[bool, Any]:
    """Compare-and-set: write ``value`` only if the stored value equals ``expected``.

    ``expected=None`` means "absent". Returns ``(True, value)`` when written, else
    ``(False, the stored value)``.
    """
    answer = await ctx.trigger(
        "state::cas", {"scope": scope, "key": key, "expected": expected, "value": value}
    )
    if isinstance(answer, dict) and answer.get("ok"):
        return True, value
    return False, answer.get("current") if isinstance(answer, dict) else None


async def update(ctx: Context, scope: str, key: str, ops: list[dict[str, Any]]) -> Any:
    """Apply ``ops`` atomically (see ``engine.modules.state_ops``); the new value."""
    answer = await ctx.trigger("state::update", {"scope": scope, "key": key, "ops": ops})
    return answer.get("new_value") if isinstance(answer, dict) else None


async def values(ctx: Context, scope: str) -> list[Any]:
    """Every value of ``scope``, ordered by key."""
    found = await ctx.trigger("state::list", {"scope": scope})
    return list(found) if isinstance(found, list) else []
