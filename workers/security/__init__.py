"""security: capabilities, the audit log, injection scanning, taint tracking, approvals, vault.

Modules, one concern each::

    capabilities   security::set/get/check_capability, record_usage (tool/memory/network/tokens)
    hosts          network host patterns (pure)
    usage          sliding one-hour token windows
    chain          the audit hash chain, pure (entries, hashes, the verifying walker)
    audit          security::audit/verify_audit/audit_list, atomic appends by compare-and-set
    normalize      text views for the scanner (Unicode, homoglyphs, leetspeak, encodings)
    rules          the rule shape and DSL
    rules_latin    rules over the latin view (en, es, fr, de, pt, it, nl)
    rules_native   rules for other scripts, markup, shell; letter-by-letter rules
    rules_english  paraphrased overrides, jailbreak framing, exfiltration by description
    rules_european Latin-script languages besides English (es, fr, de, pt, it, nl, tr, pl, id, vi…)
    rules_scripts  Arabic and Hindi (Devanagari)
    rules_indirect instructions planted in content an agent reads (tool results, pages, mail)
    scanner        security::scan_injection
    pii            PII and secret detectors (pure)
    taint          taint::label/get/check/enforce/declassify/detect/redact
    approvals      approval::request/get/list/decide/resume/wait/set_policy/get_policy/required
    keyring        master key, data keys, AES-256-GCM
    vault          vault::set/get/list/delete/rotate
    worker         the Worker (``python -m workers.security``)
"""

from .chain import Head, Verdict, Walker, canonical, entry_hash
from .config import DEFAULT_RESERVED_TOOLS, SecurityConfig
from .errors import SecurityError
from .hosts import host_decision
from .pii import Finding, detect, redact
from .scanner import Scanner, ScanResult
from .taint import POLICY, blocking
from .worker import SecurityService, build_worker

__all__ = [
    "DEFAULT_RESERVED_TOOLS",
    "POLICY",
    "Finding",
    "Head",
    "ScanResult",
    "Scanner",
    "SecurityConfig",
    "SecurityError",
    "SecurityService",
    "Verdict",
    "Walker",
    "blocking",
    "build_worker",
    "canonical",
    "detect",
    "entry_hash",
    "host_decision",
    "redact",
]
