"""The tools worker: the built-in tools agents call, as ``tool::*`` functions.

``Tools(config).worker()`` is the :class:`~workers.sdk.Worker` to serve (``python -m
workers.tools`` does it). Every function publishes the full JSON Schema of its arguments, and
every call goes through the same gate before its handler runs:

1. the calling agent is read from the call's metadata (:func:`~.identity.caller_of`; what
   agent-core must send is documented there);
2. its ``tool`` capability on the function id is re-checked (:class:`~.policy.Policy`: the
   security worker when registered, else the agent's own record).

Resource-level checks (hosts, memory scopes, spawn depth and rates) happen inside the tools.
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
from .web import HttpRequest, Web, WebFetchRequest, WebSearchRequest

__all__ = ["Tools", "build_worker"]

WORKER_NAME = "tools"
Handler = Callable[[Any, Context], Awaitable[Any]]


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
        self.files = Files(self.config)
        self.shell = Shell(self.config, self.files, clock=clock)
        self.fetcher = Fetcher(self.config.net, resolver or SystemResolver(), verify=verify)
        self.web = Web(self.config, self.fetcher)
        self.agents = AgentTools(self.config, clock=clock)
        self.memory = Memory(self.config)
        self.code = Code(self.config)

    def definitions(self) -> list[FunctionDef]:
        """Every tool, gated (see the module docstring)."""
        table: list[tuple[str, Handler, str, type[BaseModel]]] = [
            ("tool::file_read", self.files.read,
             "Read a file of your workspace (text, or base64 for binary)", FileReadRequest),
            ("tool::file_write", self.files.write,
             "Create or replace a file in your workspace", FileWriteRequest),
            ("tool::file_list", self.files.list,
             "List a directory of your workspace", FileListRequest),
            ("tool::shell_exec", self.shell.exec,
             "Run one allowed command (ls, cat, grep, wc, head, tail…) in your workspace, "
             "without a shell", ShellRequest),
            ("tool::web_fetch", self.web.fetch,
             "Fetch a public web page (HTML comes back as text)", WebFetchRequest),
            ("tool::http_request", self.web.request,
             "Make an HTTP request to a public host", HttpRequest),
            ("tool::web_search", self.web.search,
             "Search the web (when a provider is configured)", WebSearchRequest),
            ("tool::code_exec", self.code.exec,
             "Run a WebAssembly module (WAT or base64) in the sandbox on a JSON input",
             CodeRequest),
            ("tool::memory_store", self.memory.store, "Remember something", StoreRequest),
            ("tool::memory_recall", self.memory.recall, "Recall what you remembered",
             RecallRequest),
            ("tool::agent_spawn", self.agents.spawn,
             "Create a sub-agent (never with more capabilities than you)", SpawnRequest),
            ("tool::agent_send", self.agents.send,
             "Send a message to another agent and get its reply", SendRequest),
        ]
        return [self._define(*row) for row in table]

    def _define(self, function_id: str, handler: Handler, description: str,
                model: type[BaseModel]) -> FunctionDef:
        async def serve(data: Any, ctx: Context) -> Any:
            caller = caller_of(ctx, self.config)
            await Policy(self.config, ctx, caller).require("tool", function_id)
            return await handler(data, ctx)

        serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
        return FunctionDef.of(function(function_id, description=description,
                                       request_format=model.model_json_schema())(serve))

    def worker(self) -> Worker:
        return Worker(WORKER_NAME, description="Built-in agent tools: files, shell, web, code, "
                      "memory, agents", functions=self.definitions())


def build_worker(config: ToolsConfig | None = None) -> Worker:
    """The tools worker with ``config`` (default: from the environment)."""
    return Tools(config or ToolsConfig.from_env()).worker()
