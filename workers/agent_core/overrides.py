"""Execution-context overrides: the ``{{var}}`` variables of a system prompt, and deep merges.

Theory of operation
-------------------
A system prompt may contain placeholders ``{{ name }}``. When a run starts, the prompt is
rendered from three layers, later ones winning:

1. the agent's own ``variables`` (defaults, stored with the agent);
2. the run's ``context`` — a JSON object, or a string holding a JSON or YAML object;
3. the built-ins agent-core fills in itself: ``agent_id``, ``name``, ``realm``, ``model``,
   ``tools`` (the function ids the run may call, comma-separated) and ``session_id``.

The built-in names, plus ``system`` and ``system_prompt``, are **reserved**: a run (or an agent's
``variables``) that tries to set one is refused with ``invalid_arguments`` rather than silently
ignored, so nobody can make an agent believe it is another agent or in another realm, or swap
its prompt. Rendering is a single pass: a value containing ``{{x}}`` is not expanded again, and a
placeholder nobody defines is left verbatim (visible, instead of silently empty).

Everything here is pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from .errors import InvalidArguments

__all__ = [
    "RESERVED",
    "check_variable_name",
    "deep_merge",
    "parse_context",
    "render",
]

RESERVED: frozenset[str] = frozenset(
    {"agent_id", "name", "realm", "tools", "system", "system_prompt", "model", "session_id"}
)
MAX_VARIABLES = 64
MAX_VALUE_CHARS = 8192

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")


def check_variable_name(name: object) -> str:
    """Check a user-settable variable name.

    Raises:
        ValueError: not an identifier of at most 64 characters, or a reserved name.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"variable name {name!r} must be an identifier (letters, digits, _)")
    if name in RESERVED:
        raise ValueError(f"variable {name!r} is reserved (reserved: {', '.join(sorted(RESERVED))})")
    return name


def _as_text(key: str, value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = ""
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidArguments(f"context.{key} is longer than {MAX_VALUE_CHARS} characters")
    return text


def parse_context(context: Any) -> dict[str, str]:
    """The run's variables from ``context`` (object, or JSON/YAML text), as strings.

    Call it once per run, before anything else touches the agent.

    Returns:
        ``{name: text}``; non-string scalars are formatted, lists and objects JSON-encoded.

    Raises:
        InvalidArguments: unparsable text, not an object, too many keys, a bad or reserved name,
            or a value that is too long.
    """
    if context is None:
        return {}
    if isinstance(context, str):
        if not context.strip():
            return {}
        try:
            context = yaml.safe_load(context)
        except yaml.YAMLError as exc:
            raise InvalidArguments(f"context is neither JSON nor YAML: {exc}") from exc
    if not isinstance(context, Mapping):
        raise InvalidArguments(
            f"context must be an object of variables, got {type(context).__name__}"
        )
    if len(context) > MAX_VARIABLES:
        raise InvalidArguments(f"context has {len(context)} variables; at most {MAX_VARIABLES}")
    out: dict[str, str] = {}
    for key, value in context.items():
        try:
            check_variable_name(key)
        except ValueError as exc:
            raise InvalidArguments(f"context: {exc}") from exc
        out[key] = _as_text(key, value)
    return out


def render(template: str, variables: Mapping[str, str]) -> str:
    """Replace each ``{{ name }}`` with ``variables[name]``; unknown placeholders stay as they are.

    A single pass: substituted values are never rendered again.
    """

    def substitute(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return match.group(0) if value is None else value

    return _PLACEHOLDER.sub(substitute, template)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top: nested objects merge key by key, anything else
    (lists included) is replaced. Neither input is modified.
    """
    out: dict[str, Any] = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out
