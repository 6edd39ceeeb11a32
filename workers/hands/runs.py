"""One hand run: the prompt it sends, and the record and metrics it leaves in state.

State (realm-scoped, the realm of the call): scope ``hand_runs:<id>`` holds one record per run
(key: ``<started ms, 13 digits>-<6 hex>`` so keys sort by time) — ``{run_id, hand_id, trigger,
started, finished, duration_ms, ok, error, content (excerpt), tool_calls}``; scope
``hand_metrics`` key ``<id>`` holds the counters, updated atomically with ``state::update``:
``runs``, ``successes``, ``failures``, ``tool_calls`` (the calls the agent really made),
``last_duration_ms``, ``last_status``, ``last_run_at``. Nothing is counted that did not happen.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from workers.sdk import InvocationError

from .spec import HandSpec

__all__ = ["Caller", "METRICS_SCOPE", "build_prompt", "execute", "runs_scope"]

METRICS_SCOPE = "hand_metrics"
EXCERPT = 2000


class Caller(Protocol):
    async def trigger(self, function_id: str, data: Any = None, *,
                      timeout: float | None = None) -> Any: ...


def runs_scope(hand_id: str) -> str:
    return f"hand_runs:{hand_id}"


def build_prompt(spec: HandSpec, settings: dict[str, Any], now: datetime) -> str:
    """The message a run sends to the hand's agent: who it is, when, its tools and settings."""
    lines = [f"You are running as the autonomous hand '{spec.name or spec.id}'.",
             f"Current time (UTC): {now.astimezone(UTC).isoformat(timespec='seconds')}.",
             f"Schedule: {spec.schedule}.",
             f"Tools you may use: {', '.join(spec.tools.allowed) or 'none'}."]
    if settings:
        lines.append("Settings:")
        lines += [f"- {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in settings.items()]
    lines.append("Run your workflow now and finish with a short report of what you did.")
    return "\n".join(lines)


async def execute(caller: Caller, spec: HandSpec, *, trigger: str,
                  settings: dict[str, Any] | None = None, timeout: float = 600.0,
                  wall: Callable[[], float] = time.time,
                  clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Run ``spec`` once through ``agent::chat`` and record the outcome; returns the record.

    The agent's failure is recorded (``ok: false``), not raised; a failure to write state is.
    """
    started_wall, started = wall(), clock()
    run_id = f"{int(started_wall * 1000):013d}-{uuid.uuid4().hex[:6]}"
    prompt = build_prompt(spec, spec.setting_values(settings),
                          datetime.fromtimestamp(started_wall, UTC))
    ok, error, content, tool_calls = True, None, "", 0
    try:
        reply = await caller.trigger("agent::chat", {
            "agent_id": spec.agent_id, "message": prompt,
            "max_iterations": spec.agent.max_iterations}, timeout=timeout)
        content = str((reply or {}).get("content") or "")
        tool_calls = len((reply or {}).get("tool_calls") or [])
    except InvocationError as exc:
        ok, error = False, f"{exc.code}: {exc.message}"
    duration_ms = round((clock() - started) * 1000)
    record = {"run_id": run_id, "hand_id": spec.id, "trigger": trigger, "started": started_wall,
              "finished": wall(), "duration_ms": duration_ms, "ok": ok, "error": error,
              "content": content[:EXCERPT], "tool_calls": tool_calls}
    await caller.trigger("state::set", {"scope": runs_scope(spec.id), "key": run_id,
                                        "value": record})
    await caller.trigger("state::update", {"scope": METRICS_SCOPE, "key": spec.id, "ops": [
        {"type": "increment", "path": "runs", "by": 1},
        {"type": "increment", "path": "successes", "by": 1 if ok else 0},
        {"type": "increment", "path": "failures", "by": 0 if ok else 1},
        {"type": "increment", "path": "tool_calls", "by": tool_calls},
        {"type": "set", "path": "last_duration_ms", "value": duration_ms},
        {"type": "set", "path": "last_status", "value": "ok" if ok else "error"},
        {"type": "set", "path": "last_run_at", "value": started_wall}]})
    return record
