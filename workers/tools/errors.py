"""Errors the tools answer with. Each carries a fixed wire ``code``.

One root, drawn here::

    InvocationError (workers.sdk)          the SDK sends ``code`` and ``message`` to the caller
    └── ToolError                           root of this package's refusals
        ├── InvalidArguments    invalid_arguments    a request field is bad
        ├── NoIdentity          no_agent_identity    the call names no agent (see identity.py)
        ├── Forbidden           forbidden            the capability check said no, or a
        │                                            taint check failed (fail closed)
        ├── Tainted             tainted              the taint policy keeps this data from this
        │                                            sink (see sinks.py)
        ├── PathForbidden       path_forbidden       ``..``, an absolute path outside, a symlink
        ├── NotFound            not_found            no such file or directory
        ├── TooLarge            too_large            content above a size cap
        ├── CommandNotAllowed   command_not_allowed  a binary off the allowlist, a path argument
        ├── ToolTimeout         timeout              a command or a fetch overran its time
        ├── UrlForbidden        ssrf_blocked         a private/loopback/metadata address, a bad
        │                                            scheme, credentials in the URL
        ├── FetchFailed         fetch_failed         DNS, connection or TLS failure
        ├── TooManyRedirects    too_many_redirects
        ├── RateLimited         rate_limited         per-pair message or per-agent spawn rate
        ├── DepthExceeded       depth_exceeded       agent spawn/send chain deeper than allowed
        ├── NotConfigured       not_configured       e.g. web_search without a provider
        └── NotAvailable        not_available        the function a tool forwards to is not
                                                     registered (memory, wasm, agent-core)

Errors of the functions a tool forwards to (``wasm::execute``'s ``wasm_*`` codes, agent-core's
``agent_not_found``…) pass through with their own code. Foreign errors (OSError, httpx) are
translated where they happen and leave only as the ``__cause__`` of one of these.
"""

from __future__ import annotations

from typing import ClassVar

from workers.sdk import InvocationError

__all__ = [
    "CommandNotAllowed",
    "DepthExceeded",
    "FetchFailed",
    "Forbidden",
    "InvalidArguments",
    "NoIdentity",
    "NotAvailable",
    "NotConfigured",
    "NotFound",
    "PathForbidden",
    "RateLimited",
    "ToolError",
    "ToolTimeout",
    "TooLarge",
    "Tainted",
    "TooManyRedirects",
    "UrlForbidden",
]


class ToolError(InvocationError):
    """A refusal of a tool; the subclass fixes the wire code."""

    CODE: ClassVar[str] = "invocation_failed"

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class InvalidArguments(ToolError):
    CODE = "invalid_arguments"


class NoIdentity(ToolError):
    CODE = "no_agent_identity"


class Forbidden(ToolError):
    CODE = "forbidden"


class Tainted(ToolError):
    CODE = "tainted"


class PathForbidden(ToolError):
    CODE = "path_forbidden"


class NotFound(ToolError):
    CODE = "not_found"


class TooLarge(ToolError):
    CODE = "too_large"


class CommandNotAllowed(ToolError):
    CODE = "command_not_allowed"


class ToolTimeout(ToolError):
    CODE = "timeout"


class UrlForbidden(ToolError):
    CODE = "ssrf_blocked"


class FetchFailed(ToolError):
    CODE = "fetch_failed"


class TooManyRedirects(ToolError):
    CODE = "too_many_redirects"


class RateLimited(ToolError):
    CODE = "rate_limited"


class DepthExceeded(ToolError):
    CODE = "depth_exceeded"


class NotConfigured(ToolError):
    CODE = "not_configured"


class NotAvailable(ToolError):
    CODE = "not_available"
