"""The refusals of the control plane, each a wire code and an HTTP status.

::

    InvocationError (workers.sdk)
    └── ControlPlaneError            the subclass fixes ``code`` and ``status``
        ├── InvalidArguments          invalid_arguments      400
        ├── Forbidden                 forbidden              403
        ├── NotAMember                not_a_member           403
        ├── NotFound                  not_found              404
        ├── Conflict                  conflict               409  (a record kept changing)
        ├── VersionConflict           version_conflict       409  (a stale ``expectedVersion``)
        ├── AlreadyCheckedOut         already_checked_out    409
        ├── InvalidTransition         invalid_transition     409
        ├── CycleDetected             cycle_detected         409
        ├── AlreadyVoted              already_voted          409
        ├── ProposalClosed            proposal_closed        409
        ├── RealmExists               realm_exists           409
        └── BridgeFailed              bridge_failed          502

A handler raises one of these; the SDK answers the call with its ``code``, and the REST routes
answer with :data:`HTTP_STATUS` of the code (codes of other workers, such as agent-core's
``agent_not_found``, are mapped there too).
"""

from __future__ import annotations

from typing import ClassVar

from workers.sdk import InvocationError

__all__ = [
    "HTTP_STATUS",
    "AlreadyCheckedOut",
    "AlreadyVoted",
    "BridgeFailed",
    "ControlPlaneError",
    "Conflict",
    "CycleDetected",
    "Forbidden",
    "InvalidArguments",
    "InvalidTransition",
    "NotAMember",
    "NotFound",
    "ProposalClosed",
    "RealmExists",
    "VersionConflict",
    "status_of",
]


class ControlPlaneError(InvocationError):
    """A refusal of the control plane; the subclass fixes the wire code and the HTTP status."""

    CODE: ClassVar[str] = "invocation_failed"
    STATUS: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class InvalidArguments(ControlPlaneError):
    CODE, STATUS = "invalid_arguments", 400


class Forbidden(ControlPlaneError):
    CODE, STATUS = "forbidden", 403


class NotAMember(ControlPlaneError):
    CODE, STATUS = "not_a_member", 403


class NotFound(ControlPlaneError):
    CODE, STATUS = "not_found", 404


class Conflict(ControlPlaneError):
    CODE, STATUS = "conflict", 409


class VersionConflict(ControlPlaneError):
    CODE, STATUS = "version_conflict", 409


class AlreadyCheckedOut(ControlPlaneError):
    CODE, STATUS = "already_checked_out", 409


class InvalidTransition(ControlPlaneError):
    CODE, STATUS = "invalid_transition", 409


class CycleDetected(ControlPlaneError):
    CODE, STATUS = "cycle_detected", 409


class AlreadyVoted(ControlPlaneError):
    CODE, STATUS = "already_voted", 409


class ProposalClosed(ControlPlaneError):
    CODE, STATUS = "proposal_closed", 409


class RealmExists(ControlPlaneError):
    CODE, STATUS = "realm_exists", 409


class BridgeFailed(ControlPlaneError):
    CODE, STATUS = "bridge_failed", 502


HTTP_STATUS: dict[str, int] = {
    **{cls.CODE: cls.STATUS for cls in (
        InvalidArguments, Forbidden, NotAMember, NotFound, Conflict, VersionConflict,
        AlreadyCheckedOut, InvalidTransition, CycleDetected, AlreadyVoted, ProposalClosed,
        RealmExists, BridgeFailed)},
    # codes other workers and the engine answer with
    "unauthorized": 401,
    "budget_exceeded": 402,
    "agent_not_found": 404,
    "template_not_found": 404,
    "agent_exists": 409,
    "agent_archived": 409,
    "agent_paused": 409,
    "function_not_found": 503,
    "timeout": 504,
}


def status_of(code: str) -> int:
    """The HTTP status of a wire error code (500 for codes nobody mapped)."""
    return HTTP_STATUS.get(code, 500)
