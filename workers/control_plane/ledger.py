"""The ledger: budgets per agent and per realm, every LLM cost, checks before model calls.

Theory of operation
-------------------
* **Budgets** (scope ``ledger:budgets``, key the agent id or ``__realm__``): ``{limit_usd,
  soft_threshold (0..1), period: monthly|daily, hard}``. Set by operators (``ledger::set_budget``)
  or by an approved council ``budget_override``.
* **Spend** (``ledger::spend``, also bound to every realm's ``cost.incurred`` topic, which the
  llm-router publishes after each completion): the event is stored in ``ledger:events`` under its
  id (``event_id``, else the router's ``completion_id``) by create-if-absent, so a redelivered
  event is counted once; then the counters of the agent and of the realm (scope ``ledger:spent``,
  key ``<subject>|<YYYY-MM>``: ``{usd, days: {YYYY-MM-DD: usd}}``) are incremented atomically.
  Realm totals grow with every spend, whichever agent made it.
* **Check** (``ledger::check``, called by the llm-router *before* every model call): refused
  (``allowed: false`` with a ``reason``) when the realm is suspended, or when a hard budget of
  the agent or the realm is used up or would be exceeded by ``estimated_cost``; else allowed,
  with ``remaining_usd`` (the smallest remainder; null without budgets).
* **Periods** are calendar months (default) or days, in UTC, by the ledger's injectable clock:
  a new period starts from zero with no reset job, because counters are keyed by period.
* **Alerts**: when a spend takes a subject past its soft threshold (``warning``) or its limit
  (``critical``), ``ledger.alert`` is published once per subject, level and period (the alert
  key is created-if-absent) and the alert goes to ``council.audit`` for the council's log.
* Each recorded spend is published on ``ledger.spent`` once the counters include it.
* **Summary** sums the stored events by agent, model and provider; the sums are the costs the
  router reported, event for event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workers.sdk import Context, FunctionDef

from ._state import RealmState, act_in, describe, parse, require_operator
from .routes import define

if TYPE_CHECKING:
    from .worker import ControlPlane

__all__ = ["Ledger", "REALM_SUBJECT", "period_key"]

BUDGETS, SPENT, EVENTS, ALERTS = "ledger:budgets", "ledger:spent", "ledger:events", "ledger:alerts"
REALM_SUBJECT = "__realm__"
ALERT_TOPIC = "ledger.alert"
SPENT_TOPIC = "ledger.spent"
Period = Literal["monthly", "daily"]
_REALM = AliasChoices("realm_id", "realm")


def period_key(period: str, ts: float) -> str:
    """``YYYY-MM`` (monthly) or ``YYYY-MM-DD`` (daily) of unix time ``ts``, in UTC."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d" if period == "daily" else "%Y-%m")


class InRealm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realm_id: str | None = Field(default=None, validation_alias=_REALM)


class BudgetRequest(InRealm):
    agent_id: str | None = Field(default=None, min_length=1)
    limit_usd: float = Field(ge=0)
    soft_threshold: float = Field(default=0.8, ge=0, le=1)
    period: Period = "monthly"
    hard: bool = True


class CheckRequest(InRealm):
    agent_id: str | None = None
    estimated_cost: float = Field(default=0.0, ge=0,
                                  validation_alias=AliasChoices("estimated_cost",
                                                                "estimated_cost_usd"))


class SpendRequest(InRealm):
    agent_id: str | None = None
    cost_usd: float = Field(ge=0, validation_alias=AliasChoices("cost_usd", "amount_usd"))
    model: str | None = None
    provider: str | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    event_id: str | None = Field(default=None, min_length=1,
                                 validation_alias=AliasChoices("event_id", "completion_id"))
    ts: float | None = None


class SummaryRequest(InRealm):
    agent_id: str | None = None
    period: Literal["all", "monthly", "daily"] = "all"


def _add(table: dict[str, dict[str, float]], key: str, event: dict[str, Any]) -> None:
    row = table.setdefault(key, {"cost_usd": 0.0, "requests": 0, "prompt_tokens": 0,
                                 "completion_tokens": 0})
    row["cost_usd"] += float(event.get("cost_usd") or 0.0)
    row["requests"] += 1
    row["prompt_tokens"] += int(event.get("prompt_tokens") or 0)
    row["completion_tokens"] += int(event.get("completion_tokens") or 0)


