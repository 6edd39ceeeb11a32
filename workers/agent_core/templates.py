"""Agent templates: ``agents/<name>/agent.toml`` in the seed's format, loaded once at start.

Format (every table but ``[agent]`` optional)::

    [agent]
    name = "coder"                      # ^[a-z0-9][a-z0-9_-]{0,63}$
    description = "…"
    module = "builtin:chat"             # the only module there is
    system_prompt = "…{{var}}…"         # may also sit under [agent.resources], see below
    tags = ["engineering"]
    max_iterations = 10

    [agent.model]
    provider = ""                       # empty/"default": `model` is a router alias as it is
    model = "default"                   # else "<provider>/<model>" unless model has a "/"
    max_tokens = 4096
    temperature = 0.2
    max_context_tokens = 16000

    [agent.capabilities]
    tools = ["tool::*", "memory::*"]    # fnmatch globs over function ids
    memory_scopes = []
    network_hosts = []

    [agent.resources]
    max_tokens_per_hour = 500000

    [agent.variables]                   # defaults of the prompt's {{var}} placeholders
    language = "Python"

The seed writes ``system_prompt`` and ``tags`` after the ``[agent.resources]`` header, so strict
TOML files them under ``agent.resources``; both placements are accepted (giving both is an
error). ``[persona]`` and other top-level tables are ignored. A file that does not parse or
validate is logged with its path and the offending key and skipped: a bad template never stops
the worker.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .spec import AgentSpec

__all__ = ["Template", "TemplateError", "TemplateLibrary", "parse_template"]

log = logging.getLogger(__name__)

FILE_NAME = "agent.toml"
_AGENT_KEYS = {"name", "description", "module", "model", "capabilities", "resources",
               "system_prompt", "tags", "variables", "max_iterations"}
_MODEL_KEYS = {"provider", "model", "max_tokens", "temperature", "max_context_tokens"}
_RESOURCE_KEYS = {"max_tokens_per_hour", "max_cost_usd"}
_MISPLACED = ("system_prompt", "tags", "variables")
_ALIAS_PROVIDERS = {"", "default", "router", "alias"}
#: spec field → where it is written in the TOML (for error messages)
_TOML_PATH = {
    "model": "agent.model.model", "max_tokens": "agent.model.max_tokens",
    "temperature": "agent.model.temperature", "max_context_tokens": "agent.model.max_context_tokens",
}


class TemplateError(ValueError):
    """A template file is unusable; ``key`` is the TOML key at fault."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


@dataclass(frozen=True, slots=True)
class Template:
    """A loaded template: ``spec`` is a validated :class:`AgentSpec` as a JSON dict."""

    name: str
    path: str
    spec: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """What ``agent::templates::list`` shows."""
        return {
            "name": self.name,
            "description": self.spec.get("description", ""),
            "model": self.spec.get("model"),
            "tags": self.spec.get("tags", []),
            "tools": self.spec.get("capabilities", {}).get("tools", []),
            "path": self.path,
        }


def _table(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise TemplateError(where, "must be a table")
    return dict(value)


def _unknown(table: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise TemplateError(f"{where}.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def parse_template(data: dict[str, Any]) -> dict[str, Any]:
    """An agent spec dict from a parsed ``agent.toml``. Pure.

    Raises:
        TemplateError: a missing, misplaced or invalid key (validated as an :class:`AgentSpec`).
    """
    agent = _table(data, "agent", "agent")
    if not agent:
        raise TemplateError("agent", "missing [agent] table")
    _unknown(agent, _AGENT_KEYS, "agent")
    if agent.get("module", "builtin:chat") != "builtin:chat":
        raise TemplateError("agent.module", "only 'builtin:chat' is supported")
    model = _table(agent, "model", "agent.model")
    _unknown(model, _MODEL_KEYS, "agent.model")
    resources = _table(agent, "resources", "agent.resources")
    for key in _MISPLACED:  # the seed's placement, after the [agent.resources] header
        if key in resources:
            if key in agent:
                raise TemplateError(f"agent.resources.{key}", f"given twice (also agent.{key})")
            agent[key] = resources.pop(key)
    _unknown(resources, _RESOURCE_KEYS, "agent.resources")
    spec: dict[str, Any] = {
        k: agent[k] for k in ("name", "description", "system_prompt", "tags", "variables",
                              "max_iterations") if k in agent
    }
    if "name" not in spec:
        raise TemplateError("agent.name", "missing")
    provider, model_name = model.get("provider", ""), model.get("model")
    if model_name is not None:
        if isinstance(provider, str) and isinstance(model_name, str) and "/" not in model_name \
                and provider.strip().lower() not in _ALIAS_PROVIDERS:
            model_name = f"{provider.strip()}/{model_name}"
        spec["model"] = model_name
    spec.update({k: model[k] for k in ("max_tokens", "temperature", "max_context_tokens") if k in model})
    spec["capabilities"] = _table(agent, "capabilities", "agent.capabilities")
    spec["resources"] = resources
    try:
        return AgentSpec.model_validate(spec).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]] or [""]
        key = _TOML_PATH.get(loc[0], f"agent.{loc[0]}".rstrip("."))
        key += "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
        raise TemplateError(key, err["msg"]) from exc


class TemplateLibrary:
    """The templates found in a directory, by name."""

    def __init__(self, templates: Iterable[Template] = ()) -> None:
        self._by_name = {t.name: t for t in templates}

    @classmethod
    def load(cls, directory: Path | None) -> TemplateLibrary:
        """Load ``directory/*/agent.toml``; bad files are logged (path and key) and skipped.

        Call it once, when the worker starts. A missing directory gives an empty library.
        """
        templates: dict[str, Template] = {}
        if directory is None or not directory.is_dir():
            if directory is not None:
                log.warning("agent templates directory %s does not exist", directory)
            return cls()
        for path in sorted(directory.glob(f"*/{FILE_NAME}")):
            try:
                with path.open("rb") as fh:
                    spec = parse_template(tomllib.load(fh))
            except tomllib.TOMLDecodeError as exc:
                log.warning("skipping template %s: not valid TOML: %s", path, exc)
                continue
            except TemplateError as exc:
                log.warning("skipping template %s: %s", path, exc)
                continue
            except OSError as exc:
                log.warning("skipping template %s: cannot read it: %s", path, exc)
                continue
            name = spec["name"]
            if name in templates:
                log.warning("skipping template %s: name %r already defined by %s",
                            path, name, templates[name].path)
                continue
            templates[name] = Template(name=name, path=str(path), spec=spec)
        log.info("loaded %d agent templates from %s", len(templates), directory)
        return cls(templates.values())

    def get(self, name: str) -> Template | None:
        return self._by_name.get(name)

    def all(self) -> list[Template]:
        return [self._by_name[n] for n in sorted(self._by_name)]

    def __len__(self) -> int:
        return len(self._by_name)
