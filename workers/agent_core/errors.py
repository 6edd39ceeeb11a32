"""Errors agent-core answers with. Each carries a fixed wire ``code``.

One root, drawn here::

    InvocationError (workers.sdk)         the SDK sends ``code`` and ``message`` to the caller
    └── AgentCoreError                     root of this package's refusals
        ├── AgentNotFound        agent_not_found     no agent with that id in the caller's realm
        ├── AgentExists          agent_exists        create of a name already taken
        ├── AgentPaused          agent_paused        a paused agent accepts no new runs
        ├── AgentArchived        agent_archived      archived agents are read-only
        ├── InvalidTransition    invalid_transition  a lifecycle step the table does not allow
        ├── InvalidArguments     invalid_arguments   a payload, override or template value is bad
        ├── TemplateNotFound     template_not_found  create from a template nobody loaded
        ├── Conflict             conflict            a compare-and-set lost too many races
        ├── AgentCorrupt         agent_corrupt       a stored agent record no longer validates
        ├── LlmBadResponse       llm_bad_response    llm::complete answered something unusable
        ├── ChannelError         channel_error       a data channel could not be opened or read
        ├── InjectionDetected    injection_detected  the user's message looks like a prompt injection
        ├── ScanFailed           scan_failed         the injection scanner is registered but failed
        ├── RunNotFound          run_not_found       no paused/finished run with that id
        └── RunNotReady          run_not_ready       a resume arrived before its run was saved (retried)

Errors of ``llm::complete`` itself (``budget_exceeded``, ``llm_upstream_error``, …) are passed
on to the caller of ``agent::chat`` with their own code unchanged. Errors of *tools* never end
a run: they become tool results the model reads (see :mod:`workers.agent_core.executor`).
"""

from __future__ import annotations

from typing import ClassVar

from workers.sdk import InvocationError

__all__ = [
    "AgentCoreError",
    "AgentNotFound",
    "AgentExists",
    "AgentPaused",
    "AgentArchived",
    "InvalidTransition",
    "InvalidArguments",
    "TemplateNotFound",
    "Conflict",
    "AgentCorrupt",
    "LlmBadResponse",
    "ChannelError",
    "InjectionDetected",
    "ScanFailed",
    "RunNotFound",
    "RunNotReady",
]


class AgentCoreError(InvocationError):
    """A refusal of agent-core; the subclass fixes the wire code."""

    CODE: ClassVar[str] = "invocation_failed"

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class AgentNotFound(AgentCoreError):
    CODE = "agent_not_found"


class AgentExists(AgentCoreError):
    CODE = "agent_exists"


class AgentPaused(AgentCoreError):
    CODE = "agent_paused"


class AgentArchived(AgentCoreError):
    CODE = "agent_archived"


class InvalidTransition(AgentCoreError):
    CODE = "invalid_transition"


class InvalidArguments(AgentCoreError):
    CODE = "invalid_arguments"


class TemplateNotFound(AgentCoreError):
    CODE = "template_not_found"


class Conflict(AgentCoreError):
    CODE = "conflict"


class AgentCorrupt(AgentCoreError):
    CODE = "agent_corrupt"


class LlmBadResponse(AgentCoreError):
    CODE = "llm_bad_response"


class ChannelError(AgentCoreError):
    CODE = "channel_error"


class InjectionDetected(AgentCoreError):
    CODE = "injection_detected"


class ScanFailed(AgentCoreError):
    CODE = "scan_failed"


class RunNotFound(AgentCoreError):
    CODE = "run_not_found"


class RunNotReady(AgentCoreError):
    CODE = "run_not_ready"
