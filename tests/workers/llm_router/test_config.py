"""llm.yaml: loading, ${VAR} expansion, unavailable entries, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.llm_router import LlmConfigError, load_config, parse_config
from workers.llm_router.config import BUILTIN_YAML, CONFIG_ENV

REPO = Path(__file__).resolve().parents[3]


def test_the_shipped_llm_yaml_loads_and_matches_the_builtin_aliases() -> None:
    shipped = load_config(REPO / "llm.yaml", env={"OPENAI_API_KEY": "sk-1"})
    builtin = parse_config(BUILTIN_YAML, env={"OPENAI_API_KEY": "sk-1"})
    assert set(shipped.aliases) == set(builtin.aliases) == {"fast", "default", "reasoning"}
    for alias in shipped.aliases:
        assert [s.model for s in shipped.aliases[alias]] == [s.model for s in builtin.aliases[alias]]
    openai, anthropic = shipped.aliases["default"]
    assert openai.api_key is not None and openai.api_key.get_secret_value() == "sk-1"
    assert openai.missing_env == ()
    assert anthropic.missing_env == ("ANTHROPIC_API_KEY",)
    assert shipped.ollama.autodetect and shipped.ollama.base_url == "http://127.0.0.1:11434"


def test_without_a_file_the_builtin_config_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert [s.model for s in config.aliases["default"]] == ["openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-5"]
    assert all(s.missing_env for specs in config.aliases.values() for s in specs)


def test_the_path_comes_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("aliases:\n  default: openai/gpt-4o-mini\n")
    config = load_config(env={CONFIG_ENV: str(path)})
    assert [s.model for s in config.aliases["default"]] == ["openai/gpt-4o-mini"]
    with pytest.raises(LlmConfigError, match="file not found"):
        load_config(env={CONFIG_ENV: str(tmp_path / "missing.yaml")})


def test_chains_accept_strings_mappings_and_single_entries() -> None:
    config = parse_config("""
aliases:
  default:
    - openai/gpt-4o-mini
    - {model: "ollama_chat/llama3.2", api_base: "${OLLAMA:http://127.0.0.1:11434}", timeout_s: 120}
  fast: groq/llama-3.1-8b-instant
""", env={})
    first, second = config.aliases["default"]
    assert first.model == "openai/gpt-4o-mini" and first.api_key is None
    assert (second.api_base, second.timeout_s, second.missing_env) == ("http://127.0.0.1:11434", 120, ())
    assert [s.model for s in config.aliases["fast"]] == ["groq/llama-3.1-8b-instant"]


def test_unset_variables_outside_model_entries_are_errors() -> None:
    with pytest.raises(LlmConfigError, match="OLLAMA_URL is not set"):
        parse_config("ollama:\n  base_url: ${OLLAMA_URL}\n", env={})


def test_an_empty_variable_counts_as_unset() -> None:
    config = parse_config("aliases:\n  default: [{model: openai/x, api_key: '${K}'}]\n", env={"K": ""})
    assert config.aliases["default"][0].missing_env == ("K",)


@pytest.mark.parametrize(("text", "problem"), [
    ("aliases: [1, 2]", "aliases"),
    ("aliases:\n  default: [{model: openai/x, colour: red}]", "colour"),
    ("aliases:\n  a/b: [openai/x]", "not a valid alias name"),
    ("aliases:\n  auto: [openai/x]", "not a valid alias name"),
    ("realm_policy:\n  acme: [nope]", "unknown aliases ['nope']"),
    ("retry:\n  jitter: 2", "retry.jitter"),
    ("defaults:\n  timeout_s: 0", "defaults.timeout_s"),
    ("- a list", "expected a mapping"),
    ("aliases: {default: [", "invalid YAML"),
])
def test_invalid_configs_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(LlmConfigError) as caught:
        parse_config(text, source="llm.yaml", env={})
    assert problem in str(caught.value)
    assert str(caught.value).startswith("llm.yaml")


@pytest.mark.parametrize(("policy", "realm", "allowed"), [
    ({}, "acme", None),
    ({"acme": ["fast"]}, "acme", {"fast"}),
    ({"acme": ["fast"]}, "other", None),
    ({"acme": ["fast"]}, None, None),
    ({"*": ["fast", "default"]}, "other", {"fast", "default"}),
    ({"*": ["fast"], "acme": ["*"]}, "acme", None),
])
def test_realm_policy(policy: dict[str, list[str]], realm: str | None, allowed: set[str] | None) -> None:
    config = parse_config("", env={}).model_copy(update={"realm_policy": policy})
    assert config.allowed_aliases(realm) == allowed
