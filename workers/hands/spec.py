"""Hand files: ``hands/<id>/HAND.toml``, an autonomous agent run on a cron schedule (seed format).

::

    [hand]
    id = "researcher"                 # [a-z0-9][a-z0-9_-]*; the agent is hand-<id>
    name = "Researcher"
    description = "..."
    enabled = false
    schedule = "0 0 */6 * * *"        # cron: 5, 6 (seconds first) or 7 fields

    [hand.tools]
    allowed = ["tool::web_search", "tool::web_fetch", "tool::memory_*"]   # capability globs

    [[hand.settings]]
    key = "topics"
    type = "string"                   # string | number | boolean | select | list
    default = "AI agents"
    options = []                      # for select

    [hand.agent]
    max_iterations = 10
    temperature = 0.3
    system_prompt = "..."

    [[hand.dashboard.metrics]]
    key = "runs"                      # runs | successes | failures | tool_calls | last_duration_ms
    label = "Runs"

A file that fails to parse or validate is logged with its path and the offending key and skipped.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.cron_expr import parse as parse_cron

__all__ = ["AgentSettings", "HandSpec", "Metric", "Setting", "load_hands"]

log = logging.getLogger(__name__)

METRIC_KEYS = ("runs", "successes", "failures", "tool_calls", "last_duration_ms")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Setting(_Model):
    key: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    label: str = ""
    type: Literal["string", "number", "boolean", "select", "list"] = "string"
    default: Any = None
    options: list[Any] = Field(default_factory=list)


class AgentSettings(_Model):
    max_iterations: Annotated[int, Field(ge=1, le=50)] = 10
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    system_prompt: str = ""
    model: str = "default"


class Metric(_Model):
    key: str
    label: str = ""

    @field_validator("key")
    @classmethod
    def _known(cls, key: str) -> str:
        if key not in METRIC_KEYS:
            raise ValueError(f"unknown metric {key!r}; known: {', '.join(METRIC_KEYS)}")
        return key


class Tools(_Model):
    allowed: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(default_factory=list)


class Dashboard(_Model):
    metrics: list[Metric] = Field(default_factory=list)


class HandSpec(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,58}$")]
    name: str = ""
    description: str = ""
    enabled: bool = False
    schedule: str
    tools: Tools = Field(default_factory=Tools)
    settings: list[Setting] = Field(default_factory=list)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    dashboard: Dashboard = Field(default_factory=Dashboard)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, expression: str) -> str:
        parse_cron(expression)  # raises a ValueError subclass naming the problem
        return expression

    @property
    def agent_id(self) -> str:
        return f"hand-{self.id}"

    def setting_values(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {s.key: s.default for s in self.settings}
        values.update({k: v for k, v in (overrides or {}).items() if k in values})
        return values


def load_hands(directory: Path) -> list[HandSpec]:
    """Every valid ``<directory>/*/HAND.toml``, sorted by id; invalid files are logged, skipped."""
    found: dict[str, HandSpec] = {}
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*/HAND.toml")):
        try:
            raw: Any = tomllib.loads(path.read_text(encoding="utf-8"))
            spec = HandSpec.model_validate(raw.get("hand", raw))
        except tomllib.TOMLDecodeError as exc:
            log.error("hand file %s: invalid TOML: %s; skipped", path, exc)
            continue
        except ValidationError as exc:
            for err in exc.errors():
                log.error("hand file %s: key hand.%s: %s; skipped", path,
                          ".".join(str(p) for p in err["loc"]), err["msg"])
            continue
        except OSError as exc:
            log.error("hand file %s: unreadable: %s; skipped", path, exc)
            continue
        if spec.id in found:
            log.error("hand file %s: id %r already defined; skipped", path, spec.id)
            continue
        found[spec.id] = spec
    return [found[k] for k in sorted(found)]
