"""The security worker: every ``security::``, ``taint::``, ``approval::`` and ``vault::`` function.

``SecurityService(config).worker()`` is the :class:`~workers.sdk.Worker` to serve (``python -m
workers.security`` does it with :func:`workers.sdk.run`). It also binds ``security::audit`` to
the pubsub topic ``audit``, so any worker can ``publish {topic: "audit", data: {type, agent_id?,
detail}}`` and forget about it.

Callers of ``approval::wait`` must give the call a timeout longer than the wait they ask for
(the SDK's default is 30 s).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from workers.sdk import Context, FunctionDef, TriggerBinding, Worker, function

from .approvals import Approvals, PolicyIn, PolicyRef, RequestIn, RequiredIn, WaitIn
from .approvals import DecideIn as ApprovalDecide
from .approvals import IdIn as ApprovalRef
from .approvals import ListIn as ApprovalList
from .audit import AuditLog, AuditRequest, ListRequest, VerifyRequest
from .capabilities import AgentRequest, Capabilities, CheckRequest, SetRequest, UsageRequest
from .config import SecurityConfig
from .keyring import MasterKey
from .scanner import Scanner, ScanRequest
from .taint import CheckRequest as TaintCheck
from .taint import DeclassifyRequest, LabelRequest, Taint, TextRequest, ValueRequest
from .vault import NameIn, RotateIn, SetIn, Vault

__all__ = ["SecurityService", "WORKER_NAME", "WORKER_ONLY", "build_worker"]

WORKER_NAME = "security"
AUDIT_TOPIC = "audit"

Handler = Callable[[Any, Context], Awaitable[Any]]


WORKER_ONLY = frozenset({"vault::get"})
"""Functions the engine refuses (``forbidden``) to ``client`` credentials, on every path: they
are registered with ``min_role="worker"``. Their handlers still check the caller themselves."""


def _define(function_id: str, handler: Handler, description: str,
            model: type[BaseModel] | None) -> FunctionDef:
    async def serve(data: Any, ctx: Context) -> Any:
        return await handler(data, ctx)

    serve.__name__ = serve.__qualname__ = function_id.replace("::", "_")
    schema = model.model_json_schema() if model is not None else {"type": "object", "properties": {}}
    min_role = "worker" if function_id in WORKER_ONLY else None
    return FunctionDef.of(function(function_id, description=description, request_format=schema,
                                   min_role=min_role)(serve))


class SecurityService:
    """The parts of the security worker, sharing one audit log.

    Args:
        config: the worker's settings (default: all defaults).
        clock: epoch seconds, for every timestamp and window.
    """

    def __init__(self, config: SecurityConfig | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config = config or SecurityConfig()
        self.audit = AuditLog(config.max_detail_bytes, clock)
        self.capabilities = Capabilities(self.audit, config.reserved_tools, clock)
        self.scanner = Scanner(config.scan_threshold, config.max_scan_chars)
        self.taint = Taint(self.audit, clock)
        self.approvals = Approvals(self.audit, max_pending=config.max_pending_approvals,
                                   max_wait_s=config.max_wait_s, clock=clock)
        secret = config.vault_key.get_secret_value() if config.vault_key is not None else None
        self.vault = Vault(lambda: MasterKey.load(secret, config.data_dir), self.audit,
                           readers=config.vault_readers, max_bytes=config.max_secret_bytes,
                           clock=clock)

    async def _scan(self, data: Any, ctx: Context) -> dict[str, Any]:
        return await self.scanner.scan_injection(data)

    def definitions(self) -> list[FunctionDef]:
        """Every function of the worker, as ``@function`` definitions."""
        c, a, t, p, v = self.capabilities, self.audit, self.taint, self.approvals, self.vault
        table: list[tuple[str, Handler, str, type[BaseModel] | None]] = [
            ("security::set_capabilities", c.set_capabilities,
             "Set an agent's capabilities explicitly (tools, memory_scopes, network_hosts, budget)",
             SetRequest),
            ("security::get_capabilities", c.get_capabilities,
             "An agent's effective capabilities and where they come from", AgentRequest),
            ("security::check_capability", c.check_capability,
             "May agent_id use this tool/memory/network/tokens resource? {allowed, reason}",
             CheckRequest),
            ("security::record_usage", c.record_usage, "Record tokens an agent spent", UsageRequest),
            ("security::audit", a.audit, "Append an entry to the tamper-evident audit log",
             AuditRequest),
            ("security::verify_audit", a.verify_audit,
             "Verify the audit hash chain; names the first broken entry", VerifyRequest),
            ("security::audit_list", a.audit_list, "Page through the audit log", ListRequest),
            ("security::scan_injection", self._scan,
             "Score a text for prompt injection {safe, risk_score, matches, labels}", ScanRequest),
            ("taint::label", t.label, "Label a value secret/pii/untrusted (and detect PII in text)",
             LabelRequest),
            ("taint::get", t.get, "The labels of a value", ValueRequest),
            ("taint::check", t.check, "May these labels/values/text reach this sink?", TaintCheck),
            ("taint::enforce", t.enforce, "Like taint::check, but fails forbidden when blocked",
             TaintCheck),
            ("taint::declassify", t.declassify, "Lift labels from a value (audited)",
             DeclassifyRequest),
            ("taint::detect", t.detect, "Find PII and secrets in a text (spans only)", TextRequest),
            ("taint::redact", t.redact, "A text with PII and secrets masked", TextRequest),
            ("approval::request", p.request, "Ask a human to approve a tool call", RequestIn),
            ("approval::get", p.get, "One approval request", ApprovalRef),
            ("approval::list", p.list_approvals, "Approval requests, by status and agent", ApprovalList),
            ("approval::decide", p.decide, "Approve or reject a pending request (resumes the run)",
             ApprovalDecide),
            ("approval::resume", p.resume, "Send a decided request's resume again", ApprovalRef),
            ("approval::wait", p.wait, "Wait (bounded) for a request to be decided", WaitIn),
            ("approval::set_policy", p.set_policy, "Which tools need approval", PolicyIn),
            ("approval::get_policy", p.get_policy, "The approval policy", PolicyRef),
            ("approval::required", p.required, "Does this call need approval? (a boolean)",
             RequiredIn),
            ("vault::set", v.set, "Store a secret, encrypted", SetIn),
            ("vault::get", v.get, "Read a secret (worker and system callers only)", NameIn),
            ("vault::list", v.list_secrets, "Names and versions of the realm's secrets", None),
            ("vault::delete", v.delete, "Delete a secret", NameIn),
            ("vault::rotate", v.rotate, "Re-encrypt under a new key version", RotateIn),
        ]
        return [_define(fid, handler, description, model)
                for fid, handler, description, model in table]

    def worker(self) -> Worker:
        """The security worker, with its ``audit`` topic subscription."""
        return Worker(
            WORKER_NAME,
            description="Capabilities, audit log, injection scanning, taint, approvals, vault",
            functions=self.definitions(),
            triggers=[TriggerBinding("subscribe", "security::audit", {"topic": AUDIT_TOPIC})],
        )


def build_worker(config: SecurityConfig | None = None) -> Worker:
    """The security worker with ``config`` (default: from the environment)."""
    return SecurityService(config or SecurityConfig.from_env()).worker()
