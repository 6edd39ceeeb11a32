"""control-plane: realms, the org chart, directives, missions, the ledger, the council, pulse
and the bridge, served by one worker over the engine's realm-scoped state.

Modules, one domain noun each::

    realm         realm::* — tenant records, delete with data, export/import bundles
    keys          realm::keys::* — realm API keys the engine accepts (engine/realm_keys.py)
    hierarchy     hierarchy::* — the org chart, cycle-free by compare-and-set
    directive     directive::* — the goal tree, optimistic concurrency with expectedVersion
    mission       mission::* — the task state machine, atomic checkout
    ledger        ledger::* — budgets, spend from cost.incurred, checks before model calls
    council       council::* — proposals, quorum votes, effects
    activity      the council's hash-chained activity log
    pulse         pulse::* — cron check-ins with the agent's context in the prompt
    bridge        bridge::* — external process and HTTP runtimes
    subscriptions the per-realm cost.incurred / council.audit bindings
    routes        the REST routes on :3111 and the HTTP translation
    errors        the refusals (wire code, HTTP status)
    worker        ControlPlane and its Worker; __main__ serves it

Every function acts in the caller's realm (see :mod:`workers.control_plane._state`).
"""

from .errors import (
    HTTP_STATUS,
    AlreadyCheckedOut,
    AlreadyVoted,
    BridgeFailed,
    Conflict,
    ControlPlaneError,
    CycleDetected,
    Forbidden,
    InvalidArguments,
    InvalidTransition,
    NotAMember,
    NotFound,
    ProposalClosed,
    RealmExists,
    VersionConflict,
)
from .routes import ROUTES, Route
from .worker import WORKER_NAME, ControlPlane

__all__ = [
    "HTTP_STATUS",
    "ROUTES",
    "WORKER_NAME",
    "AlreadyCheckedOut",
    "AlreadyVoted",
    "BridgeFailed",
    "Conflict",
    "ControlPlane",
    "ControlPlaneError",
    "CycleDetected",
    "Forbidden",
    "InvalidArguments",
    "InvalidTransition",
    "NotAMember",
    "NotFound",
    "ProposalClosed",
    "RealmExists",
    "Route",
    "VersionConflict",
]
