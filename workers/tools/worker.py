"""The tools worker: the built-in tools agents call, as ``tool::*`` functions.

``Tools(config).worker()`` is the :class:`~workers.sdk.Worker` to serve (``python -m
workers.tools`` does it). Every function publishes the full JSON Schema of its arguments, and
every call goes through the same gate before its handler runs:

1. the calling agent is read from the call's metadata (:func:`~.identity.caller_of`; what
   agent-core must send is documented there);
2. its ``tool`` capability on the function id is re-checked (:class:`~.policy.Policy`: the
   security worker when registered, else the agent's own record).

Resource-level checks (hosts, memory scopes, spawn depth and rates) and the taint check of the
sink tools (:mod:`.sinks`) happen inside the tools. Registration metadata tells agent-core about
taint (the contract is in :mod:`.identity`): ``output_taint`` — the labels a tool's output
carries (``["untrusted"]`` for the web tools) — and ``taint_sink``, the sink a tool writes to.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from workers.sdk import Context, FunctionDef, Worker, function

from .agents import AgentTools, SendRequest, SpawnRequest
from .code import Code, CodeRequest
from .config import ToolsConfig
from .fetch import Fetcher
from .files import FileListRequest, FileReadRequest, Files, FileWriteRequest
from .identity import caller_of
from .memory import Memory, RecallRequest, StoreRequest
from .netguard import Resolver, SystemResolver
from .policy import Policy
from .shell import Shell, ShellRequest
from .sinks import Gate, Sink
from .web import HttpRequest, Web, WebFetchRequest, WebSearchRequest

__all__ = ["Tools", "build_worker"]

WORKER_NAME = "tools"
Handler = Callable[[Any, Context], Awaitable[Any]]
UNTRUSTED_OUTPUT: dict[str, Any] = {"output_taint": ["untrusted"]}


def sink(name: Sink, **more: Any) -> dict[str, Any]:
    """Registration metadata of a tool that writes to the taint sink ``name``."""
    return {"taint_sink": name, **more}


class Tools:
    """The service behind the worker.

    Args:
        config: the tools' settings (default: safe defaults, data in ``./data``).
        resolver: the DNS resolver of the SSRF guard (default: the system's).
        verify: TLS verification of fetches (an ``ssl.SSLContext`` for a private CA).
        clock: monotonic seconds (durations, rate windows).
    """

    def __init__(self, config: ToolsConfig | None = None, *, resolver: Resolver | None = None,
                 verify: ssl.SSLContext | bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or ToolsConfig()
        self.gate = gate = Gate(self.config)
        self.files = Files(self.config, gate)
        self.shell = Shell(self.config, self.files, gate, clock=clock)
        self.fetcher = Fetcher(self.config.net, resolver or SystemResolver(), verify=verify)
        self.web = Web(self.config, self.fetcher, gate)
        self.agents = AgentTools(self.config, gate, clock=clock)
        self.memory = Memory(self.config, gate)
        self.code = Code(self.config, gate)

    def definitions(self) -> list[FunctionDef]:
        """Every tool, gated (see the module docstring), with its taint metadata."""
        table: list[tuple[str, Handler, str, type[BaseModel], dict[str, Any] | None]] = [
            ("tool::file_read", self.files.read,
             "Read a file of your workspace (text, or base64 for binary)", FileReadRequest, None),
            ("tool::file_write", self.files.write,
             "Create or replace a file in your workspace", FileWriteRequest, sink("file")),
            ("tool::file_list", self.files.list,
             "List a directory of your workspace", FileListRequest, None),
            ("tool::shell_exec", self.shell.exec,
             "Run one allowed command (ls, cat, grep, wc, head, tail…) in your workspace, "
             "without a shell", ShellRequest, sink("shell")),
            ("tool::web_fetch", self.web.fetch,
             "Fetch a public web page (HTML comes back as text)", WebFetchRequest,
             sink("http", **UNTRUSTED_OUTPUT)),
            ("tool::http_request", self.web.request,
             "Make an HTTP request to a public host", HttpRequest,
             sink("http", **UNTRUSTED_OUTPUT)),
            ("tool::web_search", self.web.search,
             "Search the web (when a provider is configured)", WebSearchRequest,
             sink("http", **UNTRUSTED_OUTPUT)),
            ("tool::code_exec", self.code.exec,
             "Run a WebAssembly module (WAT or base64) in the sandbox on a JSON input",
             CodeRequest, sink("exec")),
            ("tool::memory_store", self.memory.store, "Remember something", StoreRequest,
             sink("file")),
            ("tool::memory_recall", self.memory.recall, "Recall what you remembered",
             RecallRequest, None),
            ("tool::agent_spawn", self.agents.spawn,
             "Create a sub-agent (never with more capabilities than you)", SpawnRequest,
             sink("llm")),
            ("tool::agent_send", self.agents.send,
             "Send a message to another agent and get its reply", SendRequest, sink("llm")),
        ]
        return [self._define(*row) for row in table]

    def _define(self, function_id: str, handler: Handler, description: str,
                model: type[BaseModel], metadata: dict[str, Any] | None) -> FunctionDef:
        async def serve(data: Any, ctx: Context) -> Any:
            caller = caller_of(ctx, self.config)
            await Policy(self.config, ctx, caller).require("tool", function_id)
            return await handler(data, ctx)

        serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
        return FunctionDef.of(function(function_id, description=description,
                                       request_format=model.model_json_schema(),
                                       metadata=metadata, min_role="worker")(serve))

    def worker(self) -> Worker:
        return Worker(WORKER_NAME, description="Built-in agent tools: files, shell, web, code, "
                      "memory, agents", functions=self.definitions())


def build_worker(config: ToolsConfig | None = None) -> Worker:
    """The tools worker with ``config`` (default: from the environment)."""
    return Tools(config or ToolsConfig.from_env()).worker()
