"""Fixtures of the api tests: the whole stack in-process, spoken to over real HTTP.

Nothing of ours is mocked. A scenario runs an in-process :class:`engine.node.Node` with iii-http
(port 0), iii-state (memory) and iii-pubsub; the llm-router worker pointed at
:class:`tests.fakes.FakeUpstream` (a real HTTP server speaking the OpenAI API, scripted per test);
agent-core; the api worker; and a tools worker with two real functions — all connected through
our SDK. Tests talk to the HTTP port with the official ``openai`` client, ``httpx`` (raw SSE) or
litellm as a client.

Scripting an agent's tool calls: the model must answer with the tool *names agent-core sent*, so
the test queues a :class:`~tests.fakes.Slow` reply, waits until that request arrived, reads the
names from it (:func:`sent_tools`), fills in the reply and releases it (:func:`reply_with`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anyio  # noqa: E402
import httpx  # noqa: E402
import openai  # noqa: E402
import pytest  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import FakeUpstream, Slow, Text, ToolCalls  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.api import ApiConfig, ApiService  # noqa: E402
from workers.llm_router import LlmConfig, LlmRouter  # noqa: E402
from workers.sdk import Connection, Worker, connect, function  # noqa: E402
from workers.security import SecurityConfig, SecurityService  # noqa: E402

MAX_BODY = 256 * 1024
"""The http module's body limit in these tests (the huge-body test sends more)."""
FAST_RETRY = {"initial_backoff_s": 0.001, "multiplier": 2, "max_backoff_s": 0.004, "jitter": 0,
              "max_retry_after_s": 0.02}
TOKENS = {"tokens": [{"token": "t-worker", "role": "worker"},
                     {"token": "sk-acme", "role": "client", "realm": "acme"},
                     {"token": "sk-beta", "role": "client", "realm": "beta"}]}
"""With ``auth=True``: workers connect as ``worker``; API keys sk-acme / sk-beta are realm-bound."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # litellm runs on asyncio only


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


def llm_config(fake: FakeUpstream | None, **sections: Any) -> LlmConfig:
    """``default`` and ``fast`` → the fake (an OpenAI model litellm can price); none when ``fake`` is None."""
    aliases: dict[str, Any] = {}
    if fake is not None:
        entry = {"model": "openai/gpt-4o-mini", "api_base": fake.base_url, "api_key": "sk-test", "max_retries": 0}
        aliases = {"default": [entry], "fast": [entry]}
    return LlmConfig.model_validate({"aliases": aliases, "retry": FAST_RETRY, "ollama": {"autodetect": False},
                                     "defaults": {"timeout_s": 10}, **sections})


class CityIn(BaseModel):
    city: str


@dataclass
class ToolBox:
    """The tools worker of the tests: two functions, one with ``_`` in its id; what ran is recorded."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def worker(self) -> Worker:
        @function("tools::get_weather", description="Current weather of a city")
        async def get_weather(data: CityIn) -> dict[str, Any]:
            self.calls.append(("tools::get_weather", data.model_dump()))
            return {"city": data.city, "temperature": 21, "sky": "sunny"}

        @function("geo::population", description="Population of a city")
        async def population(data: CityIn) -> dict[str, Any]:
            self.calls.append(("geo::population", data.model_dump()))
            return {"city": data.city, "population": 10_000_000}

        return Worker("api-test-tools", functions=[get_weather, population])


@dataclass
class Stack:
    node: Node
    client: Connection
    fake: FakeUpstream
    tools: ToolBox
    api: ApiService

    @property
    def port(self) -> int:
        return self.node.ports["http"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def openai(self, api_key: str = "sk-anything") -> openai.AsyncOpenAI:
        """The official client on our /v1, without retries (a test sees every status)."""
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0)

    def http(self, api_key: str | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def create_agent(self, **spec: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.trigger("agent::create", spec)
        return result


@asynccontextmanager
async def running(fake: FakeUpstream, *, auth: bool = False, llm: LlmConfig | None = None,
                  api: ApiConfig | None = None, extra: list[Worker] | None = None) -> AsyncIterator[Stack]:
    """The whole stack on a fresh engine; every connection is closed on exit.

    With ``auth``, the test's client connection is realm ``acme``'s and HTTP needs a key. The
    security worker runs too (injection screening, approvals); its key file goes to a temporary directory.
    """
    engine: dict[str, Any] = {"port": 0, **({"auth": TOKENS} if auth else {})}
    node_config = {"engine": engine, "workers": [
        {"name": "iii-http", "config": {"port": 0, "host": "127.0.0.1", "max_body_bytes": MAX_BODY}},
        {"name": "iii-state", "config": {"adapter": {"name": "memory"}}},
        {"name": "iii-pubsub", "config": {}},
    ]}
    core = AgentCore(AgentCoreConfig(agents_dir=None, tool_timeout_s=5.0), templates=TemplateLibrary())
    tools = ToolBox()
    router = LlmRouter(llm or llm_config(fake))
    service = ApiService(api or ApiConfig(rate_limit_per_minute=0))
    token = "t-worker" if auth else None
    with tempfile.TemporaryDirectory() as security_dir:
        security = SecurityService(SecurityConfig(data_dir=Path(security_dir)))
        async with Node(NodeConfig.model_validate(node_config)) as node, \
                connect(node.url, workers=[router.worker()], token=token), \
                connect(node.url, workers=[core.worker()], token=token), \
                connect(node.url, workers=[tools.worker(), *(extra or [])], token=token), \
                connect(node.url, workers=[service.worker()], token=token), \
                connect(node.url, workers=[security.worker()], token=token), \
                connect(node.url, workers=[], name="client", token="sk-acme" if auth else None) as client:
            yield Stack(node, client, fake, tools, service)


@pytest.fixture
async def stack(fake: FakeUpstream) -> AsyncIterator[Stack]:
    async with running(fake) as s:
        yield s


def sent_tools(body: dict[str, Any]) -> dict[str, str]:
    """``{function_id: tool name}`` of a recorded request (each description starts ``<id>: ``)."""
    return {t["function"]["description"].split(": ", 1)[0]: t["function"]["name"]
            for t in body.get("tools") or []}


Reply = ToolCalls | Text
Script = Callable[[dict[str, str]], "Reply | list[Reply]"]


async def reply_with(fake: FakeUpstream, slow: Slow, build: Script) -> None:
    """Once ``slow``'s request arrived, answer it with ``build(names sent in that request)``.

    ``build`` may return a list: the first reply answers ``slow``, the others are queued for the
    following requests (before ``slow`` is released, so no request can overtake them).
    """
    await slow.arrived.wait()
    built = build(sent_tools(fake.chat_requests[-1].body))
    first, *rest = built if isinstance(built, list) else [built]
    fake.script(*rest)
    slow.then = first
    slow.release.set()


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def collect(tg: anyio.abc.TaskGroup, fake: FakeUpstream, build: Script) -> Slow:
    """Queue a :class:`Slow` whose reply ``build`` makes (see :func:`reply_with`); start the filler."""
    slow = Slow(then=Text("placeholder"))
    fake.script(slow)
    tg.start_soon(reply_with, fake, slow, build)
    return slow
