"""The public surface of workers.tools is pinned, and every tool publishes a full schema."""

from __future__ import annotations

import workers.tools as tools

IDS = ["tool::file_read", "tool::file_write", "tool::file_list", "tool::shell_exec",
       "tool::web_fetch", "tool::http_request", "tool::web_search", "tool::code_exec",
       "tool::memory_store", "tool::memory_recall", "tool::agent_spawn", "tool::agent_send"]


def test_exports() -> None:
    assert sorted(tools.__all__) == sorted([
        "Caller", "Resolver", "StaticResolver", "SystemResolver", "ToolError", "Tools",
        "ToolsConfig", "build_worker",
    ])
    for name in tools.__all__:
        assert getattr(tools, name) is not None


def test_the_worker_serves_every_tool() -> None:
    assert [f.id for f in tools.Tools().worker().functions] == IDS


def test_every_tool_has_a_strict_object_schema_and_a_description() -> None:
    for fdef in tools.Tools().definitions():
        schema = fdef.request_format
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert fdef.description
