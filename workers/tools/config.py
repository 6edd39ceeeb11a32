"""Settings of the tools worker, one section per tool family. Defaults are the safe choice.

``ToolsConfig.from_env()`` reads the YAML/JSON file named by ``AGENTOS_TOOLS_CONFIG`` (if set),
and ``AGENTOS_DATA_DIR`` for the data directory (workspaces live under it).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "CONFIG_ENV",
    "DATA_DIR_ENV",
    "DEFAULT_SHELL_ALLOWLIST",
    "AgentSettings",
    "FileSettings",
    "NetSettings",
    "SearchSettings",
    "ShellSettings",
    "ToolsConfig",
]

CONFIG_ENV = "AGENTOS_TOOLS_CONFIG"
DATA_DIR_ENV = "AGENTOS_DATA_DIR"
MiB = 1024 * 1024

Positive = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]
Glob = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]

#: Read-only text utilities. Deliberately absent: shells and interpreters (sh, bash, python3 —
#: arbitrary code with the worker's rights; use tool::code_exec), and anything that runs other
#: programs or writes files by option (find -exec, xargs, env, sed 'e'/'w', awk system(),
#: sort --compress-program, tee).
DEFAULT_SHELL_ALLOWLIST: tuple[str, ...] = (
    "ls", "cat", "echo", "printf", "grep", "wc", "head", "tail", "cut", "tr", "uniq", "nl",
    "seq", "pwd", "basename", "dirname", "true", "false", "date", "stat", "md5sum", "sha256sum",
    "base64",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSettings(_Section):
    max_read_bytes: Positive = 1 * MiB
    max_write_bytes: Positive = 1 * MiB
    max_list_entries: Positive = 1_000
    max_path_depth: Positive = 32


class ShellSettings(_Section):
    allowlist: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]] = Field(
        default_factory=lambda: list(DEFAULT_SHELL_ALLOWLIST))
    """Binary names (no paths) a command may start with, looked up in ``path`` only."""
    path: str = "/usr/bin:/bin"
    """The only PATH binaries are looked up in, and the child's PATH."""
    default_timeout_s: Seconds = 10.0
    max_timeout_s: Seconds = 60.0
    max_output_bytes: Positive = 64 * 1024
    """Of stdout and of stderr each; the rest is drained and dropped."""
    max_args: Positive = 64
    max_arg_chars: Positive = 4_096
    refuse_path_args: bool = True
    """Refuse arguments that are absolute paths or climb with ``..`` (also after ``=``)."""


class NetSettings(_Section):
    timeout_s: Seconds = 15.0
    """Whole fetch, redirects included."""
    default_max_bytes: Positive = 1 * MiB
    max_bytes: Positive = 10 * MiB
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    allow_private: list[str] = Field(default_factory=list)
    """CIDRs exempt from the SSRF guard, e.g. ``["127.0.0.1/32"]`` for a local service. Empty
    by default: loopback, private, link-local and metadata addresses are refused."""
    default_hosts: list[Glob] = Field(default_factory=list)
    """Local policy when ``security::check_capability`` is not registered and the agent has no
    record: host globs it may reach. Empty = none."""
    user_agent: str = "AgentOS-tools/0.1"
    max_request_body_bytes: Positive = 1 * MiB

    @field_validator("allow_private")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # raises ValueError on a bad one
        return value


class AgentSettings(_Section):
    max_depth: Annotated[int, Field(ge=0, le=50)] = 5
    spawn_per_hour: Positive = 20
    messages_per_minute: Positive = 10
    """Per (sender, recipient) pair."""
    max_message_bytes: Positive = 100_000
    chat_timeout_s: Seconds = 120.0
    max_limiter_keys: Positive = 100_000


class SearchSettings(_Section):
    provider: Literal["brave"] | None = None
    api_key: SecretStr | None = None
    endpoint: str = "https://api.search.brave.com/res/v1/web/search"
    max_results: Annotated[int, Field(ge=1, le=20)] = 5


class ToolsConfig(_Section):
    data_dir: Path = Path("./data")
    """Workspaces live in ``<data_dir>/workspaces/<realm>/<agent_id>/``."""
    default_agent_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = None
    """The identity of calls whose metadata names no agent. None (default): such calls are
    refused with ``no_agent_identity``. Set it only for single-user setups."""
    call_timeout_s: Seconds = 30.0
    """Timeout of the calls tools make (capability checks, memory, wasm)."""
    files: FileSettings = Field(default_factory=FileSettings)
    shell: ShellSettings = Field(default_factory=ShellSettings)
    net: NetSettings = Field(default_factory=NetSettings)
    agents: AgentSettings = Field(default_factory=AgentSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ToolsConfig:
        """Defaults, the file named by ``AGENTOS_TOOLS_CONFIG``, and ``AGENTOS_DATA_DIR``.

        Raises:
            OSError: the file cannot be read.
            ValueError: it is not valid YAML/JSON, or not a valid config.
        """
        env = os.environ if env is None else env
        data: dict[str, object] = {}
        path = env.get(CONFIG_ENV)
        if path:
            text = Path(path).read_text(encoding="utf-8")
            data = dict((json.loads(text) if path.endswith(".json") else yaml.safe_load(text)) or {})
        if env.get(DATA_DIR_ENV):
            data["data_dir"] = env[DATA_DIR_ENV]
        return cls.model_validate(data)
