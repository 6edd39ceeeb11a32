"""``channels::process``: one recorded message → at most one agent run → the reply, in pieces.

See :mod:`.base` for the record's life cycle. Here: the claimed message is either an approval
command (:mod:`.approvals`) or goes to its agent (:mod:`.router`), whose ``content`` is stored
as the answer and then sent, split at the platform's limit, to the chat/thread it came from.
Every outcome is a reply: no agent → the explicit "No agent is configured…" text; a failed run
→ "The agent … could not answer". A failed *send* raises (``platform_error``) and the queue
retries the job, which then only sends the pieces not yet sent.

**Runs that pause for approval.** ``agent::chat`` is called with ``notify:
{function_id: "channels::run_finished", data: {key}}``. A run that pauses answers at once with
its pending approvals; the reply is then the approval notice (``approve <id>`` / ``reject
<id>``), in the same thread. An approver's ``approve`` in that chat decides it; when the run has
finished (or paused again), agent-core queues ``channels::run_finished {key, run_id, status,
iterations, result | error}`` and the answer goes to the chat of message ``key`` as a follow-up
record ``<key>:<run_id>:<iterations>`` with the same life cycle (recorded once by compare-and-set, sent piece by piece, retried by the queue).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from workers.sdk import InvocationError

from . import approvals
from .base import INBOUND_SCOPE, SESSIONS_SCOPE, Caller, Destination, Inbound, Platform, claim, save
from .errors import PlatformError
from .replies import split
from .router import ROUTES_SCOPE, no_agent_text, resolve, route_key
from .webhook import WebhookPlatform

__all__ = ["FINISHED_FUNCTION", "Processor"]

log = logging.getLogger(__name__)

FINISHED_FUNCTION = "channels::run_finished"


def _content(result: Any) -> str:
    content = result.get("content") if isinstance(result, Mapping) else None
    return content if isinstance(content, str) and content.strip() else "(the agent gave no answer)"


class Processor:
    """Runs ``channels::process`` and ``channels::approval_requested``.

    Args:
        platforms: the outbound side of each platform, by name.
        agent_timeout_s: deadline of one ``agent::chat`` call.
    """

    def __init__(self, platforms: Mapping[str, Platform], agent_timeout_s: float) -> None:
        self.platforms, self.agent_timeout_s = platforms, agent_timeout_s

    async def process(self, data: Any, ctx: Caller) -> dict[str, Any]:
        """``channels::process {key}`` → ``{key, status, agent_id?}``.

        Raises:
            InvocationError: ``platform_error`` when the reply could not be sent (retried).
        """
        key = str(data.get("key")) if isinstance(data, Mapping) else ""
        queued = data.get("_queue") if isinstance(data, Mapping) else None
        job = queued.get("message_id") if isinstance(queued, Mapping) else None
        message = await claim(ctx, key, str(job) if job else None)
        if message is None:
            return {"key": key, "status": "skipped"}
        if message.status == "processing":
            message = await self._answer(ctx, message)
        await self._deliver(ctx, message)
        return {"key": key, "status": "replied", "agent_id": message.agent_id}

    async def _agent_for(self, ctx: Caller, dest: Destination, platform: Platform) -> str | None:
        if isinstance(platform, WebhookPlatform):
            return platform.agent(dest.account)
        override = await ctx.trigger("state::get", {
            "scope": ROUTES_SCOPE, "key": route_key(dest.platform, dest.account, dest.chat_id)})
        return resolve(platform.route(dest.account), dest.chat_id, override if isinstance(override, str) else None)

    async def _answer(self, ctx: Caller, message: Inbound) -> Inbound:
        dest = message.dest
        platform = self.platforms[dest.platform]
        command = approvals.parse_command(message.text)
        agent: str | None = None
        if command is not None:
            text = await approvals.decide(ctx, platform.route(dest.account), message, command,
                                          platform.config_path(dest.account))
        else:
            agent = await self._agent_for(ctx, dest, platform)
            if agent is None:
                text = no_agent_text(platform.config_path(dest.account))
            else:
                text = await self._chat(ctx, agent, message)
        answered = message.model_copy(update={"status": "answered", "answer": text, "agent_id": agent})
        await save(ctx, answered)
        return answered

    async def _chat(self, ctx: Caller, agent: str, message: Inbound) -> str:
        dest = message.dest
        session = Destination(platform=dest.platform, account=dest.account, chat_id=dest.chat_id,
                              thread_id=dest.thread_id)  # no reply_to, no interaction token
        await ctx.trigger("state::set", {"scope": SESSIONS_SCOPE, "key": dest.session_id,
                                         "value": session.model_dump(mode="json")})
        try:
            result = await ctx.trigger("agent::chat", {
                "agent_id": agent, "message": message.text, "session_id": dest.session_id,
                "notify": {"function_id": FINISHED_FUNCTION, "data": {"key": message.key}},
            }, timeout=self.agent_timeout_s)
        except InvocationError as exc:
            log.warning("channels: agent %s failed on %s: %s %s", agent, message.key, exc.code, exc.message)
            return f"The agent {agent} could not answer ({exc.code}): {exc.message[:300]}"
        if isinstance(result, Mapping) and result.get("status") == "paused":
            return approvals.paused_text(agent, result.get("approvals"))
        return _content(result)

    async def run_finished(self, data: Any, ctx: Caller) -> dict[str, Any]:
        """``channels::run_finished {key, run_id, status, result | error}`` (queued by agent-core
        when a run that paused has ended): the answer goes to the chat of message ``key``.

        Raises:
            InvocationError: ``platform_error`` when the reply could not be sent (retried).
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("key"), str) \
                or not isinstance(data.get("run_id"), str):
            raise InvocationError("invalid_arguments", "need {key, run_id, status, result | error}")
        origin = await ctx.trigger("state::get", {"scope": INBOUND_SCOPE, "key": data["key"]})
        if not isinstance(origin, Mapping):
            log.warning("channels: run %s finished for unknown message %s", data["run_id"], data["key"])
            return {"key": data["key"], "status": "unknown_message"}
        first = Inbound.model_validate(origin)
        if data.get("status") == "paused":  # paused again: a new round of approvals to ask for
            text = approvals.paused_text(first.agent_id, (data.get("result") or {}).get("approvals"))
        elif data.get("status") == "completed":
            text = _content(data.get("result"))
        else:
            error = data.get("error") if isinstance(data.get("error"), Mapping) else {}
            text = (f"The agent {first.agent_id} could not finish ({error.get('code', 'failed')}): "
                    f"{str(error.get('message', ''))[:300]}")
        follow = first.model_copy(update={
            "source_id": f"{first.source_id}:{data['run_id']}:{data.get('iterations', 0)}", "text": "", "status": "answered",
            "answer": text, "sent": 0, "dest": first.dest.model_copy(update={"reply_to": None, "extra": {}})})
        answer = await ctx.trigger("state::cas", {"scope": INBOUND_SCOPE, "key": follow.key,
                                                  "expected": None, "value": follow.model_dump(mode="json")})
        if not (isinstance(answer, Mapping) and answer.get("ok")):
            current = answer.get("current") if isinstance(answer, Mapping) else None
            if not isinstance(current, Mapping):
                raise InvocationError("conflict", f"could not record the answer of run {data['run_id']}")
            follow = Inbound.model_validate(current)
            if follow.status == "replied":
                return {"key": follow.key, "status": "replied"}  # a repeated delivery
        await self._deliver(ctx, follow)
        return {"key": follow.key, "status": "replied"}

    async def _deliver(self, ctx: Caller, message: Inbound) -> None:
        platform = self.platforms[message.dest.platform]
        pieces = split(message.answer or "", platform.limit)
        current = message

        async def progress(sent: int) -> None:
            nonlocal current
            current = current.model_copy(update={"sent": sent})
            await save(ctx, current)

        try:
            await platform.send(ctx, message.dest, pieces, message.sent, progress)
        except PlatformError as exc:
            raise InvocationError("platform_error", str(exc)) from exc
        done_dest = current.dest.model_copy(update={"extra": {}})  # drop the interaction token
        await save(ctx, current.model_copy(update={"status": "replied", "dest": done_dest}))

    async def approval_requested(self, data: Any, ctx: Caller) -> None:
        """``channels::approval_requested``: post the notice in the run's chat, if it is ours."""
        event = approvals.event_of(data)
        if event is None:
            return
        for key in approvals.session_keys(event):
            stored = await ctx.trigger("state::get", {"scope": SESSIONS_SCOPE, "key": key})
            if not isinstance(stored, Mapping):
                continue
            dest = Destination.model_validate(stored)
            platform = self.platforms[dest.platform]
            pieces = split(approvals.notice_text(event), platform.limit)

            async def ignore(sent: int) -> None:
                return None

            try:
                await platform.send(ctx, dest, pieces, 0, ignore)
            except PlatformError as exc:
                log.warning("channels: could not post approval %s to %s: %s", event.approval_id, key, exc)
            return
