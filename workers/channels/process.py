"""``channels::process``: one recorded message → at most one agent run → the reply, in pieces.

See :mod:`.base` for the record's life cycle. Here: the claimed message is either an approval
command (:mod:`.approvals`) or goes to its agent (:mod:`.router`), whose ``content`` is stored
as the answer and then sent, split at the platform's limit, to the chat/thread it came from.
Every outcome is a reply: no agent → the explicit "No agent is configured…" text; a failed run
→ "The agent … could not answer". A failed *send* raises (``platform_error``) and the queue
retries the job, which then only sends the pieces not yet sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from workers.sdk import InvocationError

from . import approvals
from .base import SESSIONS_SCOPE, Caller, Destination, Inbound, Platform, claim, save
from .errors import PlatformError
from .replies import split
from .router import ROUTES_SCOPE, no_agent_text, resolve, route_key
from .webhook import WebhookPlatform

__all__ = ["Processor"]

log = logging.getLogger(__name__)


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
        message = await claim(ctx, key)
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
            result = await ctx.trigger("agent::chat", {"agent_id": agent, "message": message.text,
                                                       "session_id": dest.session_id},
                                       timeout=self.agent_timeout_s)
        except InvocationError as exc:
            log.warning("channels: agent %s failed on %s: %s %s", agent, message.key, exc.code, exc.message)
            return f"The agent {agent} could not answer ({exc.code}): {exc.message[:300]}"
        content = result.get("content") if isinstance(result, Mapping) else None
        return content if isinstance(content, str) and content.strip() else "(the agent gave no answer)"

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
