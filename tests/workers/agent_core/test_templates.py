"""Template files: the shipped ones load; bad ones are logged with file and key and skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from workers.agent_core.templates import TemplateError, TemplateLibrary, parse_template
from workers.agent_core.worker import DEFAULT_AGENTS_DIR

SEED_STYLE = '''
[agent]
name = "seedy"
description = "as the seed writes it"
module = "builtin:chat"

[agent.model]
provider = "anthropic"
model = "claude-sonnet-4-6"
max_tokens = 4096

[agent.capabilities]
tools = ["tool::*"]
memory_scopes = ["self.*"]
network_hosts = []

[agent.resources]
max_tokens_per_hour = 500000

system_prompt = "You are seedy."
tags = ["engineering"]

[persona]
division = "engineering"
'''


def write(root: Path, name: str, text: str) -> Path:
    path = root / name / "agent.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_the_shipped_templates_all_load(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        library = TemplateLibrary.load(DEFAULT_AGENTS_DIR)
    assert caplog.records == []
    names = {t.name for t in library.all()}
    assert {"default", "coder", "researcher", "writer", "analyst", "ops"} <= names
    assert library.get("default").spec["capabilities"]["tools"] == []  # type: ignore[union-attr]
    for template in library.all():
        assert template.spec["model"] == "default"
        assert template.spec["system_prompt"].strip()


def test_the_seed_format_loads_with_prompt_and_tags_under_resources(tmp_path: Path) -> None:
    write(tmp_path, "seedy", SEED_STYLE)
    template = TemplateLibrary.load(tmp_path).get("seedy")
    assert template is not None
    spec = template.spec
    assert spec["model"] == "anthropic/claude-sonnet-4-6"
    assert spec["max_tokens"] == 4096
    assert spec["system_prompt"] == "You are seedy."
    assert spec["tags"] == ["engineering"]
    assert spec["resources"] == {"max_tokens_per_hour": 500000, "max_cost_usd": None}
    assert spec["capabilities"]["tools"] == ["tool::*"]


BAD = {
    "syntax": ('[agent\nname = "x"', "not valid TOML"),
    "no_agent": ('[persona]\ndivision = "x"\n', "agent: missing [agent] table"),
    "bad_name": ('[agent]\nname = "Bad Name"\n', "agent.name:"),
    "bad_glob": ('[agent]\nname = "g"\n[agent.capabilities]\ntools = ["ok", ""]\n',
                 "agent.capabilities.tools[1]:"),
    "typo": ('[agent]\nname = "t"\n[agent.capabilities]\ntool = ["x"]\n', "agent.capabilities.tool:"),
    "twice": ('[agent]\nname = "t2"\nsystem_prompt = "a"\n[agent.resources]\nsystem_prompt = "b"\n',
              "agent.resources.system_prompt: given twice"),
    "bad_tokens": ('[agent]\nname = "t3"\n[agent.model]\nmax_tokens = 0\n', "agent.model.max_tokens:"),
    "module": ('[agent]\nname = "t4"\nmodule = "wasm:x"\n', "agent.module:"),
    "reserved": ('[agent]\nname = "t5"\n[agent.variables]\nrealm = "x"\n', "agent.variables"),
}


def test_bad_files_are_logged_with_file_and_key_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "good", '[agent]\nname = "good"\n')
    paths = {name: write(tmp_path, name, text) for name, (text, _) in BAD.items()}
    write(tmp_path, "dup", '[agent]\nname = "good"\n')  # sorts before "good": it wins
    with caplog.at_level(logging.WARNING):
        library = TemplateLibrary.load(tmp_path)
    assert [t.name for t in library.all()] == ["good"]
    assert library.get("good").path.endswith("dup/agent.toml")  # type: ignore[union-attr]
    messages = [r.getMessage() for r in caplog.records]
    for name, (_, expected) in BAD.items():
        assert any(str(paths[name]) in m and expected in m for m in messages), (name, messages)
    assert any("already defined" in m for m in messages)


def test_a_missing_directory_is_an_empty_library(tmp_path: Path) -> None:
    assert len(TemplateLibrary.load(tmp_path / "nope")) == 0
    assert len(TemplateLibrary.load(None)) == 0


def test_parse_errors_name_the_key() -> None:
    with pytest.raises(TemplateError) as err:
        parse_template({"agent": {"name": "x", "model": {"temperature": 5}}})
    assert err.value.key == "agent.model.temperature"
