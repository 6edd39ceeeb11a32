"""Tools of a run: which functions an agent may call, how they are named, described and answered.

Theory of operation
-------------------
**Names.** OpenAI-compatible APIs want tool names matching ``^[a-zA-Z0-9_-]{1,64}$``; our
function ids are ``service::name`` and may hold any non-space character. The seed mapped
``::`` → ``_`` on the way out and every ``_`` → ``::`` on the way back, so no id containing ``_``
could ever be called. Here each run builds one two-way table (:class:`ToolNames`): the name of
an id is its sanitised form (``::`` → ``__``, any other invalid character → ``_``); when that is
longer than 64 characters or already taken, it is cut and suffixed with ``_`` + 8 hex digits of
a salted SHA-256 of the id. Going back is a dictionary lookup, never a string transform, so every
id round-trips exactly, whatever it contains. Ids whose sanitised form loses nothing (only
``[A-Za-z0-9_-]`` segments joined by ``::``) claim their plain names first, so the common case
reads naturally (``tools::get_weather`` → ``tools__get_weather``). Names are deterministic for a
given set of ids.

**Selection.** The tools of a run are the functions ``engine::functions::list`` reports whose id
matches one of the agent's ``capabilities.tools`` globs (``fnmatch``, case-sensitive; ``*`` also
crosses ``::``). ``agent::chat`` is left out unless ``capabilities.allow_agent_chat`` is set, so a
broad glob never makes an agent recurse into itself by accident.

**Schemas.** A tool's parameters are the function's ``request_format`` when it is a JSON Schema
object; a function without one gets ``{"type": "object", "properties": {}, "additionalProperties":
true}`` and a description that says so — never an empty ``{}`` (the seed's bug).

**Results** are JSON text, cut at ``max_chars`` with a visible marker.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict

from .spec import Capabilities

__all__ = [
    "NAME_RE",
    "PERMISSIVE_SCHEMA",
    "FunctionInfo",
    "Tool",
    "ToolNames",
    "build_tools",
    "error_content",
    "is_allowed",
    "result_content",
    "sanitize",
    "truncate",
]

NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_NAME = 64
MAX_DESCRIPTION = 1024
SELF_CHAT = "agent::chat"
PERMISSIVE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": True}
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
_LOSSLESS = re.compile(r"[a-zA-Z0-9_-]+(?:::[a-zA-Z0-9_-]+)*")
_HASH_LEN = 8


def sanitize(function_id: str) -> str:
    """``::`` → ``__``, then every character outside ``[a-zA-Z0-9_-]`` → ``_`` (not cut)."""
    return _INVALID.sub("_", function_id.replace("::", "__")) or "tool"


def _hashed(function_id: str, salt: int) -> str:
    digest = hashlib.sha256(f"{salt}\x00{function_id}".encode()).hexdigest()[:_HASH_LEN]
    return f"{sanitize(function_id)[: MAX_NAME - _HASH_LEN - 1]}_{digest}"


class ToolNames:
    """A run's two-way table function id ↔ tool name. Build it once per run.

    Args:
        function_ids: the ids the run offers (duplicates are ignored).
    """

    def __init__(self, function_ids: Iterable[str]) -> None:
        ids = sorted(set(function_ids))
        plain = [i for i in ids if _LOSSLESS.fullmatch(i)]
        rest = [i for i in ids if not _LOSSLESS.fullmatch(i)]
        self._name: dict[str, str] = {}
        self._id: dict[str, str] = {}
        for function_id in plain + rest:
            self._assign(function_id)

    def _assign(self, function_id: str) -> None:
        clean = sanitize(function_id)
        candidate, salt = (clean, 0) if len(clean) <= MAX_NAME else (_hashed(function_id, 0), 1)
        while candidate in self._id:
            candidate, salt = _hashed(function_id, salt), salt + 1
        self._name[function_id] = candidate
        self._id[candidate] = function_id

    def name_of(self, function_id: str) -> str:
        """The tool name of ``function_id``.

        Raises:
            KeyError: the id is not in the table.
        """
        return self._name[function_id]

    def id_of(self, name: str) -> str | None:
        """The function id a model's tool name stands for, or None for a name we never sent."""
        return self._id.get(name)

    def __len__(self) -> int:
        return len(self._name)

    def __contains__(self, function_id: object) -> bool:
        return function_id in self._name


