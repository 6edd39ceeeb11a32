"""Errors of the worker SDK.

One root, drawn here::

    SdkError
    ├── InvocationError            a call failed: code, message, stacktrace, function_id, invocation_id
    │   ├── InvocationTimeout      timeout (local: no answer within the call's timeout)
    │   ├── InvocationStopped      invocation_stopped (the target worker went away mid-call)
    │   ├── FunctionNotFound       function_not_found
    │   └── ConnectionLost         connection_lost (local: our socket dropped mid-call)
    ├── AuthenticationError        the engine refused our token (fatal: no reconnect)
    ├── RegistrationRejectedError  the engine refused a registration (WORKER_NAMESPACE_CONFLICT is fatal)
    ├── DefinitionError (ValueError)   misuse: a bad @function, Worker or binding definition
    ├── InvalidState (RuntimeError)    misuse: an illegal lifecycle step (e.g. calling on a closed connection)
    └── NoContextError (RuntimeError)  misuse: current_context() outside a handler

Wire errors (``InvocationError`` and its subclasses) carry the ``code`` of the ErrorBody they came
from; :meth:`InvocationError.from_wire` picks the most specific subclass for a code. A handler may
raise ``InvocationError("VALUE_TOO_LARGE", "...")`` to answer with its own code.

Foreign errors (websockets, sockets, pydantic) are translated where they happen and never leave
the SDK except as the ``__cause__`` of one of these.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "SdkError",
    "InvocationError",
    "InvocationTimeout",
    "InvocationStopped",
    "FunctionNotFound",
    "ConnectionLost",
    "AuthenticationError",
    "RegistrationRejectedError",
    "DefinitionError",
    "InvalidState",
    "NoContextError",
]


class SdkError(Exception):
    """Root of every error the SDK raises on purpose."""


class InvocationError(SdkError):
    """A call answered with an error, or that could not complete.

    Raise it from a handler to answer with a specific ``code``; any other exception a handler
    raises is answered as ``invocation_failed``.

    Attributes:
        code: the wire error code (``invocation_failed``, ``function_not_found``, …).
        message: the human-readable message.
        stacktrace: the remote traceback, when the failing handler sent one.
        function_id: the function that was called, when known.
        invocation_id: the call's id, when it had one.
    """

    def __init__(
        self,
        code: str,
        message: str,
        stacktrace: str | None = None,
        function_id: str | None = None,
        invocation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.stacktrace = stacktrace
        self.function_id = function_id
        self.invocation_id = invocation_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @classmethod
    def from_wire(
        cls,
        code: str,
        message: str,
        stacktrace: str | None = None,
        function_id: str | None = None,
        invocation_id: str | None = None,
    ) -> InvocationError:
        """Build the most specific error for a wire ``code``.

        Call it when an ``invocationresult`` carries an ``error``.

        Returns:
            An instance of the subclass registered for ``code``, else an ``InvocationError``.
        """
        sub = _BY_CODE.get(code)
        if sub is None:
            return InvocationError(code, message, stacktrace, function_id, invocation_id)
        return sub(
            message, stacktrace=stacktrace, function_id=function_id, invocation_id=invocation_id
        )


class _CodedInvocationError(InvocationError):
    """An ``InvocationError`` whose code is fixed by its class."""

    CODE: ClassVar[str]

    def __init__(
        self,
        message: str,
        *,
        stacktrace: str | None = None,
        function_id: str | None = None,
        invocation_id: str | None = None,
    ) -> None:
        super().__init__(self.CODE, message, stacktrace, function_id, invocation_id)


class InvocationTimeout(_CodedInvocationError):
    """No answer within the call's timeout. The late answer, if any, is ignored."""

    CODE = "timeout"


class InvocationStopped(_CodedInvocationError):
    """The worker serving the call disconnected before answering."""

    CODE = "invocation_stopped"


class FunctionNotFound(_CodedInvocationError):
    """No function with that id is registered (in that namespace)."""

    CODE = "function_not_found"


class ConnectionLost(_CodedInvocationError):
    """Our connection to the engine dropped while the call was in flight."""

    CODE = "connection_lost"


_BY_CODE: dict[str, type[_CodedInvocationError]] = {
    sub.CODE: sub
    for sub in (InvocationTimeout, InvocationStopped, FunctionNotFound, ConnectionLost)
}


class AuthenticationError(SdkError):
    """The engine refused the connection's credentials. The SDK does not retry.

    Attributes:
        code: the engine's error code (e.g. ``unauthorized``).
        message: the engine's message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RegistrationRejectedError(SdkError):
    """The engine refused a registration because another live worker owns the name or id.

    ``WORKER_NAMESPACE_CONFLICT`` is fatal (the engine closes the connection and the SDK does not
    reconnect); ``FUNCTION_NAMESPACE_CONFLICT`` is only recorded on ``Connection.rejected``.
    """

    def __init__(
        self,
        code: str,
        namespace: str,
        *,
        function_id: str | None = None,
        worker_name: str | None = None,
        owner_worker_id: str = "",
    ) -> None:
        what = function_id if function_id is not None else worker_name
        super().__init__(
            f"{code}: {what!r} in namespace {namespace!r} is owned by {owner_worker_id}"
        )
        self.code = code
        self.namespace = namespace
        self.function_id = function_id
        self.worker_name = worker_name
        self.owner_worker_id = owner_worker_id


class DefinitionError(SdkError, ValueError):
    """A function, worker or binding definition is invalid. Raised when it is defined."""


class InvalidState(SdkError, RuntimeError):
    """A lifecycle step the state table does not allow, or a call on a closed connection."""


class NoContextError(SdkError, RuntimeError):
    """``current_context()`` was called outside a function handler."""
