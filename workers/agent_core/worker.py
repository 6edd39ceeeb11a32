"""The agent-core worker: ``agent::chat``, ``agent::list_tools`` and the management functions.

``AgentCore(config).worker()`` is the :class:`~workers.sdk.Worker` to serve (``python -m
workers.agent_core`` does it with :func:`workers.sdk.run`). Templates are loaded once, when the
``AgentCore`` is built. Callers of ``agent::chat`` should give the call a timeout that covers a
whole run (several model calls and tools), e.g. ``timeout=300``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workers.sdk import Context, InvocationError, Worker

from .admin import AgentAdmin, AgentRef, define
from .agents import AgentStore, ensure_runnable
from .loop import ChatRequest, RunSettings, run_chat
from .resume import Resumer, ResumeRequest, RunRef, RunsListRequest
from .screening import ScreenPolicy
from .spec import parse_request
from .stream import open_stream
from .templates import TemplateLibrary
from .tools import FunctionInfo, build_tools

__all__ = ["AgentCore", "AgentCoreConfig", "DEFAULT_AGENTS_DIR", "build_worker"]

DEFAULT_AGENTS_DIR = Path(__file__).resolve().parents[2] / "agents"
WORKER_NAME = "agent-core"

Seconds = Annotated[float, Field(gt=0)]


class AgentCoreConfig(BaseModel):
    """Settings of the worker; every run-level value is a default an agent may lower."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents_dir: Path | None = DEFAULT_AGENTS_DIR
    engine_url: str | None = None
    """Where data channels are opened; default: the engine the worker is connected to."""
    max_iterations: Annotated[int, Field(ge=1, le=50)] = 10
    tool_timeout_s: Seconds = 30.0
    llm_timeout_s: Seconds = 300.0
    max_result_chars: Annotated[int, Field(ge=256)] = 16_000
    max_repeats: Annotated[int, Field(ge=1)] = 3
    stop_after_repeats: Annotated[int, Field(ge=2)] = 5
    session_max_messages: Annotated[int, Field(ge=2)] = 100
    stream_drain_timeout_s: Seconds = 10.0
    injection_input: Literal["block", "warn", "off"] = "block"
    """What a user message the injection scanner flags does (see :mod:`.screening`)."""
    injection_tools: Literal["withhold", "warn", "off"] = "withhold"
    """What a tool result the injection scanner flags does."""
    scan_timeout_s: Seconds = 10.0
    resume_lease_s: Seconds = 900.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgentCoreConfig:
        """Defaults, overridden by ``AGENTOS_AGENTS_DIR`` (the templates directory),
        ``AGENTOS_INJECTION_INPUT`` (block|warn|off) and ``AGENTOS_INJECTION_TOOLS``
        (withhold|warn|off)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("AGENTOS_AGENTS_DIR"):
            values["agents_dir"] = Path(env["AGENTOS_AGENTS_DIR"])
        if env.get("AGENTOS_INJECTION_INPUT"):
            values["injection_input"] = env["AGENTOS_INJECTION_INPUT"]
        if env.get("AGENTOS_INJECTION_TOOLS"):
            values["injection_tools"] = env["AGENTOS_INJECTION_TOOLS"]
        return cls.model_validate(values)

    def run_settings(self) -> RunSettings:
        return RunSettings(
            max_iterations=self.max_iterations, tool_timeout_s=self.tool_timeout_s,
            llm_timeout_s=self.llm_timeout_s, max_result_chars=self.max_result_chars,
            max_repeats=self.max_repeats, stop_after_repeats=self.stop_after_repeats,
            session_max_messages=self.session_max_messages,
            stream_drain_timeout_s=self.stream_drain_timeout_s,
            screen=ScreenPolicy(self.injection_input, self.injection_tools, self.scan_timeout_s),
            resume_lease_s=self.resume_lease_s,
        )


class AgentCore:
    """The service behind the worker.

    Args:
        config: the worker's settings.
        templates: a template library (default: loaded from ``config.agents_dir``).
        clock: monotonic seconds, for durations.
        wall_clock: epoch seconds, for timestamps.
    """

    def __init__(
        self,
        config: AgentCoreConfig | None = None,
        *,
        templates: TemplateLibrary | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or AgentCoreConfig()
        self.settings = self.config.run_settings()
        self.templates = templates if templates is not None else TemplateLibrary.load(self.config.agents_dir)
        self.store = AgentStore(wall_clock)
        self.admin = AgentAdmin(self.store, self.templates)
        self.clock, self.wall_clock = clock, wall_clock
        self.runs = Resumer(self.store, self.settings, source=self.channel_source, clock=clock,
                            wall_clock=wall_clock)

    def channel_source(self, ctx: Context) -> Context | str:
        """Where channel ends are opened: the configured URL, else the handler's connection."""
        return self.config.engine_url or ctx

    async def chat(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``agent::chat``: refuse unknown, paused and archived agents, then run the turn.

        With ``stream_to``, the channel is opened first and always ends with a result or an
        error frame, then closes.
        """
        request = parse_request(ChatRequest, data)
        source = self.channel_source(ctx)
        async with open_stream(source, request.stream_to) as stream:
            try:
                agent = await self.store.get(ctx, request.agent_id)
                ensure_runnable(agent)
                result = await run_chat(ctx, agent, request, self.settings, stream=stream,
                                        source=source, clock=self.clock,
                                        wall_clock=self.wall_clock)
            except InvocationError as exc:
                await stream.error(exc.code, exc.message)
                raise
            except Exception:
                # the SDK logs it with its traceback; the stream only learns that it failed
                await stream.error("invocation_failed", "agent-core failed; see its log")
                raise
            await stream.result(result)
        return result

    async def list_tools(self, data: Any, ctx: Context) -> dict[str, Any]:
        """``agent::list_tools``: the tools a run of the agent would be offered, as sent."""
        ref = parse_request(AgentRef, data)
        agent = await self.store.get(ctx, ref.agent_id)
        listing = await ctx.trigger("engine::functions::list", {"include_schemas": True})
        functions = [FunctionInfo.model_validate(f) for f in (listing or {}).get("functions", [])]
        tools, _ = build_tools(functions, agent.capabilities)
        return {"tools": [{"function_id": t.function_id, **t.openai()} for t in tools]}

    def worker(self) -> Worker:
        """The worker serving every agent-core function."""
        ref = AgentRef.model_json_schema()
        return Worker(
            WORKER_NAME,
            description="Agents: the tool-calling loop, agent records and templates",
            functions=[
                define("agent::chat", self.chat,
                       "Run one agent turn: model calls and tool calls until an answer",
                       ChatRequest.model_json_schema()),
                define("agent::list_tools", self.list_tools,
                       "The tools an agent's runs are offered", ref),
                define("agent::resume_run", self.runs.resume_run,
                       "Go on with a run paused for approval once it is decided (queued by approval::decide)",
                       ResumeRequest.model_json_schema(), metadata={"min_role": "worker"}),
                define("agent::run_get", self.runs.run_get,
                       "A run that paused for approval: its record and outcome",
                       RunRef.model_json_schema()),
                define("agent::runs_list", self.runs.runs_list,
                       "Runs that paused for approval, by status and agent",
                       RunsListRequest.model_json_schema()),
                *self.admin.definitions(),
            ],
        )


def build_worker(config: AgentCoreConfig | None = None) -> Worker:
    """The agent-core worker with ``config`` (default: from the environment)."""
    return AgentCore(config or AgentCoreConfig.from_env()).worker()
