"""The org chart of a realm: ``hierarchy::set/remove/tree/find/chain``.

A node is ``{agent_id, reports_to, title, capabilities, rank}``. The whole chart of a realm is
one state value (scope ``hierarchy``, key ``chart``) changed by compare-and-set, so the cycle
check and the write are one atomic step: two concurrent ``set`` calls can never close a loop
between them. An agent cannot report to itself or to anyone below it (``cycle_detected``), and
its manager must already be on the chart (``not_found``). Removing a node hands its reports to
its own manager.

Queries: ``tree`` (the forest, or the subtree under ``root``), ``find`` (nodes with a
capability, case-insensitively) and ``chain`` (the node, its manager, …, up to the top).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef

from ._state import RealmState, act_in, parse
from .errors import CycleDetected, NotFound
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["Hierarchy", "chain_of"]

SCOPE, KEY = "hierarchy", "chart"
AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_REALM = AliasChoices("realm_id", "realm")

Nodes = dict[str, dict[str, Any]]


class InRealm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class SetRequest(InRealm):
    agent_id: str = Field(pattern=AGENT_ID)
    reports_to: str | None = Field(default=None, pattern=AGENT_ID)
    title: str = Field(default="", max_length=200)
    capabilities: list[str] = Field(default_factory=list, max_length=256)
    rank: int = 0


class AgentRef(InRealm):
    agent_id: str = Field(pattern=AGENT_ID)


class TreeRequest(InRealm):
    root: str | None = None


class FindRequest(InRealm):
    capability: str = Field(min_length=1)


def _nodes(chart: Any) -> Nodes:
    return dict(chart.get("nodes") or {}) if isinstance(chart, dict) else {}


def chain_of(nodes: Nodes, agent_id: str) -> list[dict[str, Any]]:
    """``agent_id``'s node and its managers, upward (stops at a loop, which never is stored)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = agent_id
    while current is not None and current in nodes and current not in seen:
        seen.add(current)
        out.append(nodes[current])
        current = nodes[current].get("reports_to")
    return out


def _subtree(nodes: Nodes, agent_id: str) -> dict[str, Any]:
    reports = sorted((n for n in nodes.values() if n.get("reports_to") == agent_id),
                     key=lambda n: (-int(n.get("rank") or 0), n["agent_id"]))
    return {**nodes[agent_id], "reports": [_subtree(nodes, n["agent_id"]) for n in reports]}


class Hierarchy:
    """The org-chart functions; also :attr:`section` of a realm bundle."""

    section = "hierarchy"

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def nodes(self, rs: RealmState) -> Nodes:
        """The chart of ``rs.realm``."""
        return _nodes(await rs.get(SCOPE, KEY))

    async def set_node(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(SetRequest, data)
        rs = await act_in(ctx, req.realm_id)
        node = req.model_dump(exclude={"realm_id"})
        node["updated_at"] = self.plane.clock()

        def edit(chart: Any) -> dict[str, Any]:
            nodes = _nodes(chart)
            boss = req.reports_to
            if boss is not None:
                if boss == req.agent_id:
                    raise CycleDetected(f"{req.agent_id} cannot report to itself")
                if boss not in nodes:
                    raise NotFound(f"{boss} is not on the chart; add it first")
                if any(n["agent_id"] == req.agent_id for n in chain_of(nodes, boss)):
                    raise CycleDetected(f"{req.agent_id} cannot report to {boss}, who reports "
                                        f"to {req.agent_id}")
            nodes[req.agent_id] = node
            return {"nodes": nodes}

        await rs.mutate(SCOPE, KEY, edit)
        return node

    async def remove(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(AgentRef, data)
        rs = await act_in(ctx, req.realm_id)

        def edit(chart: Any) -> dict[str, Any]:
            nodes = _nodes(chart)
            gone = nodes.pop(req.agent_id, None)
            if gone is None:
                raise NotFound(f"{req.agent_id} is not on the chart")
            for agent_id, n in nodes.items():
                if n.get("reports_to") == req.agent_id:
                    nodes[agent_id] = {**n, "reports_to": gone.get("reports_to")}
            return {"nodes": nodes}

        await rs.mutate(SCOPE, KEY, edit)
        return {"removed": True, "agent_id": req.agent_id}

    async def tree(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(TreeRequest, data)
        nodes = await self.nodes(await act_in(ctx, req.realm_id))
        if req.root is not None:
            if req.root not in nodes:
                raise NotFound(f"{req.root} is not on the chart")
            return {"tree": [_subtree(nodes, req.root)]}
        roots = sorted((n for n in nodes.values() if n.get("reports_to") not in nodes),
                       key=lambda n: (-int(n.get("rank") or 0), n["agent_id"]))
        return {"tree": [_subtree(nodes, n["agent_id"]) for n in roots]}

    async def find(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(FindRequest, data)
        nodes = await self.nodes(await act_in(ctx, req.realm_id))
        wanted = req.capability.casefold()
        found = [n for _, n in sorted(nodes.items())
                 if any(str(c).casefold() == wanted for c in n.get("capabilities") or [])]
        return {"agents": found}

    async def chain(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(AgentRef, data)
        nodes = await self.nodes(await act_in(ctx, req.realm_id))
        if req.agent_id not in nodes:
            raise NotFound(f"{req.agent_id} is not on the chart")
        return {"chain": chain_of(nodes, req.agent_id)}

    async def export(self, rs: RealmState) -> Any:
        return [n for _, n in sorted((await self.nodes(rs)).items())]

    async def restore(self, rs: RealmState, data: Any) -> int:
        nodes = {n["agent_id"]: n for n in data if isinstance(n, dict) and "agent_id" in n}
        await rs.set(SCOPE, KEY, {"nodes": nodes})
        return len(nodes)

    def definitions(self) -> list[FunctionDef]:
        return [
            define("hierarchy::set", self.set_node,
                   "Put an agent on the org chart (reports_to, title, capabilities, rank)",
                   SetRequest),
            define("hierarchy::remove", self.remove,
                   "Take an agent off the chart (its reports move to its manager)", AgentRef),
            define("hierarchy::tree", self.tree, "The org chart as a forest (or under root)",
                   TreeRequest),
            define("hierarchy::find", self.find, "Agents with a capability (case-insensitive)",
                   FindRequest),
            define("hierarchy::chain", self.chain, "An agent's chain of command, upward",
                   AgentRef),
        ]
