"""The public surface of workers.security is pinned, and the worker serves every function."""

from __future__ import annotations

import workers.security as security


def test_exports() -> None:
    assert sorted(security.__all__) == sorted([
        "DEFAULT_RESERVED_TOOLS", "POLICY", "Finding", "Head", "ScanResult", "Scanner",
        "SecurityConfig", "SecurityError", "SecurityService", "Verdict", "Walker", "blocking",
        "build_worker", "canonical", "detect", "entry_hash", "host_decision", "redact",
    ])
    for name in security.__all__:
        assert getattr(security, name) is not None


def test_the_worker_serves_every_function(tmp_path) -> None:
    worker = security.SecurityService(security.SecurityConfig(data_dir=tmp_path)).worker()
    assert worker.name == "security"
    assert [f.id for f in worker.functions] == [
        "security::set_capabilities", "security::get_capabilities", "security::check_capability",
        "security::record_usage", "security::audit", "security::verify_audit",
        "security::audit_list", "security::scan_injection",
        "taint::label", "taint::get", "taint::check", "taint::enforce", "taint::declassify",
        "taint::detect", "taint::redact",
        "approval::request", "approval::get", "approval::list", "approval::decide",
        "approval::resume", "approval::wait", "approval::set_policy", "approval::get_policy",
        "approval::required",
        "vault::set", "vault::get", "vault::list", "vault::delete", "vault::rotate",
    ]
    assert [(t.type, t.function_id, t.config) for t in worker.triggers] == [
        ("subscribe", "security::audit", {"topic": "audit"})]
    assert not list(tmp_path.iterdir()), "building the worker must not create key files"


def test_config_from_env(tmp_path) -> None:
    config = security.SecurityConfig.from_env({
        "AGENTOS_DATA_DIR": str(tmp_path), "AGENTOS_VAULT_KEY": "x" * 20,
        "AGENTOS_VAULT_READERS": "tools, hands ,"})
    assert config.data_dir == tmp_path
    assert config.vault_key is not None and config.vault_key.get_secret_value() == "x" * 20
    assert config.vault_readers == ("tools", "hands")
    assert "x" * 20 not in repr(config)
    assert security.SecurityConfig.from_env({}).vault_readers is None
