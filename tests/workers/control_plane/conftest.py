"""Fixtures of the control-plane tests: a real engine, the real workers, clients of two realms.

Nothing of ours is mocked. Each scenario runs an in-process :class:`engine.node.Node` with
tokens for the system, a worker and the clients of realms ``a`` and ``b``; the modules the
control plane needs (state on a temporary sqlite file, pubsub, cron, http on a free port,
queue); the control plane, the llm-router (pointed at :class:`tests.fakes.FakeUpstream`, priced
by litellm's map) and agent-core, all connected with the worker token; and one client connection
per token. :class:`Events` is a test worker that subscribes, in a given realm, to the topics the
control plane publishes, so tests wait for events instead of sleeping.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anyio  # noqa: E402
import httpx  # noqa: E402
import pytest  # noqa: E402

from engine.calls import with_realm  # noqa: E402
from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import FakeUpstream  # noqa: E402
from tests.fakes.llm_config import fake_llm_config as llm_config  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.control_plane import ControlPlane  # noqa: E402
from workers.llm_router import LlmRouter  # noqa: E402
from workers.sdk import Call, Connection, Context, FunctionDef, Worker, connect, function  # noqa: E402

WAIT = 10.0
"""Bound of any wait for an event (a deadline, never a synchronisation)."""

TOKENS = [{"token": "t-sys", "role": "system"}, {"token": "t-a", "role": "client", "realm": "a"},
          {"token": "t-b", "role": "client", "realm": "b"}, {"token": "t-w", "role": "worker"},
          {"token": "t-c", "role": "client"}]
"""The brief's four credentials, plus ``t-c``: a client bound to no realm."""
TOPICS = ("ledger.alert", "ledger.spent", "pulse.run", "bridge.run.completed",
          "mission.lifecycle", "council.proposal")
START = datetime(2026, 1, 31, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # litellm runs on asyncio only


class FakeClock:
    """The control plane's clock: unix seconds that move only when a test says so."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta).total_seconds()


@dataclass
class Events:
    """Collects what the control plane publishes, per topic, in the realms a test subscribes."""

    seen: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    _changed: anyio.Event = field(default_factory=anyio.Event)
    conn: Connection | None = None

    def worker(self) -> Worker:
        functions: list[FunctionDef] = []
        for topic in TOPICS:
            functions.append(FunctionDef.of(function(f"test::on::{topic}")(self._collector(topic))))
        return Worker("test-events", functions=functions)

    def _collector(self, topic: str) -> Any:
        async def collect(data: Any, ctx: Context) -> None:
            self.seen[topic].append({**data, "_realm": ctx.realm} if isinstance(data, dict) else data)
            changed, self._changed = self._changed, anyio.Event()
            changed.set()

        collect.__name__ = "on_" + topic.replace(".", "_")
        return collect

    async def subscribe(self, realm: str | None) -> None:
        """Deliver every topic of :data:`TOPICS` published in ``realm`` to this collector."""
        assert self.conn is not None
        for topic in TOPICS:
            await self.conn.dispatch(Call("engine::register_trigger", {
                "id": f"test:{topic}:{realm}", "trigger_type": "subscribe",
                "function_id": f"test::on::{topic}", "config": {"topic": topic}},
                baggage=with_realm(None, realm)))

    async def wait_for(self, topic: str, count: int = 1) -> list[Any]:
        """Wait (bounded by :data:`WAIT`) until ``count`` events of ``topic`` arrived."""
        with anyio.fail_after(WAIT):
            while len(self.seen[topic]) < count:
                await self._changed.wait()
        return self.seen[topic]


def node_config(tmp: Path) -> NodeConfig:
    return NodeConfig.model_validate({
        "engine": {"port": 0, "auth": {"tokens": TOKENS}},
        "workers": [
            {"name": "iii-state", "config": {"adapter": {"name": "sqlite",
                                                         "config": {"path": str(tmp / "state.db")}}}},
            {"name": "iii-pubsub", "config": {}},
            {"name": "iii-cron", "config": {"adapter": {"name": "memory"}}},
            {"name": "iii-http", "config": {"port": 0}},
            {"name": "iii-queue", "config": {"adapter": {"name": "memory"}}},
        ],
    })


@dataclass
class Stack:
    node: Node
    plane: ControlPlane
    router: LlmRouter
    fake: FakeUpstream
    clock: FakeClock
    events: Events
    sys: Connection
    a: Connection
    b: Connection
    worker: Connection
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.node.url

    def client(self, realm: str) -> Connection:
        return {"a": self.a, "b": self.b, "sys": self.sys}[realm]

    async def rest(self, method: str, path: str, token: str = "t-sys",
                   body: Any = None, **params: Any) -> httpx.Response:
        """One REST call on the engine's :3111 listener."""
        return await self.http.request(method, path, json=body, params=params or None,
                                       headers={"authorization": f"Bearer {token}"})


@asynccontextmanager
async def running(tmp: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    """The whole stack on a fresh engine; everything is closed on exit."""
    clock = FakeClock()
    events = Events()
    router = LlmRouter(llm_config(fake))
    core = AgentCore(AgentCoreConfig(agents_dir=None, tool_timeout_s=5.0),
                     templates=TemplateLibrary())
    async with AsyncExitStack() as stack:
        node = await stack.enter_async_context(Node(node_config(tmp)))
        plane = await stack.enter_async_context(ControlPlane(clock=clock, chat_timeout_s=30.0))
        for worker in (plane.worker(), router.worker(), core.worker()):
            await stack.enter_async_context(connect(node.url, workers=[worker], token="t-w"))
        events.conn = await stack.enter_async_context(
            connect(node.url, workers=[events.worker()], token="t-w"))
        clients = [await stack.enter_async_context(
            connect(node.url, workers=[], name=f"client-{t}", token=t))
            for t in ("t-sys", "t-a", "t-b", "t-w")]
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.ports['http']}", timeout=WAIT))
        yield Stack(node, plane, router, fake, clock, events, *clients, http)


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
async def cp(tmp_path: Path, fake: FakeUpstream) -> AsyncIterator[Stack]:
    async with running(tmp_path, fake) as s:
        yield s


async def code_of(awaitable: Any) -> str:
    """The wire code an awaited call fails with (the test fails if it succeeds)."""
    from workers.sdk import InvocationError

    try:
        await awaitable
    except InvocationError as exc:
        return exc.code
    raise AssertionError("the call succeeded")
