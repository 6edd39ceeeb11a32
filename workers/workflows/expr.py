"""A safe evaluator for ``when`` and ``loop`` expressions: Python syntax, a tiny subset, no eval().

Theory of operation
-------------------
An expression is parsed once with :func:`ast.parse` (``mode="eval"``) and checked against a
whitelist of node types (:func:`compile_expr`); anything else — calls other than the few listed
helpers, lambdas, comprehensions, attribute access to dunders, assignments — is refused with
:class:`~.errors.ExpressionError` before a workflow runs. Evaluation walks the tree against a
plain mapping of names (``steps``, ``input``, ``item``, ``index``, ``iteration``, ``output``).

Allowed: literals (numbers, strings, ``true/false/null`` and their Python spellings), lists,
``and/or/not``, comparisons (``== != < <= > >= in not in``), ``+ - * / // %``, unary ``-``,
subscripts (``steps['a'].output[0]``), attribute access that reads a mapping key
(``steps.a.output.count`` is ``steps["a"]["output"]["count"]``), and the calls ``len(x)``,
``int(x)``, ``str(x)``, ``bool(x)``, ``lower(x)``, ``contains(a, b)``. A missing key or attribute
yields None rather than raising, so ``when: steps.check.output.ok`` on a skipped step is false.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ExpressionError

__all__ = ["Expression", "compile_expr", "evaluate"]

_BIN: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMP: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_FUNCS: dict[str, Callable[..., Any]] = {
    "len": len, "int": int, "str": str, "bool": bool, "float": float,
    "lower": lambda s: str(s).lower(), "contains": lambda a, b: b in a,
}
_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}


class Expression:
    """A checked expression; :meth:`evaluate` it against names as often as needed."""

    __slots__ = ("source", "_tree")

    def __init__(self, source: str, tree: ast.expr) -> None:
        self.source = source
        self._tree = tree

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """The expression's value with ``names`` bound.

        Raises:
            ExpressionError: evaluation failed (e.g. ``1 / 0``, ``'a' < 1``).
        """
        try:
            return _eval(self._tree, names)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(f"cannot evaluate {self.source!r}: {type(exc).__name__}: {exc}") from exc

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def compile_expr(source: Any) -> Expression:
    """Parse and check ``source`` (a string; a bool or number is taken as a constant).

    Raises:
        ExpressionError: a syntax error or a construct outside the safe subset.
    """
    if isinstance(source, bool | int | float) or source is None:
        return Expression(repr(source), ast.Constant(source))
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError(f"an expression must be a non-empty string, got {source!r}")
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression {source!r}: {exc.msg}") from exc
    _check(tree, source)
    return Expression(source, tree)


def evaluate(source: Any, names: Mapping[str, Any]) -> Any:
    """Compile and evaluate in one go (see :func:`compile_expr`)."""
    return compile_expr(source).evaluate(names)


def _check(node: ast.AST, source: str) -> None:
    allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
               ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.Subscript,
               ast.Attribute, ast.Call, *_BIN, *_CMP)
    for child in ast.walk(node):
        if not isinstance(child, allowed):
            raise ExpressionError(f"{type(child).__name__} is not allowed in {source!r}")
        if isinstance(child, ast.Attribute) and child.attr.startswith("_"):
            raise ExpressionError(f"attribute {child.attr!r} is not allowed in {source!r}")
        if isinstance(child, ast.Call):
            if not isinstance(child.func, ast.Name) or child.func.id not in _FUNCS or child.keywords:
                raise ExpressionError(f"only {', '.join(sorted(_FUNCS))}(…) may be called in {source!r}")


def _get(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list | tuple | str) and isinstance(key, int):
        return container[key] if -len(container) <= key < len(container) else None
    return None


def _eval(node: ast.expr, names: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            if name in names:
                return names[name]
            if name.lower() in _CONSTANTS:
                return _CONSTANTS[name.lower()]
            raise ExpressionError(f"unknown name {name!r} (known: {', '.join(sorted(names))})")
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return [_eval(e, names) for e in elts]
        case ast.Attribute(value=value, attr=attr):
            return _get(_eval(value, names), attr)
        case ast.Subscript(value=value, slice=index):
            return _get(_eval(value, names), _eval(index, names))
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for v in values:
                result = _eval(v, names)
                if not result:
                    return result
            return result
        case ast.BoolOp(values=values):
            result = False
            for v in values:
                result = _eval(v, names)
                if result:
                    return result
            return result
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, names)
        case ast.UnaryOp(operand=operand):
            return -_eval(operand, names)
        case ast.BinOp(left=left, op=op, right=right):
            return _BIN[type(op)](_eval(left, names), _eval(right, names))
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, names)
            for op, comp in zip(ops, comparators, strict=True):
                other = _eval(comp, names)
                if not _CMP[type(op)](current, other):
                    return False
                current = other
            return True
        case ast.Call(func=ast.Name(id=fname), args=args):
            return _FUNCS[fname](*(_eval(a, names) for a in args))
    raise ExpressionError(f"unsupported expression node {type(node).__name__}")