class FunctionInfo(BaseModel):
    """One entry of ``engine::functions::list`` (only what tools need)."""

    model_config = ConfigDict(extra="ignore")

    function_id: str
    description: str | None = None
    request_format: Any = None
    metadata: Any = None
    """Registration metadata; agent-core reads ``output_taint`` (labels a result carries)."""

    def output_taint(self) -> frozenset[str]:
        """The taint labels this function declares for its results (``metadata.output_taint``)."""
        labels = self.metadata.get("output_taint") if isinstance(self.metadata, Mapping) else None
        if not isinstance(labels, list):
            return frozenset()
        return frozenset(label for label in labels if isinstance(label, str))


@dataclass(frozen=True, slots=True)
class Tool:
    """A function offered to the model under ``name``."""

    function_id: str
    name: str
    description: str
    parameters: dict[str, Any]

    def openai(self) -> dict[str, Any]:
        """The entry of the ``tools`` list of a chat completion request."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def is_allowed(function_id: str, capabilities: Capabilities) -> bool:
    """True if the agent's tool globs admit ``function_id`` (the local capability check)."""
    if function_id == SELF_CHAT and not capabilities.allow_agent_chat:
        return False
    return any(fnmatchcase(function_id, glob) for glob in capabilities.tools)


def _parameters(request_format: Any) -> dict[str, Any] | None:
    """The request format as an OpenAI ``parameters`` object schema, or None if it is none."""
    if not isinstance(request_format, Mapping):
        return None
    schema = dict(request_format)
    kind = schema.get("type")
    if kind is None and isinstance(schema.get("properties"), Mapping):
        schema["type"] = kind = "object"
    if kind != "object":
        return None
    schema.setdefault("properties", {})
    return schema


def _describe(info: FunctionInfo, has_schema: bool) -> str:
    text = (info.description or "").strip() or f"Calls the function {info.function_id}."
    text = f"{info.function_id}: {text}"
    if not has_schema:
        text += " (No input schema is published: pass a JSON object of named arguments.)"
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "…"
    return text


def build_tools(
    functions: Iterable[FunctionInfo], capabilities: Capabilities
) -> tuple[list[Tool], ToolNames]:
    """The tools of a run, and their name table, from the registered functions.

    Returns:
        ``(tools sorted by function id, names)``; both empty when no glob matches.
    """
    chosen = {f.function_id: f for f in functions if is_allowed(f.function_id, capabilities)}
    names = ToolNames(chosen)
    tools = []
    for function_id in sorted(chosen):
        info = chosen[function_id]
        parameters = _parameters(info.request_format)
        tools.append(
            Tool(
                function_id=function_id,
                name=names.name_of(function_id),
                description=_describe(info, parameters is not None),
                parameters=parameters if parameters is not None else dict(PERMISSIVE_SCHEMA),
            )
        )
    return tools, names


def truncate(text: str, max_chars: int) -> str:
    """``text``, or its first ``max_chars`` characters plus a visible ``[truncated …]`` marker."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}…[truncated: {len(text) - max_chars} of {len(text)} characters cut]"


def result_content(value: Any, max_chars: int) -> str:
    """A tool's result as the content of a ``tool`` message (JSON, possibly truncated)."""
    return truncate(json.dumps(value, ensure_ascii=False, default=str), max_chars)


def error_content(code: str, message: str, max_chars: int) -> str:
    """A failed tool call as ``{"error": {"code", "message"}}`` JSON for the model."""
    body = {"error": {"code": code, "message": message}}
    return truncate(json.dumps(body, ensure_ascii=False), max_chars)
