"""Integration files: ``integrations/<id>.toml``, one MCP server each (the seed's format).

::

    [integration]
    id = "github"
    name = "GitHub"
    description = "Issues, PRs and code search"
    category = "dev"
    transport = "stdio"              # or "http" (streamable HTTP, needs url)
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-github"]
    enabled = false
    tools = ["*"]                    # fnmatch globs over the server's tool names
    call_timeout_s = 60
    ping_interval_s = 30             # liveness probe (MCP ping); 0: ping only after a failed call

    [integration.env]                # a plain string, or the seed's {required, description}:
    GITHUB_PERSONAL_ACCESS_TOKEN = { required = true, description = "..." }   # read from our env

    [integration.headers]            # http only: sent with every request
    Authorization = "Bearer ${GITHUB_TOKEN}"   # ${VAR} is read from our environment

Over ``http`` the server's URL is ``url`` (the streamable HTTP endpoint, e.g. ``…/mcp``); a
server answering 401 or 403 is reported as refusing these headers.

A file that does not parse or validate is logged with its path and the offending key, and
skipped; the others load.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["EnvVar", "IntegrationConfig", "load_integrations"]

log = logging.getLogger(__name__)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class EnvVar(BaseModel):
    model_config = ConfigDict(extra="ignore")

    required: bool = False
    description: str = ""
    value: str | None = None


class IntegrationConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: str = ""
    description: str = ""
    category: str = ""
    transport: Literal["stdio", "http"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    cwd: str | None = None
    env: dict[str, str | EnvVar] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    tools: list[str] = Field(default_factory=lambda: ["*"])
    call_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    ping_interval_s: Annotated[float, Field(ge=0)] = 30.0
    """How often a link pings its server (0: only after a failed call). A streamable HTTP
    server that goes away is noticed only by a request, so this bounds how long its tools
    stay registered while it is gone."""
    max_backoff_s: Annotated[float, Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _transport(self) -> IntegrationConfig:
        if self.transport == "stdio" and not self.command:
            raise ValueError("transport 'stdio' needs 'command'")
        if self.transport == "http" and not self.url:
            raise ValueError("transport 'http' needs 'url'")
        return self

    def resolved_env(self, environ: dict[str, str] | None = None) -> dict[str, str]:
        """The server's extra environment: literal values, or ours for ``{required, …}`` entries.

        Raises:
            ValueError: a required variable is not set in our environment.
        """
        environ = dict(os.environ) if environ is None else environ
        out: dict[str, str] = {}
        for key, spec in self.env.items():
            if isinstance(spec, str):
                out[key] = _VAR.sub(lambda m: environ.get(m.group(1), ""), spec)
            elif spec.value is not None:
                out[key] = spec.value
            elif key in environ:
                out[key] = environ[key]
            elif spec.required:
                raise ValueError(f"integration {self.id}: environment variable {key} is required")
        return out

    def resolved_headers(self, environ: dict[str, str] | None = None) -> dict[str, str]:
        environ = dict(os.environ) if environ is None else environ
        return {k: _VAR.sub(lambda m: environ.get(m.group(1), ""), v) for k, v in self.headers.items()}


def load_integrations(directory: Path) -> list[IntegrationConfig]:
    """Every valid ``*.toml`` under ``directory`` (sorted by file name); bad files are logged.

    Returns:
        The configs; an id defined twice keeps the first file and logs the second.
    """
    found: dict[str, IntegrationConfig] = {}
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.toml")):
        try:
            raw: Any = tomllib.loads(path.read_text(encoding="utf-8"))
            config = IntegrationConfig.model_validate(raw.get("integration", raw))
        except tomllib.TOMLDecodeError as exc:
            log.error("integration file %s: invalid TOML: %s; skipped", path, exc)
            continue
        except ValidationError as exc:
            for err in exc.errors():
                log.error("integration file %s: key %s: %s; skipped", path,
                          ".".join(str(p) for p in err["loc"]) or "(root)", err["msg"])
            continue
        except OSError as exc:
            log.error("integration file %s: unreadable: %s; skipped", path, exc)
            continue
        if config.id in found:
            log.error("integration file %s: id %r already defined; skipped", path, config.id)
            continue
        found[config.id] = config
    return list(found.values())
