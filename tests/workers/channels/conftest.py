"""Fixtures of the channels tests: a real engine, agents, and fake platforms on loopback.

Nothing of ours is mocked. Each test runs an in-process :class:`engine.node.Node` (sqlite state
in a tmp dir, pubsub, an in-memory queue, the HTTP module on a free port), the llm-router
pointed at :class:`tests.fakes.FakeUpstream`, agent-core, the security worker (approvals), and
the channels worker, all through our SDK. The platforms are :class:`.fakes.FakePlatforms`, a
real HTTP server the real client libraries (slack_sdk, python-telegram-bot, httpx) are pointed
at. Tests post signed requests to the engine's HTTP port and wait on the fake's "message
posted" events.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anyio  # noqa: E402
import httpx  # noqa: E402
import pytest  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import FakeUpstream  # noqa: E402
from tests.fakes.llm_config import fake_llm_config as llm_config  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.channels import ChannelsConfig, ChannelsService  # noqa: E402
from workers.llm_router import LlmRouter  # noqa: E402
from workers.sdk import Connection, TriggerBinding, Worker, connect, function  # noqa: E402
from workers.security import SecurityConfig, SecurityService  # noqa: E402

from .fakes import FakePlatforms  # noqa: E402

SLACK_SECRET = "slack-signing-secret"
TELEGRAM_TOKEN = "123:telegram-test"
TELEGRAM_SECRET = "tg-secret-token"
HOOK_SECRET = "hook-secret"
CALL_TIMEOUT = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # litellm and slack_sdk (aiohttp) run on asyncio only


def channels_config(platforms: FakePlatforms, discord_public_key: str, *, polling: bool = False,
                    **overrides: Any) -> ChannelsConfig:
    base: dict[str, Any] = {
        "slack": {"signing_secret": SLACK_SECRET, "bot_token": "xoxb-test",
                  "api_base": f"{platforms.url}/slack/api/", "default_agent": "helper",
                  "approvers": ["UBOSS"]},
        "telegram": {"bots": {"main": {"token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET,
                                       "api_base": f"{platforms.url}/telegram/bot",
                                       "default_agent": "helper", "approvers": ["7"],
                                       "polling": polling, "poll_timeout_s": 5}}},
        "discord": {"public_key": discord_public_key, "application_id": "app1",
                    "api_base": f"{platforms.url}/discord", "default_agent": "helper"},
        "webhooks": {"ci": {"secret": HOOK_SECRET, "agent": "helper",
                            "callback_url": f"{platforms.url}/callback/ci"}},
        "agent_timeout_s": 20, "http_timeout_s": 10,
    }
    return ChannelsConfig.model_validate({**base, **overrides})


class Watcher:
    """Follows ``channels:inbound`` through the state trigger: the test waits on a record's status."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self._changed = anyio.Event()

    def worker(self) -> Worker:
        @function("test::inbound_changed")
        async def changed(event: Any) -> None:
            value = event.get("new_value") if isinstance(event, dict) else None
            if isinstance(value, dict):
                self.status[str(event.get("key"))] = str(value.get("status"))
                self._changed.set()
                self._changed = anyio.Event()

        return Worker("test-watcher", functions=[changed], triggers=[
            TriggerBinding("state", "test::inbound_changed", {"scope": "channels:inbound"})])

    async def wait(self, key: str, status: str = "replied") -> None:
        while self.status.get(key) != status:
            await self._changed.wait()


@dataclass
class Stack:
    node: Node
    client: Connection
    http: httpx.AsyncClient
    fake: FakeUpstream
    platforms: FakePlatforms
    service: ChannelsService
    discord_key: Ed25519PrivateKey
    watcher: Watcher

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post(path, content=body, headers={"content-type": "application/json", **headers})

    async def inbound(self) -> list[Any]:
        found: list[Any] = await self.client.trigger("state::list", {"scope": "channels:inbound"})
        return found

    async def agent_runs(self) -> int:
        return len(self.fake.chat_requests)


@asynccontextmanager
async def running(tmp_path: Path, *, polling: bool = False, extra: list[Worker] | None = None,
                  **overrides: Any) -> AsyncIterator[Stack]:
    """The whole stack; ``overrides`` replace top-level sections of the channels config; with
    ``polling`` the Telegram bot long-polls the fake; ``extra`` workers join it (tools)."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    node_config = NodeConfig.model_validate({
        "engine": {"port": 0},
        "workers": [
            {"name": "iii-state", "config": {"adapter": {"name": "sqlite", "config": {"path": str(tmp_path / "state.db")}}}},
            {"name": "iii-pubsub", "config": {}},
            {"name": "iii-queue", "config": {"adapter": {"name": "memory"}}},
            {"name": "iii-http", "config": {"port": 0, "host": "127.0.0.1"}},
        ],
    })
    core = AgentCore(AgentCoreConfig(agents_dir=None, tool_timeout_s=5.0), templates=TemplateLibrary())
    security = SecurityService(SecurityConfig(data_dir=tmp_path / "security"))
    watcher = Watcher()
    async with FakeUpstream() as fake, FakePlatforms() as platforms, Node(node_config) as node:
        config = channels_config(platforms, public, polling=polling, **overrides)
        async with ChannelsService(config) as service, \
                connect(node.url, workers=[LlmRouter(llm_config(fake)).worker()]), \
                connect(node.url, workers=[core.worker()]), \
                connect(node.url, workers=[security.worker()]), \
                connect(node.url, workers=[service.worker()]) as channels_conn, \
                connect(node.url, workers=[watcher.worker(), *(extra or [])], name="client") as client, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.ports['http']}", timeout=CALL_TIMEOUT) as http, \
                anyio.create_task_group() as tg:
            await tg.start(service.serve_polling, channels_conn)
            yield Stack(node, client, http, fake, platforms, service, key, watcher)
            tg.cancel_scope.cancel()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running(tmp_path) as s:
        await s.client.trigger("agent::create", {"name": "helper", "system_prompt": "You help."})
        yield s
