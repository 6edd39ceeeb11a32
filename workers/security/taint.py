"""Taint tracking: labels on values, a sink policy, declassification, and PII detection.

Theory of operation
-------------------
A *value* is anything a worker handles under an id it chooses (a tool call id, a memory entry id,
a file path). ``taint::label {value_id, labels?, text?}`` adds labels to it — given ones, plus the
ones :mod:`.pii` detects in ``text`` — in state scope ``security:taint`` (realm-scoped), with an
atomic ``state::update`` merge, so concurrent labelers never lose a label.

Labels and the sinks they block (the policy table, :data:`POLICY`)::

    secret     log  http  file  shell  exec  llm    (never leaves except to its own use)
    pii        log  http                            (unless declassified)
    untrusted              shell exec              (tool output, web pages: never executed)

``taint::check {sink, labels?, value_ids?, text?}`` → ``{allowed, blocking_labels, labels}``: the
labels are the given ones, those stored for ``value_ids`` minus what was declassified on them,
and those detected in ``text`` (minus the declassified ones of ``value_ids``: the text is taken
to be that value). ``taint::declassify {value_id, labels, reason, by}`` lifts labels from one
value and is appended to the audit log (``taint.declassified``); labelling the value again with
a lifted label re-taints it.

Contract for workers at a sink (the enforcement helpers):

* before writing to a **log**, an outgoing **http** request, a **file**, a **shell**/**exec**
  call or an **llm** prompt, call ``taint::enforce {sink, value_ids?, text?, labels?}``: it
  answers the same as ``check`` when allowed and raises ``forbidden`` (naming the blocking
  labels, never the value) when not — so ``await ctx.trigger("taint::enforce", …)`` just lets
  the error propagate;
* for logs, prefer ``taint::redact {text}`` → ``{text, findings}`` and log the redacted text;
* label what comes from outside as ``untrusted`` when it enters (the agent loop labels each tool
  result with its tool call id) and secrets as ``secret`` (the vault does not return values to
  anything but workers; whatever a worker derives from one it should label).

The tools worker is such a worker (``workers/tools/sinks.py``): file_write, shell_exec,
code_exec, http_request/web_fetch/web_search, memory_store and agent_send/agent_spawn call
``taint::enforce`` with the run's labels (their call metadata ``taint``) and the outgoing text
before they act. :data:`POLICY`, :func:`blocking` and the detector are pure, so a worker may
apply them itself when this worker is not registered (``function_not_found``) — and must refuse
when it is registered but fails.

``taint::detect {text}`` → ``{labels, findings}`` runs the detector alone; findings carry spans,
never values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context

from . import _state
from .audit import AuditLog
from .errors import Forbidden, parse_request
from .pii import Finding, detect, labels_of, redact

__all__ = ["LABELS", "MAX_TEXT_CHARS", "POLICY", "SINKS", "TAINT_SCOPE", "Label", "Sink", "Taint",
           "blocking"]

TAINT_SCOPE = "security:taint"
THREAD_ABOVE_CHARS = 65_536
MAX_TEXT_CHARS = 8_000_000

Label = Literal["secret", "pii", "untrusted"]
Sink = Literal["log", "http", "file", "shell", "exec", "llm"]
LABELS: tuple[str, ...] = ("secret", "pii", "untrusted")
SINKS: tuple[str, ...] = ("log", "http", "file", "shell", "exec", "llm")
POLICY: dict[str, frozenset[str]] = {
    "secret": frozenset(SINKS),
    "pii": frozenset({"log", "http"}),
    "untrusted": frozenset({"shell", "exec"}),
}

ValueId = Annotated[str, Field(min_length=1, max_length=512)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


def blocking(labels: Iterable[str], sink: str) -> list[str]:
    """The labels among ``labels`` that the policy forbids at ``sink``, sorted."""
    return sorted({label for label in labels if sink in POLICY.get(label, frozenset(SINKS))})


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value_id: ValueId
    labels: Annotated[list[Label], Field(max_length=8)] = Field(default_factory=list)
    text: Text | None = None


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sink: Sink
    labels: Annotated[list[Label], Field(max_length=8)] = Field(default_factory=list)
    value_ids: Annotated[list[ValueId], Field(max_length=256)] = Field(default_factory=list)
    text: Text | None = None


class DeclassifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value_id: ValueId
    labels: Annotated[list[Label], Field(min_length=1, max_length=8)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    by: Annotated[str, Field(min_length=1, max_length=256)]


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: Text


class ValueRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value_id: ValueId


async def _detect(text: str) -> list[Finding]:
    if len(text) > THREAD_ABOVE_CHARS:
        return await anyio.to_thread.run_sync(detect, text)
    return detect(text)


def _record_labels(record: Any) -> tuple[set[str], set[str]]:
    """``(labels, declassified labels)`` of a stored record."""
    if not isinstance(record, dict):
        return set(), set()
    labels, lifted = record.get("labels"), record.get("declassified")
    return ({k for k, v in labels.items() if v} if isinstance(labels, dict) else set(),
            set(lifted) if isinstance(lifted, dict) else set())


class Taint:
    """The ``taint::*`` functions.

    Args:
        audit: where declassifications go.
        clock: epoch seconds.
    """

    def __init__(self, audit: AuditLog, clock: Callable[[], float] = time.time) -> None:
        self.audit, self.clock = audit, clock

    async def label(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``taint::label {value_id, labels?, text?}`` → ``{value_id, labels, findings}``."""
        req = parse_request(LabelRequest, data)
        findings = await _detect(req.text) if req.text else []
        added = set(req.labels) | labels_of(findings)
        ops: list[dict[str, Any]] = [
            {"type": "merge", "path": "labels", "value": {label: True for label in added}},
            {"type": "set", "path": "updated_at", "value": self.clock()},
            *({"type": "remove", "path": ["declassified", label]} for label in sorted(added)),
        ]
        record = await _state.update(ctx, TAINT_SCOPE, req.value_id, ops)
        labels, lifted = _record_labels(record)
        return {"value_id": req.value_id, "labels": sorted(labels - lifted),
                "findings": [f.public() for f in findings]}

    async def get(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``taint::get {value_id}`` → ``{value_id, labels, declassified}``."""
        req = parse_request(ValueRequest, data)
        record = await _state.get(ctx, TAINT_SCOPE, req.value_id)
        labels, lifted = _record_labels(record)
        return {"value_id": req.value_id, "labels": sorted(labels - lifted),
                "declassified": sorted(lifted & labels)}

    async def verdict(self, data: Any, ctx: Context) -> dict[str, Any]:
        """The answer of ``taint::check`` (see the module docstring)."""
        req = parse_request(CheckRequest, data)
        labels: set[str] = set(req.labels)
        lifted: set[str] = set()
        for value_id in req.value_ids:
            stored, gone = _record_labels(await _state.get(ctx, TAINT_SCOPE, value_id))
            labels |= stored - gone
            lifted |= gone
        findings = await _detect(req.text) if req.text else []
        labels |= labels_of(findings) - lifted
        blocked = blocking(labels, req.sink)
        return {"allowed": not blocked, "blocking_labels": blocked, "labels": sorted(labels),
                "sink": req.sink}

    async def check(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``taint::check`` → ``{allowed, blocking_labels, labels, sink}``."""
        return await self.verdict(data, ctx)

    async def enforce(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``taint::enforce``: ``check``, raising ``forbidden`` when the sink is not allowed."""
        answer = await self.verdict(data, ctx)
        if not answer["allowed"]:
            raise Forbidden(f"{', '.join(answer['blocking_labels'])} data may not reach the "
                            f"{answer['sink']} sink")
        return answer

    async def declassify(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``taint::declassify {value_id, labels, reason, by}`` → the value's remaining labels."""
        req = parse_request(DeclassifyRequest, data)
        at = self.clock()
        entry = {"by": req.by, "reason": req.reason, "at": at}
        ops: list[dict[str, Any]] = [{"type": "merge", "path": "declassified",
                "value": {label: entry for label in req.labels}},
               {"type": "set", "path": "updated_at", "value": at}]
        record = await _state.update(ctx, TAINT_SCOPE, req.value_id, ops)
        await self.audit.append(ctx, "taint.declassified", None, {
            "value_id": req.value_id, "labels": sorted(set(req.labels)), "by": req.by,
            "reason": req.reason})
        labels, lifted = _record_labels(record)
        return {"value_id": req.value_id, "labels": sorted(labels - lifted),
                "declassified": sorted(lifted)}

    async def detect(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``taint::detect {text}`` → ``{labels, findings}``."""
        req = parse_request(TextRequest, data)
        findings = await _detect(req.text)
        return {"labels": sorted(labels_of(findings)), "findings": [f.public() for f in findings]}

    async def redact(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``taint::redact {text}`` → ``{text, findings}`` with every finding masked."""
        req = parse_request(TextRequest, data)
        findings = await _detect(req.text)
        return {"text": redact(req.text, findings), "findings": [f.public() for f in findings]}