class Ledger:
    """The ledger functions; also :attr:`section` of a realm bundle (the budgets)."""

    section = "budgets"

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def _spent(self, rs: RealmState, subject: str, period: str, now: float) -> float:
        doc = await rs.get(SPENT, f"{subject}|{period_key('monthly', now)}")
        if not isinstance(doc, dict):
            return 0.0
        if period == "daily":
            return float((doc.get("days") or {}).get(period_key("daily", now), 0.0))
        return float(doc.get("usd") or 0.0)

    async def _budgets(self, rs: RealmState, agent_id: str | None) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for subject in (agent_id, REALM_SUBJECT):
            if subject is not None:
                budget = await rs.get(BUDGETS, subject)
                if isinstance(budget, dict):
                    out.append((subject, budget))
        return out

    async def apply_budget(self, rs: RealmState, req: BudgetRequest) -> dict[str, Any]:
        """Store a budget in ``rs.realm`` (what set_budget and a council override do)."""
        subject = req.agent_id or REALM_SUBJECT
        budget = {"subject": subject, **req.model_dump(exclude={"realm_id"}),
                  "updated_at": self.plane.clock()}
        await rs.set(BUDGETS, subject, budget)
        return budget

    async def evaluate(self, rs: RealmState, agent_id: str | None,
                       estimated_cost: float) -> dict[str, Any]:
        """The answer of ``ledger::check`` for ``agent_id`` in ``rs.realm``."""
        if await self.plane.realms.status(rs) == "suspended":
            return {"allowed": False, "remaining_usd": 0.0,
                    "reason": f"realm {describe(rs.realm)} is suspended"}
        now = self.plane.clock()
        remaining: float | None = None
        for subject, budget in await self._budgets(rs, agent_id):
            limit = float(budget["limit_usd"])
            spent = await self._spent(rs, subject, budget.get("period", "monthly"), now)
            left = max(0.0, limit - spent)
            remaining = left if remaining is None else min(remaining, left)
            if budget.get("hard", True) and (spent >= limit or spent + estimated_cost > limit):
                who = f"agent {agent_id}" if subject != REALM_SUBJECT else f"realm {describe(rs.realm)}"
                return {"allowed": False, "remaining_usd": left,
                        "reason": f"{who} {budget.get('period', 'monthly')} budget of "
                                  f"${limit:g} would be exceeded: spent ${spent:.6f}, "
                                  f"this call estimated ${estimated_cost:.6f}"}
        return {"allowed": True, "remaining_usd": remaining}

    # -- functions -------------------------------------------------------------------------

    async def set_budget(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(BudgetRequest, data)
        await require_operator(ctx, "ledger::set_budget")
        rs = await act_in(ctx, req.realm_id)
        await self.plane.subscriptions.ensure(rs)
        return await self.apply_budget(rs, req)

    async def check(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(CheckRequest, data)
        rs = await act_in(ctx, req.realm_id)
        await self.plane.subscriptions.ensure(rs)
        return await self.evaluate(rs, req.agent_id, req.estimated_cost)

    async def spend(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(SpendRequest, data)
        rs = await act_in(ctx, req.realm_id)
        await self.plane.subscriptions.ensure(rs)
        now = self.plane.clock()
        event_id = req.event_id or f"evt-{uuid.uuid4().hex}"
        event = {"event_id": event_id, **req.model_dump(exclude={"realm_id", "event_id"}),
                 "ts": req.ts if req.ts is not None else now, "recorded_at": now,
                 "month": period_key("monthly", now), "day": period_key("daily", now)}
        if not await rs.create(EVENTS, event_id, event):
            return {"recorded": False, "duplicate": True, "event_id": event_id, "alerts": []}
        subjects = [s for s in (req.agent_id, REALM_SUBJECT) if s is not None]
        for subject in subjects:
            await rs.increment(SPENT, f"{subject}|{event['month']}",
                               {"usd": req.cost_usd, f"days.{event['day']}": req.cost_usd})
        alerts = await self._alert(rs, req.agent_id, now)
        await rs.publish(SPENT_TOPIC, {"event_id": event_id, "agent_id": req.agent_id,
                                       "cost_usd": req.cost_usd, "model": req.model, "at": now})
        return {"recorded": True, "duplicate": False, "event_id": event_id, "alerts": alerts}

    async def _alert(self, rs: RealmState, agent_id: str | None, now: float) -> list[dict[str, Any]]:
        fired = []
        for subject, budget in await self._budgets(rs, agent_id):
            limit, period = float(budget["limit_usd"]), budget.get("period", "monthly")
            spent = await self._spent(rs, subject, period, now)
            ratio = spent / limit if limit > 0 else (float("inf") if spent > 0 else 0.0)
            levels = [lvl for lvl, reached in (("warning", ratio >= budget.get("soft_threshold", 0.8)),
                                               ("critical", ratio >= 1.0)) if reached]
            for level in levels:
                key = f"{subject}|{period_key(period, now)}|{level}"
                alert = {"level": level, "subject": subject,
                         "agent_id": None if subject == REALM_SUBJECT else subject,
                         "realm": rs.realm, "spent_usd": spent, "limit_usd": limit,
                         "soft_threshold": budget.get("soft_threshold"), "period": period,
                         "period_key": period_key(period, now), "at": now}
                if await rs.create(ALERTS, key, alert):
                    fired.append(alert)
                    await rs.publish(ALERT_TOPIC, alert)
                    await rs.publish("council.audit", {"kind": "ledger.alert", "actor": "ledger",
                                                       "detail": alert})
        return fired

    async def summary(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(SummaryRequest, data)
        rs = await act_in(ctx, req.realm_id)
        await self.plane.subscriptions.ensure(rs)
        now = self.plane.clock()
        month, day = period_key("monthly", now), period_key("daily", now)
        by_agent: dict[str, dict[str, float]] = {}
        by_model: dict[str, dict[str, float]] = {}
        by_provider: dict[str, dict[str, float]] = {}
        totals: dict[str, dict[str, float]] = {}
        for event in await rs.list(EVENTS):
            if not isinstance(event, dict) or (req.agent_id and event.get("agent_id") != req.agent_id):
                continue
            if (req.period == "monthly" and event.get("month") != month) or (
                    req.period == "daily" and event.get("day") != day):
                continue
            _add(totals, "all", event)
            _add(by_agent, str(event.get("agent_id")), event)
            _add(by_model, str(event.get("model")), event)
            _add(by_provider, str(event.get("provider")), event)
        budgets = []
        for budget in await rs.list(BUDGETS):
            if isinstance(budget, dict):
                spent = await self._spent(rs, budget["subject"], budget.get("period", "monthly"), now)
                budgets.append({**budget, "spent_usd": spent,
                                "remaining_usd": max(0.0, float(budget["limit_usd"]) - spent)})
        total = totals.get("all", {"cost_usd": 0.0, "requests": 0, "prompt_tokens": 0,
                                   "completion_tokens": 0})
        return {"realm": describe(rs.realm), "period": req.period, "total_usd": total["cost_usd"],
                "totals": total, "by_agent": by_agent, "by_model": by_model,
                "by_provider": by_provider, "budgets": budgets,
                "alerts": [a for a in await rs.list(ALERTS) if isinstance(a, dict)]}

    async def export(self, rs: RealmState) -> Any:
        return [b for b in await rs.list(BUDGETS) if isinstance(b, dict)]

    async def restore(self, rs: RealmState, data: Any) -> int:
        budgets = [b for b in data if isinstance(b, dict) and "subject" in b]
        for budget in budgets:
            await rs.set(BUDGETS, budget["subject"], budget)
        return len(budgets)

    def definitions(self) -> list[FunctionDef]:
        return [
            define("ledger::set_budget", self.set_budget,
                   "Set an agent's (or, without agent_id, the realm's) budget; operators only",
                   BudgetRequest),
            define("ledger::check", self.check,
                   "May this agent spend estimated_cost now? {allowed, remaining_usd, reason?}",
                   CheckRequest),
            define("ledger::spend", self.spend,
                   "Record a cost (also every cost.incurred event); idempotent by event id",
                   SpendRequest),
            define("ledger::summary", self.summary,
                   "Spend by agent, model and provider, with budgets and alerts", SummaryRequest),
        ]
