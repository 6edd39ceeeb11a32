"""Settings of the security worker, loaded once (from the environment by ``python -m``).

Environment (all optional)::

    AGENTOS_DATA_DIR        where the vault key file lives (default ./data)
    AGENTOS_VAULT_KEY       the vault master key: 32 bytes as base64/base64url/hex, or a
                            passphrase of at least 16 characters (stretched with scrypt)
    AGENTOS_VAULT_READERS   comma-separated worker names allowed to call vault::get
                            (default: any caller connected with the worker or system role)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["DEFAULT_RESERVED_TOOLS", "SecurityConfig"]

DEFAULT_RESERVED_TOOLS: tuple[str, ...] = (
    "security::*", "taint::declassify", "vault::*", "approval::decide", "approval::set_policy",
    "state::*", "engine::*", "agent::create", "agent::update", "agent::delete", "agent::pause",
    "agent::resume", "agent::archive",
)
"""Functions an agent reaches only when its ``tools`` name the id exactly, never through a glob.

With ``tools = ["*"]`` an agent could otherwise grant itself capabilities
(``security::set_capabilities``, ``agent::update`` of its own record), read the vault, decide its
own approvals or rewrite the audit log through ``state::*``.
"""


class SecurityConfig(BaseModel):
    """What the security worker needs to know; every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("./data")
    vault_key: SecretStr | None = None
    """The master key (see the module docstring); None: a key file under ``data_dir``."""
    vault_readers: tuple[str, ...] | None = None
    """Worker names allowed ``vault::get``; None: any caller with the worker or system role."""
    reserved_tools: tuple[str, ...] = DEFAULT_RESERVED_TOOLS
    scan_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    max_scan_chars: Annotated[int, Field(ge=1024)] = 4_000_000
    """Longer texts are not scanned and answer ``safe: false`` (label ``too_large``)."""
    max_detail_bytes: Annotated[int, Field(ge=256)] = 32_768
    """Largest audit ``detail`` (canonical JSON)."""
    max_pending_approvals: Annotated[int, Field(ge=1)] = 50
    """Pending approvals one agent may have at once."""
    max_wait_s: Annotated[float, Field(gt=0)] = 300.0
    """Upper bound of ``approval::wait``'s ``timeout_s``."""
    max_secret_bytes: Annotated[int, Field(ge=16)] = 65_536

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecurityConfig:
        """The defaults, overridden by the ``AGENTOS_*`` variables of the module docstring."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get("AGENTOS_DATA_DIR"):
            values["data_dir"] = Path(env["AGENTOS_DATA_DIR"])
        if env.get("AGENTOS_VAULT_KEY"):
            values["vault_key"] = SecretStr(env["AGENTOS_VAULT_KEY"])
        if env.get("AGENTOS_VAULT_READERS"):
            names = [n.strip() for n in env["AGENTOS_VAULT_READERS"].split(",") if n.strip()]
            values["vault_readers"] = tuple(names)
        return cls.model_validate(values)
