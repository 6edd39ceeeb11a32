"""What a streamed completion sends the client, frame by frame. Pure: no I/O, no clock.

A relay reads the JSON text frames a worker writes to our channel and says which SSE bytes go
to the client (:meth:`feed`), then what closes the stream (:meth:`finish`). The I/O shell
(:mod:`workers.api.streaming`) starts the HTTP response at the first bytes a relay yields, so a
call that fails before that is still answered with a proper status code.

:class:`LlmRelay` (provider models, frames from ``llm::complete``): chunks are passed through —
content and tool-call deltas untouched, so tool-call ``index``/``id``/``name``/``arguments``
fragments reach the client exactly as the provider sent them — with ``id``, ``created`` and
``model`` pinned to the first chunk's, ``role: assistant`` guaranteed on the first, and
``usage: null`` on each. Usage frames (``choices: []``) are held back and sent once, last, only
when the client asked for ``include_usage``. A stream without a finishing chunk gets one.

:class:`AgentRelay` (``agent:<name>``, frames from ``agent::chat``): only the *content* of the
model's chunks is relayed, under this request's own id; the run's per-call finishes are dropped
and one final chunk carries the run's finish reason. Tool events become SSE comments
(``: tool_call <function_id> <call id>`` / ``: tool_result <function_id> <call id> ok|error``),
which OpenAI clients skip; tool names and arguments are private to the run and never sent.

Either relay records an error frame (``{"error": …}`` or ``agentos.error``) in :attr:`error`;
the shell turns it into a mid-stream ``data: {"error": …}`` event before ``[DONE]``. When the
worker's stream says all the client needs (the finish and usage, or the run's ``agentos.result``),
:meth:`Relay.stream_result` lets the shell end the response at once, without waiting for the
call's own answer (which comes after the worker's post-processing).
"""

from __future__ import annotations

import abc
import json
import logging
from typing import Any

from .errors import STATUS_OF
from .shapes import DONE, chunk, comment, finish_reason, sse, usage_chunk

__all__ = ["AgentRelay", "LlmRelay", "Relay"]

log = logging.getLogger(__name__)


