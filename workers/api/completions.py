"""``POST /v1/chat/completions``: a provider model through ``llm::complete``, or an agent run.

* ``model: "agent:<name>"`` → ``agent::chat {agent_id, messages}`` with the *whole* message
  history (text content; the agent adds its own system prompt and runs its own tools). The
  answer is a normal ``chat.completion`` whose content is the agent's answer and whose usage
  covers every model call of the run.
* any other model (an alias such as ``default``, ``auto``, or ``provider/model``) →
  ``llm::complete`` with the messages untouched and ``tools``/``tool_choice`` and the sampling
  options passed through; tool calls come back exactly as the provider returned them.

With ``stream: true`` the call streams into a channel and the chunks are relayed as SSE while
they arrive (:mod:`workers.api.streaming`). The realm is the caller's: every call out goes
through the handler's context, which carries the realm of the request's credential.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from workers.sdk import Context, InvocationError

from .config import ApiConfig
from .errors import ApiError, ModelNotFound, from_invocation
from .exchange import HttpRequest, json_body, reply
from .relay import AgentRelay, LlmRelay, Relay
from .schema import ChatRequest, parse_chat
from .shapes import completion_from_agent, completion_from_llm, completion_id
from .streaming import stream_completion

__all__ = ["AGENT_CHAT", "AGENT_NAME", "LLM_COMPLETE", "Completions"]

LLM_COMPLETE = "llm::complete"
AGENT_CHAT = "agent::chat"
AGENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""What agent-core accepts as an agent id; anything else cannot name an agent (→ 404)."""


class Completions:
    """The chat completions endpoint.

    Args:
        config: timeouts.
        wall_clock: epoch seconds, for ``created`` of agent answers.
    """

    def __init__(self, config: ApiConfig, wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.wall_clock = wall_clock

    async def handle(self, request: HttpRequest, ctx: Context) -> dict[str, Any] | None:
        """Answer one request (None when the answer was streamed).

        Raises:
            ApiError: a bad body, an unknown model, or a failure of the worker called.
        """
        chat = parse_chat(json_body(request))
        if chat.agent is not None:
            return await self._agent(chat, chat.agent, request, ctx)
        return await self._llm(chat, request, ctx)

    async def _llm(self, chat: ChatRequest, request: HttpRequest, ctx: Context) -> dict[str, Any] | None:
        payload = chat.llm_payload()
        if chat.stream:
            relay = LlmRelay(chat.include_usage)
            await self._stream(LLM_COMPLETE, payload, relay, chat, request, ctx, self.config.llm_timeout_s)
            return None
        result = await self._call(ctx, LLM_COMPLETE, payload, self.config.llm_timeout_s, chat.model)
        return reply(completion_from_llm(result))

    async def _agent(self, chat: ChatRequest, name: str, request: HttpRequest,
                     ctx: Context) -> dict[str, Any] | None:
        if not AGENT_NAME.fullmatch(name):
            raise ModelNotFound(chat.model, "Agent names match ^[a-z0-9][a-z0-9_-]{0,63}$.")
        payload = {"agent_id": name, "messages": chat.agent_messages()}
        cid, created = completion_id(), int(self.wall_clock())
        if chat.stream:
            relay = AgentRelay(chat.include_usage, {"id": cid, "created": created, "model": chat.model})
            await self._stream(AGENT_CHAT, payload, relay, chat, request, ctx, self.config.agent_timeout_s)
            return None
        result = await self._call(ctx, AGENT_CHAT, payload, self.config.agent_timeout_s, chat.model)
        return reply(completion_from_agent(result, id=cid, created=created, model=chat.model))

    async def _call(self, ctx: Context, function_id: str, payload: dict[str, Any], timeout: float,
                    model: str) -> dict[str, Any]:
        try:
            result = await ctx.trigger(function_id, payload, timeout=timeout)
        except InvocationError as exc:
            raise from_invocation(exc, model=model) from exc
        if not isinstance(result, dict):
            raise ApiError(f"{function_id} answered no completion", status=502, type="upstream_error",
                           code="bad_response")
        return result

    async def _stream(self, function_id: str, payload: dict[str, Any], relay: Relay, chat: ChatRequest,
                      request: HttpRequest, ctx: Context, timeout: float) -> None:
        if request.response is None:
            raise ApiError("this request has no response channel to stream to", code="no_response_channel")
        await stream_completion(ctx, function_id=function_id, payload=payload, relay=relay,
                                response_ref=request.response, timeout=timeout,
                                drain_timeout=self.config.drain_timeout_s, model=chat.model)
