"""The router's state and decisions: which models exist, which a call may use, in what order.

Theory of operation
-------------------
At start the configuration becomes a *model table*: alias → its fallback chain as
:class:`~workers.llm_router.complete.Target` entries, each usable or not (with the reason — a
missing key, an unknown provider). A detected Ollama adds its models and, when configured to,
serves the routing aliases that have no usable model of their own.

:meth:`ModelTable.select` turns a request's ``model`` into a chain, in this order:

1. ``None`` → the default alias; ``auto`` → :func:`~workers.llm_router.routing.choose` among the
   usable aliases the realm may use;
2. an alias → the realm policy (``llm_forbidden_model``), then its usable models
   (``llm_not_configured`` when none);
3. ``provider/model`` → a direct target (reusing a configured entry's endpoint and key when the
   same model is configured), if direct models are allowed and, for a realm with a policy, the
   model belongs to one of its aliases.

Then the chain is fitted to the conversation: models known to be too small for it, or known not
to do tool calls when tools are given, are skipped (and reported as skipped attempts).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._litellm import litellm
from .catalog import describe, register_local, unavailable_reason
from .complete import Target
from .config import LlmConfig, ModelSpec
from .errors import BadRequest, ForbiddenModel, NotConfigured
from .ollama import ollama_specs
from .routing import Candidate, NoRoute, Route, choose, complexity

__all__ = ["TOKENIZER_MODEL", "Entry", "ModelTable", "Selection", "estimate_tokens"]

log = logging.getLogger(__name__)


TOKENIZER_MODEL = "gpt-4o"
"""Whose tokenizer estimates prompt sizes: one estimate per request, before a model is chosen."""


def estimate_tokens(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None) -> int:
    """Prompt tokens of a conversation, estimated with litellm (~4 chars/token if it cannot)."""
    try:
        return int(litellm.token_counter(model=TOKENIZER_MODEL, messages=list(messages),
                                         tools=list(tools) if tools else None))
    except Exception:  # litellm cannot tokenize every message shape (images, vendor parts)
        return sum(len(str(m.get("content") or "")) for m in messages) // 4 + 4 * len(messages)


@dataclass(frozen=True, slots=True)
class Entry:
    """One model of an alias: the target and, when it cannot be used, why."""

    target: Target
    unavailable: str | None = None


@dataclass(slots=True)
class Selection:
    """What a request resolved to: the alias (None for a direct model), the chain to try, the
    routing decision (for ``auto``), the token estimate and models skipped as unfit."""

    alias: str | None
    chain: list[Target]
    estimated_tokens: int
    route: Route | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)


class ModelTable:
    """Aliases → fallback chains, with availability. Built once at start.

    Args:
        config: the router's configuration.
        ollama_models: model names a local Ollama serves (from the start-up probe).
    """

    def __init__(self, config: LlmConfig, ollama_models: Sequence[str] = ()) -> None:
        self.config = config
        local = ollama_specs(config.ollama, list(ollama_models))
        for spec in [*local, *(s for specs in config.aliases.values() for s in specs)]:
            register_local(spec)
        self.ollama = [Target(s, describe(s), "ollama") for s in local]
        self.aliases: dict[str, list[Entry]] = {}
        for alias, specs in config.aliases.items():
            self.aliases[alias] = [Entry(Target(s, describe(s)), unavailable_reason(s)) for s in specs]
        if self.ollama and config.ollama.fill_empty_aliases:
            for alias in (*config.routing.tier_aliases, config.defaults.alias):
                if not self.chain(alias):
                    self.aliases.setdefault(alias, []).append(Entry(self.ollama[0]))
        for alias, entries in self.aliases.items():
            for entry in entries:
                if entry.unavailable:
                    log.info("alias %s: %s unavailable (%s)", alias, entry.target.model, entry.unavailable)

    def chain(self, alias: str) -> list[Target]:
        """The usable models of ``alias``, in fallback order."""
        return [e.target for e in self.aliases.get(alias, []) if e.unavailable is None]

    @property
    def configured(self) -> bool:
        """True when at least one alias has a usable model."""
        return any(self.chain(a) for a in self.aliases)

    def select(self, model: str | None, realm: str | None, messages: Sequence[dict[str, Any]],
               tools: Sequence[dict[str, Any]] | None = None, max_tokens: int | None = None) -> Selection:
        """Resolve a request's ``model`` to a fitted fallback chain (see the module docstring).

        Raises:
            BadRequest: an unknown alias, a disabled direct model, or a conversation no model fits.
            ForbiddenModel: the realm's policy refuses the alias or model.
            NotConfigured: nothing usable serves it.
        """
        allowed = self.config.allowed_aliases(realm)
        name = model or self.config.defaults.alias
        estimated = estimate_tokens(messages, tools) if messages else 0
        needed = estimated + (max_tokens or 0)
        route: Route | None = None
        if name == "auto":
            route = self._route(allowed, realm, messages, tools, needed)
            name = route.alias
        if "/" in name:
            chain, alias = [self._direct(name, allowed, realm)], None
        else:
            chain, alias = self._alias_chain(name, allowed, realm), name
        selection = Selection(alias, chain, estimated, route)
        self._fit(selection, needed, bool(tools))
        return selection

    def _alias_chain(self, alias: str, allowed: set[str] | None, realm: str | None) -> list[Target]:
        if alias not in self.config.alias_names() and alias not in self.aliases:
            raise BadRequest(f"unknown model alias {alias!r}: known aliases are "
                             f"{sorted(self.config.alias_names())}, or name a provider model as provider/model")
        if allowed is not None and alias not in allowed:
            raise ForbiddenModel(f"realm {realm!r} may not use model alias {alias!r}; allowed: {sorted(allowed)}")
        chain = self.chain(alias)
        if chain:
            return chain
        if not self.configured:
            raise NotConfigured()
        reasons = "; ".join(f"{e.target.model}: {e.unavailable}" for e in self.aliases.get(alias, []))
        raise NotConfigured(f"model alias {alias!r} has no usable model" + (f" ({reasons})" if reasons else ""))

    def _direct(self, model: str, allowed: set[str] | None, realm: str | None) -> Target:
        if not self.config.allow_direct_models:
            raise BadRequest(f"naming provider models is disabled: use one of the aliases "
                             f"{sorted(self.config.alias_names())}")
        if allowed is not None:
            permitted = {e.target.model for a in allowed for e in self.aliases.get(a, [])}
            if model not in permitted:
                raise ForbiddenModel(f"realm {realm!r} may only use the models of its aliases {sorted(allowed)}")
        known = [e for entries in self.aliases.values() for e in entries if e.target.model == model]
        usable = next((e.target for e in known if e.unavailable is None), None)
        usable = usable or next((t for t in self.ollama if t.model == model), None)
        if usable is not None:
            return usable
        spec = ModelSpec(model=model)
        register_local(spec)
        reason = known[0].unavailable if known else unavailable_reason(spec)
        if reason is not None:
            raise NotConfigured(f"model {model!r} cannot be used: {reason}")
        return Target(spec, describe(spec), "direct")

    def _route(self, allowed: set[str] | None, realm: str | None, messages: Sequence[dict[str, Any]],
               tools: Sequence[dict[str, Any]] | None, needed: int) -> Route:
        candidates: dict[str, Candidate] = {}
        for alias in sorted(self.config.alias_names() | set(self.aliases)):
            chain = self.chain(alias)
            if chain and (allowed is None or alias in allowed):
                head = chain[0].info
                candidates[alias] = Candidate(alias, head.context_window, head.supports_tools)
        if not candidates and allowed is not None and any(self.chain(a) for a in self.aliases):
            raise ForbiddenModel(f"realm {realm!r} may not use any configured model alias; allowed: {sorted(allowed)}")
        score = complexity(messages, len(tools or ()))
        try:
            return choose(score, self.config.routing, candidates, needed_tokens=needed, needs_tools=bool(tools))
        except NoRoute as exc:
            if exc.why == "none":
                raise NotConfigured() from exc
            raise BadRequest(str(exc)) from exc

    def _fit(self, selection: Selection, needed_tokens: int, needs_tools: bool) -> None:
        kept: list[Target] = []
        for target in selection.chain:
            info = target.info
            if info.known and info.context_window < needed_tokens:
                why = f"skipped: needs ~{needed_tokens} tokens, context window is {info.context_window}"
            elif needs_tools and info.supports_tools is False:
                why = "skipped: does not support tool calls"
            else:
                kept.append(target)
                continue
            selection.skipped.append({"model": target.model, "error": why, "kind": "skipped"})
        if not kept:
            raise BadRequest("no model of " + (repr(selection.alias) if selection.alias else "the request")
                             + " can take this conversation: " + "; ".join(s["error"] for s in selection.skipped))
        selection.chain = kept

    def describe_aliases(self, allowed: set[str] | None) -> list[dict[str, Any]]:
        """``llm::models``' alias list: every alias the caller may use, with its models."""
        out = []
        for alias in sorted(set(self.aliases) | set(self.config.routing.tier_aliases)):
            if allowed is not None and alias not in allowed:
                continue
            models = []
            for entry in self.aliases.get(alias, []):
                info = entry.target.info.to_dict()
                info["source"] = entry.target.source
                info["available"] = entry.unavailable is None
                if entry.unavailable:
                    info["reason"] = entry.unavailable
                models.append(info)
            out.append({"alias": alias, "available": bool(self.chain(alias)), "models": models})
        return out