def _decode(frame: str | bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        log.warning("dropping a non-JSON stream frame")
        return None
    return value if isinstance(value, dict) else None


class Relay(abc.ABC):
    """Common state: the head (``id``, ``created``, ``model``) and whether the client got bytes."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.head: dict[str, Any] | None = None
        self.started = False
        self.error: dict[str, Any] | None = None

    @abc.abstractmethod
    def feed(self, frame: str | bytes) -> bytes:
        """The SSE bytes for one frame of the worker's stream (empty: nothing to send yet)."""

    @abc.abstractmethod
    def finish(self, result: dict[str, Any] | None) -> bytes:
        """The bytes that end the stream: the final and usage chunks, an error event, ``[DONE]``.

        Args:
            result: the call's answer (None when it failed).
        """

    @abc.abstractmethod
    def stream_result(self) -> dict[str, Any] | None:
        """Once the worker's stream has ended: a ``result`` for :meth:`finish` if the stream
        itself said everything (so the call's own answer need not be awaited), else None."""

    def _out(self, data: bytes) -> bytes:
        self.started = self.started or bool(data)
        return data

    def _error_event(self) -> bytes:
        if self.error is None:
            return b""
        err = self.error
        mapping = STATUS_OF.get(str(err.get("code")))
        body = {"message": str(err.get("message") or "the stream failed"),
                "type": mapping.type if mapping is not None else "server_error", "param": None,
                "code": err.get("code")}
        return sse({"error": body})


class LlmRelay(Relay):
    """Relays ``llm::complete`` chunk frames (see the module docstring)."""

    def __init__(self, include_usage: bool) -> None:
        super().__init__(include_usage)
        self.finished = False
        self.usage: Any = None

    def feed(self, frame: str | bytes) -> bytes:
        obj = _decode(frame)
        if obj is None:
            return b""
        if "error" in obj:
            self.error = obj["error"] if isinstance(obj["error"], dict) else {"message": str(obj["error"])}
            return b""
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return b""
        if obj.get("usage") is not None:
            self.usage = obj["usage"]
        if not choices:
            return b""
        if self.head is None:
            self.head = {"id": obj.get("id"), "created": obj.get("created"), "model": obj.get("model")}
        out = {**obj, **self.head, "usage": None}
        fixed = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            raw = choice.get("delta")
            delta: dict[str, Any] = raw if isinstance(raw, dict) else {}
            if not self.started and "role" not in delta:
                delta = {"role": "assistant", **delta}
            self.finished = self.finished or choice.get("finish_reason") is not None
            fixed.append({"logprobs": None, **choice, "delta": delta})
        out["choices"] = fixed
        return self._out(sse(out))

    def finish(self, result: dict[str, Any] | None) -> bytes:
        if self.head is None:
            head = result or {}
            self.head = {"id": head.get("id"), "created": head.get("created"), "model": head.get("model")}
        parts = []
        if result is not None and not self.finished:
            choices = result.get("choices") or [{}]
            delta = {} if self.started else {"role": "assistant", "content": ""}
            parts.append(sse(chunk(self.head, delta, choices[0].get("finish_reason") or "stop")))
        if result is not None and self.include_usage:
            parts.append(sse(usage_chunk(self.head, self.usage or result.get("usage"))))
        parts += [self._error_event(), DONE]
        return self._out(b"".join(parts))

    def stream_result(self) -> dict[str, Any] | None:
        # The router streams every chunk, the finish included, and a usage frame when the
        # upstream sends one; without a finish, or a usage owed to the client, wait for its answer.
        if self.error is not None or not self.finished or (self.include_usage and self.usage is None):
            return None
        return {"choices": [], "usage": self.usage}


class AgentRelay(Relay):
    """Relays ``agent::chat`` stream frames (see the module docstring).

    Args:
        head: this response's ``{id, created, model}`` (the model is ``agent:<name>``).
    """

    def __init__(self, include_usage: bool, head: dict[str, Any]) -> None:
        super().__init__(include_usage)
        self.head = head
        self._role_sent = False
        self.result: dict[str, Any] | None = None

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        if self._role_sent:
            return delta
        self._role_sent = True
        return {"role": "assistant", **delta}

    def feed(self, frame: str | bytes) -> bytes:
        obj = _decode(frame)
        if obj is None:
            return b""
        kind = obj.get("object")
        if kind == "chat.completion.chunk":
            text = "".join(c.get("delta", {}).get("content") or "" for c in obj.get("choices") or []
                           if isinstance(c, dict) and isinstance(c.get("delta"), dict))
            return self._out(sse(chunk(self._head(), self._delta({"content": text})))) if text else b""
        if kind == "agentos.tool_event":
            words = [str(obj.get("event")), str(obj.get("function_id")), str(obj.get("id"))]
            if obj.get("event") == "tool_result":
                words.append("ok" if obj.get("ok") else "error")
            return self._out(comment(" ".join(words)))
        if kind == "agentos.error":
            raw = obj.get("error")
            err: dict[str, Any] = raw if isinstance(raw, dict) else {}
            self.error = {"message": err.get("message"), "code": err.get("code")}
        elif kind == "agentos.result":
            self.result = {k: v for k, v in obj.items() if k != "object"}
        return b""

    def _head(self) -> dict[str, Any]:
        assert self.head is not None
        return self.head

    def finish(self, result: dict[str, Any] | None) -> bytes:
        parts = []
        if result is not None and result.get("status") == "paused" and result.get("content"):
            # the run waits for a human: say so in the stream (the model's text said nothing)
            text = f"\n\n{result['content']}" if self._role_sent else str(result["content"])
            parts.append(sse(chunk(self._head(), self._delta({"content": text}))))
        if result is not None:
            delta = {} if self._role_sent else self._delta({"content": ""})
            parts.append(sse(chunk(self._head(), delta, finish_reason(result.get("finish_reason")))))
            if self.include_usage:
                parts.append(sse(usage_chunk(self._head(), result.get("usage"))))
        parts += [self._error_event(), DONE]
        return self._out(b"".join(parts))

    def stream_result(self) -> dict[str, Any] | None:
        # agent-core ends every stream with the run's result (or an error frame).
        return self.result if self.error is None else None
