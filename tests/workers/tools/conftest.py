"""Fixtures of the tools tests: a Tools service over a temporary data dir, driven through a
FunctionEnvironment whose metadata names the calling agent (as agent-core sends it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from workers.sdk import FunctionDef
from workers.sdk.testing import FunctionEnvironment
from workers.tools import Resolver, Tools, ToolsConfig

from .site import LocalSite


class Harness:
    """A Tools service and its gated handlers; ``call`` runs one as agent ``agent`` of ``realm``."""

    def __init__(self, config: ToolsConfig, resolver: Resolver | None = None) -> None:
        self.config = config
        self.tools = Tools(config, resolver=resolver)
        self.fns: dict[str, FunctionDef] = {f.id: f for f in self.tools.definitions()}

    def env(self, agent: str | None = "alice", realm: str | None = "acme", *, depth: int | None = None,
            taint: list[str] | None = None,
            functions: Mapping[str, Callable[[Any], Any]] | None = None) -> FunctionEnvironment:
        metadata: dict[str, Any] = {}
        if agent is not None:
            metadata["agent_id"] = agent
        if depth is not None:
            metadata["agent_depth"] = depth
        if taint is not None:
            metadata["taint"] = taint
        return FunctionEnvironment(functions, realm=realm, metadata=metadata)

    async def call(self, function_id: str, data: Any, env: FunctionEnvironment | None = None) -> Any:
        return await (env or self.env()).run(self.fns[function_id], data)

    def workspace(self, agent: str = "alice", realm: str = "acme") -> Path:
        return self.config.data_dir.resolve() / "workspaces" / realm / agent


@pytest.fixture
def make(tmp_path: Path) -> Callable[..., Harness]:
    def build(resolver: Resolver | None = None, **settings: Any) -> Harness:
        config = ToolsConfig.model_validate({"data_dir": str(tmp_path / "data"), **settings})
        return Harness(config, resolver)

    return build


@pytest.fixture
def harness(make: Callable[..., Harness]) -> Harness:
    return make()


@pytest.fixture
async def site() -> AsyncIterator[LocalSite]:
    async with LocalSite() as s:
        yield s
