"""Usage counters: requests, tokens and cost per realm, agent and model, since the worker started.

In memory and per process, like the seed's ``llm::usage``: the durable record is the ledger's
(it consumes the ``cost.incurred`` events the router publishes). The table is bounded: past
``max_keys`` distinct (realm, agent, model) keys, new agents of a realm are counted under the
agent ``"*"`` and :attr:`UsageBook.overflowed` says how many records went there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Counters", "UsageBook"]

OVERFLOW_AGENT = "*"


@dataclass(slots=True)
class Counters:
    """What one key (or a total) has used."""

    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Counters) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_tokens"] = self.prompt_tokens + self.completion_tokens
        out["cost_usd"] = round(self.cost_usd, 10)
        return out


Key = tuple[str | None, str | None, str]


class UsageBook:
    """The counters. ``record``/``record_error`` after each call; ``report`` for ``llm::usage``.

    Args:
        max_keys: distinct (realm, agent, model) keys kept before agents are folded into ``"*"``.
        started_at: when counting started (unix seconds), reported as ``since``.
    """

    def __init__(self, *, max_keys: int = 10_000, started_at: float = 0.0) -> None:
        self.max_keys = max_keys
        self.started_at = started_at
        self.overflowed = 0
        self._table: dict[Key, Counters] = {}

    def _slot(self, realm: str | None, agent_id: str | None, model: str) -> Counters:
        key: Key = (realm, agent_id, model)
        slot = self._table.get(key)
        if slot is None:
            if len(self._table) >= self.max_keys:
                self.overflowed += 1
                key = (realm, OVERFLOW_AGENT, model)
                slot = self._table.get(key)
            if slot is None:
                slot = self._table[key] = Counters()
        return slot

    def record(self, realm: str | None, agent_id: str | None, model: str, *, prompt_tokens: int,
               completion_tokens: int, cost_usd: float) -> None:
        """Count one successful completion by ``model`` (the provider model that answered)."""
        self._slot(realm, agent_id, model).add(
            Counters(1, 0, prompt_tokens, completion_tokens, cost_usd))

    def record_error(self, realm: str | None, agent_id: str | None, model: str) -> None:
        """Count one failed ``llm::complete`` (``model``: the alias or model that was asked for)."""
        self._slot(realm, agent_id, model).errors += 1

    def report(self, *, realm: str | None = None, agent_id: str | None = None,
               model: str | None = None, only_realm: bool = False) -> dict[str, Any]:
        """The counters matching the filters (None = any), with totals and per-model sums.

        Args:
            only_realm: match ``realm`` exactly even when it is None (a realm-bound caller sees
                its own realm only).

        Returns:
            ``{since, totals, by_model: {model: counters}, entries: [{realm, agent_id, model,
            …counters}], overflowed}``; counters are ``{requests, errors, prompt_tokens,
            completion_tokens, total_tokens, cost_usd}``.
        """
        totals = Counters()
        by_model: dict[str, Counters] = {}
        entries = []
        for (r, a, m), counters in sorted(self._table.items(), key=lambda kv: tuple(str(p) for p in kv[0])):
            if (realm is not None or only_realm) and r != realm:
                continue
            if (agent_id is not None and a != agent_id) or (model is not None and m != model):
                continue
            totals.add(counters)
            by_model.setdefault(m, Counters()).add(counters)
            entries.append({"realm": r, "agent_id": a, "model": m, **counters.to_dict()})
        return {
            "since": self.started_at,
            "totals": totals.to_dict(),
            "by_model": {m: c.to_dict() for m, c in by_model.items()},
            "entries": entries,
            "overflowed": self.overflowed,
        }
