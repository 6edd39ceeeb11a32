"""Errors of the engine.

One root, drawn here::

    EngineError
    ├── WireError                 has ``code``: what goes back to a caller as ``{code, message}``
    │   ├── FunctionNotFound      function_not_found
    │   ├── InvocationStopped     invocation_stopped (the target disconnected mid-call)
    │   ├── InvocationFailed      invocation_failed (a handler raised)
    │   ├── InvocationTimeout     timeout
    │   ├── Forbidden             forbidden (role or realm does not allow it)
    │   ├── InvalidNamespace      INVALID_NAMESPACE
    │   ├── InvalidArguments      invalid_arguments (payload does not fit the function)
    │   ├── EnqueueError          enqueue_error
    │   └── TriggerRegistrationFailed  trigger_registration_failed
    ├── RegistrationConflict      another live worker owns the id (FUNCTION_/WORKER_NAMESPACE_CONFLICT)
    └── InvalidState (RuntimeError)    an illegal lifecycle step: a bug, not bad input

Foreign errors (sockets, adapters) are translated at one boundary with ``raise … from exc``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EngineError",
    "WireError",
    "FunctionNotFound",
    "InvocationStopped",
    "InvocationFailed",
    "InvocationTimeout",
    "Forbidden",
    "InvalidNamespace",
    "InvalidArguments",
    "EnqueueError",
    "TriggerRegistrationFailed",
    "RegistrationConflict",
    "InvalidState",
]


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class WireError(EngineError):
    """An error that is answered to a caller as an ErrorBody ``{code, message, stacktrace?}``."""

    code: ClassVar[str] = "invocation_error"

    def __init__(self, message: str, *, stacktrace: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.stacktrace = stacktrace
        if code is not None:
            # A handler may fail with its own code (e.g. VALUE_TOO_LARGE); keep it.
            self.code = code  # type: ignore[misc]


class FunctionNotFound(WireError):
    code = "function_not_found"


class InvocationStopped(WireError):
    code = "invocation_stopped"


class InvocationFailed(WireError):
    code = "invocation_failed"


class InvocationTimeout(WireError):
    code = "timeout"


class Forbidden(WireError):
    code = "forbidden"


class InvalidNamespace(WireError):
    code = "INVALID_NAMESPACE"


class InvalidArguments(WireError):
    code = "invalid_arguments"


class EnqueueError(WireError):
    code = "enqueue_error"


class TriggerRegistrationFailed(WireError):
    code = "trigger_registration_failed"


class RegistrationConflict(EngineError):
    """A second live worker claimed an id or a worker name that another live worker owns."""

    def __init__(self, code: str, message: str, *, owner_worker_id: str) -> None:
        super().__init__(message)
        self.code = code
        self.owner_worker_id = owner_worker_id


class InvalidState(RuntimeError, EngineError):
    """A lifecycle transition that the state table does not allow."""
