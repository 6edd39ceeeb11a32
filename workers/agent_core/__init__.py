"""agent-core: agents (records, lifecycle, templates) and the agent turn (``agent::chat``).

Modules, one concern each::

    spec            AgentSpec / AgentRecord (pydantic), request validation
    agents          lifecycle table, the store in state scope ``agents``
    admin           agent::create/get/list/update/delete/pause/resume/archive, templates::*
    templates       agents/<name>/agent.toml loading
    overrides       {{var}} rendering, run context variables, reserved keys
    tools           function id ↔ tool name table, tool selection and schemas, results
    guard           the repeated-call loop guard
    context_window  token estimate and trimming
    llm             llm::complete calls (streamed through a channel of our own)
    executor        one round of tool calls
    sessions        session history in state scope ``sessions:<agent_id>``
    stream          what a run streams to its caller (over SDK channel ends)
    loop            the turn itself
    worker          the Worker (``python -m workers.agent_core``)
"""

from .errors import AgentCoreError
from .loop import ChatRequest, RunSettings, run_chat
from .spec import AgentRecord, AgentSpec, Capabilities, Resources, Status
from .templates import Template, TemplateLibrary
from .tools import ToolNames
from .worker import AgentCore, AgentCoreConfig, build_worker

__all__ = [
    "AgentCore",
    "AgentCoreConfig",
    "AgentCoreError",
    "AgentRecord",
    "AgentSpec",
    "Capabilities",
    "ChatRequest",
    "Resources",
    "RunSettings",
    "Status",
    "Template",
    "TemplateLibrary",
    "ToolNames",
    "build_worker",
    "run_chat",
]
