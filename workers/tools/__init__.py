"""The built-in tools agents use: ``tool::*`` functions with full JSON Schemas.

Modules, one concern each::

    identity   who calls (metadata agent_id/agent_depth/taint), the request base model
    policy     capability checks: security::check_capability, else the agent's record
    sinks      the taint gate of the sink tools: taint::enforce, else the local policy
    redaction  what may reach a log line (PII and secrets masked)
    workspace  per-agent directories; descriptor walks that never follow symlinks
    files      tool::file_read / file_write / file_list
    shell      tool::shell_exec (allowlist, no shell, scrubbed env, timeout, caps)
    netguard   the SSRF guard: refused ranges, resolvers, the pinned target
    fetch      guarded HTTP: dial the checked IP, manual redirects, caps
    htmltext   HTML to text
    web        tool::web_fetch / http_request / web_search
    code       tool::code_exec (via wasm::validate + wasm::execute)
    memory     tool::memory_store / memory_recall (via memory::*)
    ratelimit  sliding-window limiter
    agents     tool::agent_spawn / agent_send (depth, rates, capability narrowing)
    worker     the Worker (``python -m workers.tools``)
"""

from .config import ToolsConfig
from .errors import ToolError
from .identity import Caller
from .netguard import Resolver, StaticResolver, SystemResolver
from .worker import Tools, build_worker

__all__ = [
    "Caller",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "ToolError",
    "Tools",
    "ToolsConfig",
    "build_worker",
]
