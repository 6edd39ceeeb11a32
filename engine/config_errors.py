"""Turning a pydantic ValidationError of the node config into one line per problem.

Each line names the key path (``workers[2].config.port``), what was wrong and the fix, and
suggests a known key for a typo. :mod:`engine.config` adds the file name and line number.
"""

from __future__ import annotations

import difflib
import re
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["describe_validation_error", "line_of", "did_you_mean"]


_NUMERIC = frozenset({"int_parsing", "int_type", "int_from_float", "greater_than_equal",
                      "less_than_equal"})
_FIXES: dict[str, str] = {
    "missing": "required key is missing — add it",
    "int_parsing": "expected an integer", "int_type": "expected an integer",
    "int_from_float": "expected an integer", "bool_parsing": "expected true or false",
    "bool_type": "expected true or false", "string_type": "expected a string — quote the value",
    "string_too_short": "must not be empty", "list_type": "expected a list (`- item` lines)",
    "dict_type": "expected a mapping (`key: value` lines)",
    "model_type": "expected a mapping (`key: value` lines)",
    "recursion_loop": "a YAML alias refers to itself — remove the cycle",
}


def describe_validation_error(exc: ValidationError, root: type[BaseModel], prefix: tuple[Any, ...],
              rename: str, text: str, source: str) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        full = prefix + loc
        if full and full[0] == "modules":
            full = (rename, *full[1:])
        line = line_of(text, full)
        where = f"{source}:{line}" if line is not None else source
        path = _key_path(full)
        lines.append(f"{where}: {path + ': ' if path else ''}{_fix(err, root, loc)}")
    return lines


def _fix(err: Any, root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind, ctx, last = err["type"], err.get("ctx") or {}, (loc[-1] if loc else None)
    got = err.get("input")
    shown = f" (got {got!r:.60})" if isinstance(got, str | int | float | bool) else ""
    if last == "port" and kind in _NUMERIC:
        return "expected an integer port 1-65535 (or 0 for any free port)" + shown
    if kind == "extra_forbidden":
        known = _known_keys(root, loc[:-1])
        listing = f" — known keys: {', '.join(known)}" if known else " — remove it"
        return f"unknown key{did_you_mean(str(last), known)}{listing}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}{shown}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = next(iter(ctx.values()), "?")
        sign = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">"}
        return f"expected a number {sign.get(kind, '<')} {bound}{shown}"
    if kind == "string_pattern_mismatch":
        return f"expected letters, digits, `_`, `.` or `-` (pattern {ctx.get('pattern')}){shown}"
    if kind == "too_short":
        return "must not be empty"
    return _FIXES.get(kind, str(err["msg"])) + shown


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][\w-]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


def _known_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found by walking ``loc`` from ``root`` ([] if none)."""
    tp: Any = root
    for part in (*loc, None):
        while get_origin(tp) in (Union, UnionType, Annotated):
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = args[0] if args else None
        if part is None or tp is None:
            break
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            field = tp.model_fields.get(part)
            tp = field.annotation if field is not None else None
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            tp = None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        extra = {"workers"} if tp.__name__ == "NodeConfig" else set()  # iii's name for `modules:`
        return sorted({*tp.model_fields, *extra})
    return []


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node of ``loc`` found in the YAML (None at top level)."""
    if not loc:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    line: int | None = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""
