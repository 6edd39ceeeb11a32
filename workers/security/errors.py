"""Errors the security worker answers with. Each carries a fixed wire ``code``.

One root, drawn here::

    InvocationError (workers.sdk)          the SDK sends ``code`` and ``message`` to the caller
    └── SecurityError                       root of this package's refusals
        ├── InvalidArguments    invalid_arguments   a payload field is missing, mistyped or too big
        ├── Forbidden           forbidden           the caller may not do this (vault::get by a client)
        ├── NotFound            not_found           no such approval or secret in the caller's realm
        ├── Conflict            conflict            a compare-and-set lost too many races
        ├── AlreadyDecided      already_decided     approval::decide of a decided (or expired) request
        ├── TooManyPending      too_many_pending    an agent has too many approvals waiting
        ├── AuditCorrupt        audit_corrupt       the chain's storage holds something that is not an entry
        └── VaultLocked         vault_locked        the master key does not open this realm's keyring

Errors of the engine's own modules (``state::*`` answering ``adapter_error``, ``VALUE_TOO_LARGE``)
pass through with their codes unchanged. No message ever carries a secret, a vault value or the
payload that failed validation: validation messages name the field and the problem only.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from workers.sdk import InvocationError

__all__ = [
    "SecurityError",
    "InvalidArguments",
    "Forbidden",
    "NotFound",
    "Conflict",
    "AlreadyDecided",
    "TooManyPending",
    "AuditCorrupt",
    "VaultLocked",
    "parse_request",
]


class SecurityError(InvocationError):
    """A refusal of the security worker; the subclass fixes the wire code."""

    CODE: ClassVar[str] = "invocation_failed"

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class InvalidArguments(SecurityError):
    CODE = "invalid_arguments"


class Forbidden(SecurityError):
    CODE = "forbidden"


class NotFound(SecurityError):
    CODE = "not_found"


class Conflict(SecurityError):
    CODE = "conflict"


class AlreadyDecided(SecurityError):
    CODE = "already_decided"


class TooManyPending(SecurityError):
    CODE = "too_many_pending"


class AuditCorrupt(SecurityError):
    CODE = "audit_corrupt"


class VaultLocked(SecurityError):
    CODE = "vault_locked"


M = TypeVar("M", bound=BaseModel)


def parse_request(model: type[M], data: Any) -> M:
    """Validate a handler's payload into ``model`` (None counts as ``{}``).

    The message lists ``field: problem`` per error and never echoes the input (it may hold a
    secret).

    Raises:
        InvalidArguments: what is wrong, field by field.
    """
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        parts = []
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "(payload)"
            parts.append(f"{where}: {err['msg']}")
        raise InvalidArguments("; ".join(parts)) from None
