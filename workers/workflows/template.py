"""``{{ path }}`` templates over a workflow's values: step inputs are rendered just before a call.

A path is dotted (``steps.fetch.output.items.0``, ``input.topic``, ``item``); each part reads a
mapping key or a list index. A string that is exactly one placeholder renders to the *value*
(a list stays a list, so outputs wire through unchanged); placeholders inside a longer string are
replaced by their text (JSON for objects and lists, ``""`` for a missing value). Dicts and lists
are rendered recursively. Paths are data access only — no expressions, no calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["lookup", "render", "placeholders"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.\-]*)\s*\}\}")


def placeholders(value: Any) -> list[str]:
    """Every path referenced by ``value`` (recursively), in order."""
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in placeholders(v)]
    if isinstance(value, list):
        return [p for v in value for p in placeholders(v)]
    return []


def lookup(names: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``names``, or None when any part is missing."""
    current: Any = names
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            i = int(part)
            current = current[i] if -len(current) <= i < len(current) else None
        else:
            return None
    return current


def render(value: Any, names: Mapping[str, Any]) -> Any:
    """``value`` with every placeholder replaced (see the module docstring)."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return lookup(names, whole.group(1))
        return _PLACEHOLDER.sub(lambda m: _text(lookup(names, m.group(1))), value)
    if isinstance(value, Mapping):
        return {k: render(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, names) for v in value]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
