"""The channels worker: HTTP routes in, the queue in between, platform APIs out.

``ChannelsService(config)`` is used as ``async with``: leaving it shuts the Telegram clients
down. ``service.worker()`` is the :class:`~workers.sdk.Worker` to serve; with a connection,
``await tg.start(service.serve_polling, conn)`` starts the long-polling loops of the Telegram
bots configured with ``polling: true`` (``python -m workers.channels`` does both).

Functions::

    channels::slack::events         POST /channels/slack/events
    channels::telegram::webhook     POST /channels/telegram/webhook/:bot
    channels::discord::interactions POST /channels/discord/interactions
    channels::webhook::receive      POST /channels/webhook/:hook_id
    channels::process               {key} — the queued step (see .process)
    channels::approval_requested    subscribe approval.requested
    channels::run_finished          {key, run_id, status, result | error} — queued by agent-core
    channels::route::set            {platform, account?, chat_id, agent_id|null}
    channels::inbound::get          {key} → the inbound record

Every inbound handler verifies first (401, no side effect), then records and enqueues (see
:mod:`.base`), then acknowledges: the agent never runs inside the webhook call.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from anyio.abc import TaskStatus

from workers.sdk import Context, FunctionDef, TriggerBinding, Worker, function

from . import discord, slack, telegram, webhook
from .base import (
    INBOUND_SCOPE,
    Caller,
    Inbound,
    Secrets,
    http_reply,
    ingest,
    lower_headers,
    read_raw_body,
)
from .config import ChannelsConfig
from .errors import BadPayload, Unauthenticated
from .process import Processor
from .router import ROUTES_SCOPE, route_key

__all__ = ["ChannelsService", "build_worker"]

log = logging.getLogger(__name__)

WORKER_NAME = "channels"
UNAUTHORIZED = http_reply(401, {"error": "unauthorized"})


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadPayload("the body is not JSON") from exc


class ChannelsService:
    """The service behind the worker.

    Args:
        config: the settings (secrets, routes, approvers).
        clock: epoch seconds (signature windows, record times).
        queue: the engine queue ``channels::process`` jobs go to.
    """

    def __init__(self, config: ChannelsConfig, *, clock: Callable[[], float] = time.time,
                 queue: str = "default") -> None:
        self.config, self.clock, self.queue = config, clock, queue
        self.secrets = Secrets()
        timeout = config.http_timeout_s
        self.slack = slack.SlackPlatform(config.slack, self.secrets, timeout)
        self.telegram = telegram.TelegramPlatform(config.telegram, self.secrets, timeout)
        self.discord = discord.DiscordPlatform(config.discord, self.secrets, timeout)
        self.webhook = webhook.WebhookPlatform(config.webhooks, self.secrets, timeout, clock)
        self.processor = Processor({"slack": self.slack, "telegram": self.telegram,
                                    "discord": self.discord, "webhook": self.webhook},
                                   config.agent_timeout_s)

    async def __aenter__(self) -> ChannelsService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.telegram.aclose()

    async def _accept(self, ctx: Context, message: Inbound | None) -> None:
        if message is not None:
            await ingest(ctx, message, queue=self.queue)

    # -- inbound ---------------------------------------------------------------------------

    async def slack_events(self, req: Any, ctx: Context) -> dict[str, Any]:
        cfg = self.config.slack
        raw, headers = await read_raw_body(ctx, req), lower_headers(req)
        try:
            if cfg is None:
                raise Unauthenticated("Slack is not configured")
            secret = await self.secrets.reveal(ctx, cfg.signing_secret)
            slack.verify(secret, headers, raw, self.clock(), cfg.max_skew_s)
            found = slack.parse_event(_json(raw), self.clock())
        except Unauthenticated as exc:
            log.warning("slack: refused an event: %s", exc)
            return UNAUTHORIZED
        except BadPayload as exc:
            return http_reply(400, {"error": str(exc)})
        if isinstance(found, slack.Challenge):
            return http_reply(200, {"challenge": found.challenge})
        await self._accept(ctx, found)
        return http_reply(200, {"ok": True})

    async def telegram_webhook(self, req: Any, ctx: Context) -> dict[str, Any]:
        bot = str((req.get("path_params") or {}).get("bot", ""))
        cfg = self.config.telegram.bots.get(bot)
        raw, headers = await read_raw_body(ctx, req), lower_headers(req)
        try:
            expected = await self.secrets.reveal(ctx, cfg.secret_token) if cfg and cfg.secret_token else None
            telegram.verify(expected, headers)
            found = telegram.parse_update(bot, _json(raw), self.clock())
        except Unauthenticated as exc:
            log.warning("telegram %s: refused an update: %s", bot, exc)
            return UNAUTHORIZED
        except BadPayload as exc:
            return http_reply(400, {"error": str(exc)})
        await self._accept(ctx, found)
        return http_reply(200, {"ok": True})

    async def discord_interactions(self, req: Any, ctx: Context) -> dict[str, Any]:
        cfg = self.config.discord
        raw, headers = await read_raw_body(ctx, req), lower_headers(req)
        try:
            if cfg is None:
                raise Unauthenticated("Discord is not configured")
            discord.verify(cfg.public_key, headers, raw, self.clock(), cfg.max_skew_s)
            found = discord.parse_interaction(_json(raw), self.clock())
        except Unauthenticated as exc:
            log.warning("discord: refused an interaction: %s", exc)
            return UNAUTHORIZED
        except BadPayload as exc:
            return http_reply(400, {"error": str(exc)})
        if found == "ping":
            return http_reply(200, discord.PONG)
        if found is None:
            return http_reply(400, {"error": "unsupported interaction type"})
        await self._accept(ctx, found)
        return http_reply(200, discord.DEFERRED)

    async def webhook_receive(self, req: Any, ctx: Context) -> dict[str, Any]:
        hook_id = str((req.get("path_params") or {}).get("hook_id", ""))
        cfg = self.config.webhooks.get(hook_id)
        raw, headers = await read_raw_body(ctx, req), lower_headers(req)
        try:
            if cfg is None:
                raise Unauthenticated(f"no webhook {hook_id!r}")
            secret = await self.secrets.reveal(ctx, cfg.secret)
            webhook.verify(secret, headers, raw, self.clock(), cfg.max_skew_s)
            found = webhook.parse_body(hook_id, headers.get("x-agentos-delivery"), raw, self.clock())
        except Unauthenticated as exc:
            log.warning("webhook %s: refused a delivery: %s", hook_id, exc)
            return UNAUTHORIZED
        except BadPayload as exc:
            return http_reply(400, {"error": str(exc)})
        await self._accept(ctx, found)
        return http_reply(202, {"accepted": True, "delivery_id": found.source_id})

    # -- management ------------------------------------------------------------------------

    async def set_route(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``channels::route::set {platform, account?, chat_id, agent_id}`` (null agent: remove)."""
        if not isinstance(data, Mapping) or not data.get("platform") or not data.get("chat_id"):
            raise BadPayload("platform and chat_id are required")
        platform = str(data["platform"])
        key = route_key(platform, str(data.get("account") or platform), str(data["chat_id"]))
        agent = data.get("agent_id")
        if agent:
            await ctx.trigger("state::set", {"scope": ROUTES_SCOPE, "key": key, "value": str(agent)})
        else:
            await ctx.trigger("state::delete", {"scope": ROUTES_SCOPE, "key": key})
        return {"key": key, "agent_id": agent or None}

    async def get_inbound(self, data: Any, ctx: Context) -> Any:
        """``channels::inbound::get {key}`` → the record (status, answer, …) or null."""
        key = str(data.get("key")) if isinstance(data, Mapping) else ""
        return await ctx.trigger("state::get", {"scope": INBOUND_SCOPE, "key": key})

    # -- polling ---------------------------------------------------------------------------

    async def serve_polling(self, caller: Caller, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the long-polling loop of every ``polling: true`` bot until cancelled."""
        async with anyio.create_task_group() as tg:
            for name, bot in self.config.telegram.bots.items():
                if bot.polling:
                    await tg.start(self.telegram.poll, caller, name, self.clock)
            task_status.started()

    # -- the worker ------------------------------------------------------------------------

    def worker(self) -> Worker:
        """The worker: every function above and its HTTP/pubsub bindings."""

        def define(function_id: str, handler: Any, description: str) -> FunctionDef:
            async def serve(data: Any, ctx: Context) -> Any:
                return await handler(data, ctx)
            serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
            return FunctionDef.of(function(function_id, description=description)(serve))

        def http(function_id: str, path: str) -> TriggerBinding:
            return TriggerBinding("http", function_id, {"api_path": path, "http_method": "POST"})

        p = self.processor
        return Worker(WORKER_NAME, description="Slack, Telegram, Discord and webhook channels", functions=[
            define("channels::slack::events", self.slack_events, "Slack Events API endpoint"),
            define("channels::telegram::webhook", self.telegram_webhook, "Telegram webhook endpoint"),
            define("channels::discord::interactions", self.discord_interactions, "Discord interactions endpoint"),
            define("channels::webhook::receive", self.webhook_receive, "Signed generic webhook endpoint"),
            define("channels::process", p.process, "Run a recorded inbound message and reply (queued)"),
            define("channels::approval_requested", p.approval_requested, "Post approval requests in their chat"),
            define("channels::run_finished", p.run_finished,
                   "Send the answer of a run that paused for approval, once it finished (queued)"),
            define("channels::route::set", self.set_route, "Route a chat to an agent (null: remove)"),
            define("channels::inbound::get", self.get_inbound, "An inbound message record"),
        ], triggers=[
            http("channels::slack::events", "/channels/slack/events"),
            http("channels::telegram::webhook", "/channels/telegram/webhook/:bot"),
            http("channels::discord::interactions", "/channels/discord/interactions"),
            http("channels::webhook::receive", "/channels/webhook/:hook_id"),
            TriggerBinding("subscribe", "channels::approval_requested", {"topic": "approval.requested"}),
        ])


def build_worker(config: ChannelsConfig | None = None) -> Worker:
    """The worker with ``config`` (default: ``ChannelsConfig.load()``); no polling loops."""
    return ChannelsService(config or ChannelsConfig.load()).worker()
