"""Calling ``llm::complete`` and reading its answer.

The contract (llm-router)::

    llm::complete {model, messages, tools?, tool_choice?, temperature?, max_tokens?, stream?,
                   stream_to?: <channel writer ref>, agent_id?}
      → an OpenAI chat.completion dict (+ cost_usd, provider, alias)

When a run streams, agent-core creates a channel of its own for each model call, hands its writer
to ``llm::complete`` (``stream: true``) and reads the reader end *while* the call is in flight,
forwarding content chunks to the run's caller as they arrive (see :mod:`.stream`). The call still
returns the aggregate completion, which is what the loop acts on. The answer is validated once,
here, into :class:`Completion`; past this module no code reads the raw dict.

Errors of ``llm::complete`` (``budget_exceeded``, ``llm_upstream_error``, ``timeout``…) propagate
unchanged: they end the run with that code.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workers.sdk import ChannelError as SdkChannelError
from workers.sdk import ChannelReader, Context

from .errors import LlmBadResponse
from .spec import describe_errors
from .stream import ChannelRef, RunStream, content_chunk

__all__ = ["Completion", "Usage", "ToolCallOut", "complete"]

log = logging.getLogger(__name__)

LLM_COMPLETE = "llm::complete"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionCallOut(_Lenient):
    name: str = ""
    arguments: str | dict[str, Any] | None = ""

    def arguments_text(self) -> str:
        """The arguments as the JSON text the model wrote (a dict is encoded)."""
        if isinstance(self.arguments, dict):
            return json.dumps(self.arguments, ensure_ascii=False)
        return self.arguments or ""


class ToolCallOut(_Lenient):
    id: str | None = None
    type: str = "function"
    function: FunctionCallOut = Field(default_factory=FunctionCallOut)


class MessageOut(_Lenient):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCallOut] | None = None


class Choice(_Lenient):
    index: int = 0
    message: MessageOut = Field(default_factory=MessageOut)
    finish_reason: str | None = None


class Usage(_Lenient):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class Completion(_Lenient):
    """The part of a chat.completion the loop uses."""

    id: str | None = None
    model: str | None = None
    choices: list[Choice] = Field(min_length=1)
    usage: Usage | None = None
    cost_usd: float | None = None
    provider: str | None = None
    alias: str | None = None

    @property
    def message(self) -> MessageOut:
        return self.choices[0].message

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason


def _parse(raw: Any) -> Completion:
    try:
        return Completion.model_validate(raw)
    except ValidationError as exc:
        raise LlmBadResponse(f"llm::complete answered no usable completion: {describe_errors(exc)}") from exc


async def complete(
    ctx: Context,
    request: dict[str, Any],
    *,
    timeout: float,
    stream: RunStream,
    source: Context | str,
    drain_timeout: float,
) -> Completion:
    """One model call; streamed through ``stream`` when it is enabled.

    Args:
        request: the ``llm::complete`` payload, without ``stream``/``stream_to``.
        timeout: seconds to wait for the answer.
        source: where channel ends are opened: the context (its engine) or an engine URL.
        drain_timeout: after the answer, how long to wait for the last chunks on our channel
            (bounds a router that answered but never opened the channel).

    Raises:
        InvocationError: ``llm::complete`` failed (its code is kept).
        LlmBadResponse: the answer is not a chat completion.
    """
    if not stream.enabled:
        return _parse(await ctx.trigger(LLM_COMPLETE, request, timeout=timeout))
    refs = await ctx.trigger("engine::channels::create", {})
    writer = ChannelRef.model_validate(refs["writer"])
    reader = ChannelReader.from_ref(source, refs["reader"])
    drained = anyio.Event()

    async def pump() -> None:
        try:
            async for frame in reader:
                chunk = content_chunk(frame)
                if chunk is not None:
                    await stream.chunk(chunk)
        except SdkChannelError as exc:  # streaming is best effort: the aggregate answer counts
            log.warning("lost the stream of llm::complete: %s", exc)
        finally:
            drained.set()
            with anyio.CancelScope(shield=True):  # bounded by the SDK's close timeout
                await reader.aclose()

    raw: Any = None
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(pump)
        try:
            raw = await ctx.trigger(
                LLM_COMPLETE,
                {**request, "stream": True, "stream_to": writer.model_dump()},
                timeout=timeout,
            )
            with anyio.move_on_after(drain_timeout):
                await drained.wait()
        except Exception as exc:  # re-raised below, unwrapped from the task group's group
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return _parse(raw)
