"""The public surface of workers/control_plane, pinned; and the worker's registrations."""

from __future__ import annotations

import workers.control_plane as cp
from workers.control_plane import ControlPlane
from workers.control_plane.routes import ROUTES


def test_exports() -> None:
    assert sorted(cp.__all__) == sorted([
        "HTTP_STATUS", "ROUTES", "WORKER_NAME", "AlreadyCheckedOut", "AlreadyVoted",
        "BridgeFailed", "Conflict", "ControlPlane", "ControlPlaneError", "CycleDetected",
        "Forbidden", "InvalidArguments", "InvalidTransition", "NotAMember", "NotFound",
        "ProposalClosed", "RealmExists", "Route", "VersionConflict"])
    for name in cp.__all__:
        assert hasattr(cp, name)


def test_the_worker_serves_every_routed_function_and_subscribes_to_costs() -> None:
    worker = ControlPlane().worker()
    ids = {f.id for f in worker.functions}
    assert {r.function_id for r in ROUTES} <= ids
    assert {"pulse::tick", "council::activity", "mission::get"} <= ids
    subscribes = {(t.config["topic"], t.function_id) for t in worker.triggers if t.type == "subscribe"}
    assert subscribes == {("cost.incurred", "ledger::spend"), ("council.audit", "council::activity")}
