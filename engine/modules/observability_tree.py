"""The parent/child tree of one trace's spans, as ``engine::traces::tree`` answers it.

Spans arrive from many processes, late, duplicated or hostile, so the tree is built defensively:
a span whose parent is not present is a root, parent links that form a cycle are cut, duplicate
span ids keep their first span, and the nesting is bounded (:data:`MAX_TREE_DEPTH`) so that the
answer can always be encoded. The walk is iterative: no recursion limit applies.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .observability_records import SpanRecord

__all__ = ["build_tree", "MAX_TREE_DEPTH"]

MAX_TREE_DEPTH = 128
"""Deepest nesting built; deeper spans hang flat under their ancestor at that depth."""


def build_tree(spans: list[SpanRecord]) -> tuple[list[dict[str, Any]], bool]:
    """Nest the spans of one trace by ``parent_span_id``; returns ``(roots, depth_truncated)``.

    A span whose parent is not among ``spans`` is a root (the trace came in from outside, or its
    parent was evicted or not sent yet). Children are ordered by start time. Parent links that
    form a cycle are cut where the walk meets them again, and spans nested deeper than
    :data:`MAX_TREE_DEPTH` are listed flat under their ancestor at that depth, so the answer's
    nesting stays bounded whatever the spans claim. Duplicate span ids keep their first span.
    """
    by_id: dict[str, SpanRecord] = {}
    for span in spans:
        by_id.setdefault(span.span_id, span)
    children: dict[str, list[SpanRecord]] = {}
    roots: list[SpanRecord] = []
    for span in by_id.values():
        parent = span.parent_span_id
        if parent is not None and parent in by_id and parent != span.span_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    for kids in children.values():
        kids.sort(key=lambda s: s.start_ns)
    placed: set[str] = set()
    truncated = False

    def node(span: SpanRecord) -> dict[str, Any]:
        placed.add(span.span_id)
        out = span.to_json()
        out["children"] = []
        return out

    def grow(root: SpanRecord) -> dict[str, Any]:
        nonlocal truncated
        top = node(root)
        stack: list[tuple[SpanRecord, dict[str, Any], int]] = [(root, top, 0)]
        while stack:
            span, out, depth = stack.pop()
            kids = [k for k in children.get(span.span_id, ()) if k.span_id not in placed]
            if depth + 1 >= MAX_TREE_DEPTH and kids:
                truncated = True
                out["children"].extend(node(k) for k in _descendants(kids, children, placed))
                continue
            for kid in kids:
                child = node(kid)
                out["children"].append(child)
                stack.append((kid, child, depth + 1))
        return top

    out = [grow(r) for r in sorted(roots, key=lambda s: s.start_ns)]
    # Spans only reachable through a cycle: break the cycle at the earliest of them.
    for span in sorted(by_id.values(), key=lambda s: s.start_ns):
        if span.span_id not in placed:
            out.append(grow(span))
    return out, truncated


def _descendants(kids: list[SpanRecord], children: dict[str, list[SpanRecord]],
                 placed: set[str]) -> list[SpanRecord]:
    """Every span below ``kids`` (included), each once, breadth first."""
    out: list[SpanRecord] = []
    seen = set(placed)
    queue = deque(kids)
    while queue:
        span = queue.popleft()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        out.append(span)
        queue.extend(children.get(span.span_id, ()))
    return out
