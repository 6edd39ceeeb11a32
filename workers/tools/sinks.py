"""The taint gate: what a tool checks before data leaves it through a sink.

Theory of operation
-------------------
Some tools are *sinks* of the taint policy (``workers/security/taint.py``): they act on the
world with text a model wrote. Before acting, each calls :meth:`Gate.enforce` with its sink and
the outgoing text, after validating its arguments and before anything runs, is written or is
sent (for http: before the DNS lookup, so not even a host name leaves):

======================  =======  =======================================================
tool                    sink     text checked
======================  =======  =======================================================
``tool::file_write``    file     the path and the content (base64 decoded)
``tool::shell_exec``    shell    the command line and the cwd
``tool::code_exec``     exec     the module (WAT, or the binary's bytes) and the input
``tool::http_request``  http     method, URL, headers and body
``tool::web_fetch``     http     the URL
``tool::web_search``    http     the query
``tool::memory_store``  file     content, tags and scope (the agents' persistent store)
``tool::agent_send``    llm      the message (it becomes a prompt of the recipient's run)
``tool::agent_spawn``   llm      name, description and system prompt (the new agent's prompts)
======================  =======  =======================================================

The labels checked are the run's — the call's metadata ``taint`` (see :mod:`.identity`) plus
the ``taint:<label>`` tags of the caller's agent record (:func:`record_taint`) — and those the
detector finds in the text. Under today's policy: ``untrusted`` blocks shell and exec,
``secret`` blocks every sink, ``pii`` blocks http (and log): an API key in a request body or a
file is refused, an e-mail address in a file is not.

The verdict comes from ``taint::enforce {sink, labels, text}`` when the security worker is
registered: it answers like ``taint::check`` or fails ``forbidden``. Only ``function_not_found``
falls back to the local check — the same policy table and detector, imported from
``workers.security`` (pure code). Any other failure of the call, a timeout, or an answer of
another shape refuses with ``forbidden`` (fail closed). A label the policy does not know blocks
every sink, and is refused here without asking.

What is not tracked: labels do not stick to stored data. A run that read a web page may write
it to a file or to memory (``untrusted`` does not block ``file``), and a later, clean run that
reads it back is not tainted — file reads and memory recall declare no ``output_taint``, since
the workspace and memory hold what agents wrote and tainting every reader would shut the shell
to nearly every run. Taint does travel through agents (see :mod:`.agents`).

A refusal is :class:`~.errors.Tainted` (code ``tainted``): it names the sink, why, the labels
and the kinds of what was found — never the value — e.g. ``shell is blocked: this run has read
untrusted content (labels: untrusted)``. The tools' logs never carry tool content raw: they
log sizes, labels and kinds (:mod:`.redaction`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import anyio
import anyio.to_thread

from workers.sdk import Context, FunctionNotFound, InvocationError
from workers.security.pii import Finding, detect
from workers.security.taint import LABELS, MAX_TEXT_CHARS, Sink, blocking

from .config import ToolsConfig
from .errors import Forbidden, Tainted, TooLarge
from .identity import LABEL, Caller
from .policy import Policy
from .redaction import loggable

__all__ = ["ENFORCE", "Gate", "Sink", "as_text", "record_taint", "refusal"]

log = logging.getLogger(__name__)

ENFORCE = "taint::enforce"
THREAD_ABOVE_CHARS = 65_536
_KNOWN = frozenset(LABELS)
_RUN_REASON = {
    "untrusted": "this run has read untrusted content",
    "secret": "this run has handled secret data",
    "pii": "this run has handled personal data",
}
_CONTENT_REASON = {"secret": "a secret", "pii": "personal data"}


def as_text(data: bytes) -> str:
    """Bytes as text for the detector: UTF-8, else one character per byte (latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def record_taint(record: dict[str, Any] | None) -> frozenset[str]:
    """The labels of the ``taint:<label>`` tags of an agent record (see ``tool::agent_spawn``)."""
    tags = record.get("tags") if isinstance(record, dict) else None
    return frozenset(tag[6:] for tag in tags if isinstance(tag, str) and tag.startswith("taint:")
                     and LABEL.fullmatch(tag[6:])) if isinstance(tags, list) else frozenset()


def refusal(sink: str, run: Iterable[str], findings: Sequence[Finding], what: str) -> str | None:
    """Why the policy keeps this text from ``sink``, or None when it does not (pure).

    Args:
        sink: the sink the text is bound for.
        run: the run's labels.
        findings: what the detector found in the text.
        what: the text, as the message names it ("the request", "the file content").
    """
    run_blocking = blocking(run, sink)
    kinds: dict[str, set[str]] = {}
    for finding in findings:
        kinds.setdefault(finding.label, set()).add(finding.kind)
    content_blocking = blocking(kinds, sink)
    if not run_blocking and not content_blocking:
        return None
    reasons = [_RUN_REASON.get(label, f"this run carries the unknown taint label {label!r}, "
                               "which blocks every sink") for label in run_blocking]
    reasons += [f"{what} contains {_CONTENT_REASON[label]} ({', '.join(sorted(kinds[label]))})"
                for label in content_blocking]
    labels = sorted(set(run_blocking) | set(content_blocking))
    return f"{sink} is blocked: {'; '.join(reasons)} (labels: {', '.join(labels)})"


async def _detect(text: str) -> list[Finding]:
    if len(text) > THREAD_ABOVE_CHARS:
        return await anyio.to_thread.run_sync(detect, text)
    return detect(text)


class Gate:
    """The taint check of the sink tools over one config."""

    def __init__(self, config: ToolsConfig) -> None:
        self.config = config

    async def labels(self, ctx: Context, caller: Caller, policy: Policy | None = None) -> frozenset[str]:
        """The run's labels: the metadata's ``taint`` and the record's ``taint:`` tags.

        Raises:
            Forbidden: the agent record could not be read.
        """
        record = await (policy or Policy(self.config, ctx, caller)).record()
        return caller.taint | record_taint(record)

    async def enforce(self, ctx: Context, caller: Caller, sink: Sink, text: str, *, what: str,
                      policy: Policy | None = None) -> None:
        """Refuse unless the policy lets this run's ``text`` reach ``sink``.

        Call it after a tool's arguments are valid and before it acts.

        Args:
            what: how a refusal names the text ("the command line").
            policy: the call's :class:`~.policy.Policy`, when the tool has one (its record is
                read once).

        Raises:
            Tainted: the policy keeps the run's labels or the text from ``sink``.
            Forbidden: the security worker is registered but the check failed (fail closed),
                or the agent record could not be read.
            TooLarge: the text is longer than the detector takes.
        """
        if len(text) > MAX_TEXT_CHARS:
            raise TooLarge(f"{what} is too large to check for secrets ({len(text)} characters; "
                           f"the limit is {MAX_TEXT_CHARS})")
        run = await self.labels(ctx, caller, policy)
        if run - _KNOWN:  # the security worker would not take them: refuse here
            self._refuse(caller, sink, run, [], text, what, fallback=f"{sink} is blocked")
        if not await self._remote(ctx, caller, sink, run, text, what):
            self._refuse(caller, sink, run, await _detect(text), text, what)

    async def _remote(self, ctx: Context, caller: Caller, sink: Sink, run: frozenset[str],
                      text: str, what: str) -> bool:
        """True when the security worker allowed it; False when it is absent (decide locally)."""
        payload: dict[str, Any] = {"sink": sink, "labels": sorted(run), "text": text}
        timeout = self.config.call_timeout_s
        answer: Any = None
        with anyio.move_on_after(timeout) as scope:
            try:
                answer = await ctx.trigger(ENFORCE, payload, timeout=timeout)
            except FunctionNotFound:
                return False
            except InvocationError as exc:
                if exc.code == "forbidden":
                    findings = await _detect(text)
                    self._refuse(caller, sink, run, findings, text, what,
                                 fallback=f"{sink} is blocked by the taint policy: {exc.message}")
                log.warning("%s failed (%s) for agent %s at sink %s; refusing", ENFORCE, exc.code,
                            caller.agent_id, sink)
                raise Forbidden(f"the taint check failed ({exc.code}); {sink} refused") from exc
        if scope.cancelled_caught:
            raise Forbidden(f"the taint check timed out; {sink} refused")
        if not isinstance(answer, dict) or answer.get("allowed") is not True:
            log.warning("%s answered %s for agent %s at sink %s; refusing", ENFORCE,
                        loggable(answer), caller.agent_id, sink)
            raise Forbidden(f"the taint check answered in an unknown shape; {sink} refused")
        return True

    def _refuse(self, caller: Caller, sink: str, run: Iterable[str], findings: Sequence[Finding],
                text: str, what: str, *, fallback: str | None = None) -> None:
        """Raise :class:`Tainted` if the policy blocks (always, when ``fallback`` is given)."""
        message = refusal(sink, run, findings, what) or fallback
        if message is None:
            return
        log.info("tainted: agent %s, sink %s, run labels %s, found %s in %d characters",
                 caller.agent_id, sink, sorted(run), sorted({f.kind for f in findings}), len(text))
        raise Tainted(message)
