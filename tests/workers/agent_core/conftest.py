"""Fixtures of the agent-core tests: a real engine, the real llm-router, agent-core, real tools.

Nothing of ours is mocked. Each scenario runs an in-process :class:`engine.node.Node` (memory
state, pubsub), the llm-router worker pointed at :class:`tests.fakes.FakeUpstream` (a real HTTP
server speaking the OpenAI API, scripted per test), agent-core, and a tools worker with a few real
functions, all connected through our SDK; the test talks to them as a client connection.

Scripting tool calls: the model must answer with the *names agent-core sent*, so a test scripts
a :class:`~tests.fakes.Slow` reply, waits until the request arrived, reads the tool names from the
recorded request (:func:`sent_tools`), then fills in the reply and releases it (:func:`reply_with`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anyio  # noqa: E402
import pytest  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import FakeUpstream, Slow, Text, ToolCall, ToolCalls  # noqa: E402
from tests.fakes.llm_config import fake_llm_config as llm_config  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.llm_router import LlmRouter  # noqa: E402
from workers.sdk import Connection, Context, Worker, connect, function  # noqa: E402

CALL_TIMEOUT = 30.0
"""Deadline of a client's agent::chat call (a bound, never a synchronisation)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # litellm runs on asyncio only


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


class WeatherIn(BaseModel):
    city: str
    unit: str = "C"


@dataclass
class ToolBox:
    """The tools worker of the tests: what ran, with which arguments, and a gate for the slow one."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    """The metadata sidecar each tools::echo_x call carried (who is calling)."""
    slow_started: anyio.Event = field(default_factory=anyio.Event)
    met: anyio.Event = field(default_factory=anyio.Event)

    def worker(self) -> Worker:
        @function("tools::get_weather", description="Current weather of a city")
        async def get_weather(data: WeatherIn) -> dict[str, Any]:
            self.calls.append(("tools::get_weather", data.model_dump()))
            return {"city": data.city, "temperature": 21, "unit": data.unit, "sky": "sunny"}

        @function("math::add_numbers", description="Add two numbers a and b",
                  request_format={"type": "object", "required": ["a", "b"],
                                  "properties": {"a": {"type": "number"}, "b": {"type": "number"}}})
        async def add_numbers(data: dict[str, Any]) -> dict[str, Any]:
            self.calls.append(("math::add_numbers", data))
            return {"sum": data["a"] + data["b"]}

        @function("tools::slow_op", description="Never finishes in time")
        async def slow_op(data: Any, ctx: Context) -> None:
            self.calls.append(("tools::slow_op", data))
            self.slow_started.set()
            await anyio.Event().wait()  # cancelled when the connection closes

        @function("tools::explode", description="Always fails")
        async def explode(data: Any) -> None:
            self.calls.append(("tools::explode", data))
            raise RuntimeError("the tool blew up")

        @function("tools::echo_x")  # no description, no schema
        async def echo(data: Any, ctx: Context) -> Any:
            self.calls.append(("tools::echo_x", data))
            self.metadata.append(dict(ctx.metadata))
            return data

        @function("tools::meet", description="Returns once two calls are in flight at once")
        async def meet(data: Any) -> dict[str, Any]:
            self.calls.append(("tools::meet", data))
            if sum(1 for fid, _ in self.calls if fid == "tools::meet") >= 2:
                self.met.set()
            await self.met.wait()  # a sequential caller would time out here
            return {"met": True}

        return Worker("test-tools",
                      functions=[get_weather, add_numbers, slow_op, explode, echo, meet])


@dataclass
class Stack:
    node: Node
    client: Connection
    fake: FakeUpstream
    tools: ToolBox
    core: AgentCore

    async def chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.trigger("agent::chat", payload, timeout=CALL_TIMEOUT)
        return result

    async def create(self, **spec: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.trigger("agent::create", spec)
        return result


NODE_CONFIG: dict[str, Any] = {
    "engine": {"port": 0},
    "workers": [{"name": "iii-state", "config": {"adapter": {"name": "memory"}}},
                {"name": "iii-pubsub", "config": {}}],
}
TOKENS = {"tokens": [{"token": "t-worker", "role": "worker"},
                     {"token": "t-acme", "role": "client", "realm": "acme"},
                     {"token": "t-beta", "role": "client", "realm": "beta"}]}
"""With ``auth=True``: workers connect as ``worker``; clients are bound to realm acme or beta."""


@asynccontextmanager
async def running(
    fake: FakeUpstream,
    *,
    config: AgentCoreConfig | None = None,
    templates: TemplateLibrary | None = None,
    extra: list[Worker] | None = None,
    auth: bool = False,
) -> AsyncIterator[Stack]:
    """The whole stack on a fresh engine; every connection is closed on exit.

    With ``auth``, ``stack.client`` is a client of realm ``acme`` (see :data:`TOKENS`).
    """
    core = AgentCore(config or AgentCoreConfig(agents_dir=None, tool_timeout_s=5.0),
                     templates=templates if templates is not None else TemplateLibrary())
    tools = ToolBox()
    router = LlmRouter(llm_config(fake))
    node_config = {**NODE_CONFIG, "engine": {"port": 0, **({"auth": TOKENS} if auth else {})}}
    worker_token, client_token = ("t-worker", "t-acme") if auth else (None, None)
    async with Node(NodeConfig.model_validate(node_config)) as node:
        async with connect(node.url, workers=[router.worker()], token=worker_token), \
                connect(node.url, workers=[core.worker()], token=worker_token), \
                connect(node.url, workers=[tools.worker(), *(extra or [])], token=worker_token), \
                connect(node.url, workers=[], name="client", token=client_token) as client:
            yield Stack(node, client, fake, tools, core)


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


async def reply_with(fake: FakeUpstream, slow: Slow, build: Script) -> dict[str, str]:
    """Once ``slow``'s request arrived, answer it with ``build(names sent in that request)``.

    ``build`` may return a list: the first reply answers ``slow``, the others are queued for the
    following requests (before ``slow`` is released, so no request can overtake them).
    """
    await slow.arrived.wait()
    names = sent_tools(fake.chat_requests[-1].body)
    built = build(names)
    first, *rest = built if isinstance(built, list) else [built]
    fake.script(*rest)
    slow.then = first
    slow.release.set()
    return names


async def scripted_chat(stack: Stack, build: Script, payload: dict[str, Any]) -> dict[str, Any]:
    """``agent::chat`` with ``payload``; the model's replies come from ``build`` (see above)."""
    slow = Slow(then=Text("placeholder"))
    stack.fake.script(slow)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reply_with, stack.fake, slow, build)
        result = await stack.chat(payload)
    return result


def calls(*items: tuple[str, str, str]) -> Callable[[dict[str, str]], ToolCalls]:
    """A builder of parallel tool calls ``(call id, function id, arguments JSON)``."""
    return lambda names: ToolCalls([ToolCall(cid, names[fid], args) for cid, fid, args in items])


def tool_messages(body: dict[str, Any]) -> dict[str, Any]:
    """``{tool_call_id: content}`` of the tool messages in a recorded request."""
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
