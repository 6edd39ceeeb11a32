"""Approvals answered from the chat: the notice in, the ``approve``/``reject`` command out.

**Notice.** ``channels::approval_requested`` is bound to the pubsub topic ``approval.requested``
(published by the security worker's ``approval::request``). The event names a ``run_id`` (and
maybe a ``session_id``); when either is a session this worker started (every ``agent::chat`` it
makes records ``session_id → chat`` in state scope ``channels:sessions``), the chat gets::

    Approval needed: agent <agent> wants to run <function> (<reason>).
    Reply `approve <id>` or `reject <id>` (approvers only).

So a tool that asks for approval during a channel run must pass the run's session id as
``run_id`` (or ``session_id``); approvals of other runs stay in the dashboard. Approvals the
agent loop asks for itself (a tool under an approval policy) come back in ``agent::chat``'s
paused answer instead, and :func:`paused_text` is the reply (see :mod:`.process`); their
``run_id`` is agent-core's, so this notice is not posted a second time.

**Decision.** A message ``approve <id> [note]`` / ``reject <id> [note]`` is not sent to the
agent: if its sender's platform user id is in the channel's ``approvers`` list (see
:mod:`.config`), ``approval::decide {approval_id, decision, by: "<platform>:<user>", note}`` is
called and the outcome is the reply; anyone else is told they may not decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from workers.sdk import InvocationError

from .base import Caller, Inbound
from .config import Route

__all__ = ["Command", "RequestedEvent", "decide", "notice_text", "parse_command", "paused_text"]

_COMMAND = re.compile(r"^\s*(approve|reject)\s+(apr_[A-Za-z0-9_-]+)(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)


class Command(NamedTuple):
    decision: Literal["approve", "reject"]
    approval_id: str
    note: str | None


class RequestedEvent(BaseModel):
    """The ``approval.requested`` event, as the security worker publishes it."""

    model_config = ConfigDict(extra="ignore")

    approval_id: str
    agent_id: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    function_id: str | None = None
    reason: str | None = None


def parse_command(text: str) -> Command | None:
    """The approval command in ``text``, or None when it is an ordinary message."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    decision: Literal["approve", "reject"] = "approve" if match.group(1).lower() == "approve" else "reject"
    return Command(decision, match.group(2), (match.group(3) or "").strip() or None)


def notice_text(event: RequestedEvent) -> str:
    """The message posted in the chat for a pending approval."""
    reason = f" ({event.reason})" if event.reason else ""
    return (f"Approval needed: agent {event.agent_id or '?'} wants to run {event.function_id or '?'}{reason}.\n"
            f"Reply `approve {event.approval_id}` or `reject {event.approval_id}` (approvers only).")


async def decide(caller: Caller, route: Route | None, message: Inbound, command: Command,
                 config_path: str) -> str:
    """Carry out ``command`` for ``message``'s sender; the text to answer with."""
    if route is None or message.user_id is None or message.user_id not in route.approvers:
        return f"You may not decide approvals here; approvers are listed in {config_path}.approvers."
    try:
        await caller.trigger("approval::decide", {
            "approval_id": command.approval_id, "decision": command.decision,
            "by": f"{message.dest.platform}:{message.user_id}", "note": command.note})
    except InvocationError as exc:
        return f"Could not {command.decision} {command.approval_id}: {exc.message}"
    done = "Approved" if command.decision == "approve" else "Rejected"
    return f"{done} {command.approval_id}."


def paused_text(agent_id: str | None, pending: Any) -> str:
    """The reply to a message whose run paused: one notice per call waiting for approval."""
    notices = [notice_text(RequestedEvent(approval_id=str(a.get("approval_id")), agent_id=agent_id,
                                          function_id=a.get("function_id")))
               for a in (pending if isinstance(pending, list) else [])
               if isinstance(a, Mapping) and a.get("approval_id")]
    return "\n".join(notices) or f"The agent {agent_id or '?'} is waiting for an approval."


def session_keys(event: RequestedEvent) -> list[str]:
    """The session ids the event may name, most specific first."""
    return [k for k in (event.session_id, event.run_id) if k]


def event_of(data: Any) -> RequestedEvent | None:
    """The event, or None when ``data`` is not one (pubsub carries anything)."""
    try:
        return RequestedEvent.model_validate(data)
    except ValueError:
        return None
