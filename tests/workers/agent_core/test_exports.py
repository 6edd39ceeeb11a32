"""The public surface of workers.agent_core is pinned."""

from __future__ import annotations

import workers.agent_core as agent_core


def test_exports() -> None:
    assert sorted(agent_core.__all__) == sorted([
        "AgentCore", "AgentCoreConfig", "AgentCoreError", "AgentRecord", "AgentSpec",
        "Capabilities", "ChatRequest", "Resources", "RunSettings", "Status", "Template",
        "TemplateLibrary", "ToolNames", "build_worker", "run_chat",
    ])
    for name in agent_core.__all__:
        assert getattr(agent_core, name) is not None


def test_the_worker_serves_every_function() -> None:
    ids = [f.id for f in agent_core.AgentCore(agent_core.AgentCoreConfig(agents_dir=None)).worker().functions]
    assert ids == ["agent::chat", "agent::list_tools", "agent::resume_run", "agent::run_get",
                   "agent::runs_list", "agent::create", "agent::get", "agent::list",
                   "agent::update", "agent::delete", "agent::pause", "agent::resume",
                   "agent::archive", "agent::templates::list", "agent::templates::get"]
