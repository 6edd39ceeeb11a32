"""The vault through the engine: encryption at rest, rotation, keys, and who may read."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from workers.sdk import InvocationError, connect
from workers.security import SecurityConfig, SecurityService
from workers.security.keyring import KeyringError, MasterKey
from workers.security.vault import VAULT_SCOPE

from .conftest import VAULT_KEY, Stack, running

SECRET = "hunter2-correct-horse-battery-staple-7f3a9"


def forms(secret: str) -> list[bytes]:
    """The ways a leaked secret could appear in a file: raw, JSON-quoted, base64, hex."""
    raw = secret.encode()
    return [raw, f'"{secret}"'.encode(), base64.b64encode(raw), raw.hex().encode()]


def files_contain(directory: Path, secret: str) -> list[str]:
    hits = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.name}:{form!r}" for form in forms(secret) if form in data]
    return hits


async def test_round_trip_list_delete(stack: Stack) -> None:
    stored = await stack.call("vault::set", {"name": "openai/api_key", "value": SECRET})
    assert stored["name"] == "openai/api_key" and stored["version"] == 1 and stored["key_version"] == 1
    assert "value" not in stored
    got = await stack.call("vault::get", {"name": "openai/api_key"})
    assert got == {"name": "openai/api_key", "value": SECRET, "version": 1}
    await stack.call("vault::set", {"name": "db", "value": {"user": "app", "password": "pw-123"}})
    assert (await stack.call("vault::get", {"name": "db"}))["value"] == {"user": "app", "password": "pw-123"}
    again = await stack.call("vault::set", {"name": "openai/api_key", "value": "rotated-by-hand"})
    assert again["version"] == 2 and again["created_at"] == stored["created_at"]
    listed = await stack.call("vault::list")
    assert sorted(s["name"] for s in listed["secrets"]) == ["db", "openai/api_key"]
    assert SECRET not in str(listed) and "pw-123" not in str(listed)
    assert await stack.call("vault::delete", {"name": "db"}) == {"name": "db", "deleted": True}
    assert await stack.call("vault::delete", {"name": "db"}) == {"name": "db", "deleted": False}
    assert await stack.code_of("vault::get", {"name": "db"}) == "not_found"


async def test_values_never_reach_storage_logs_or_the_audit_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(tmp_path) as stack:
        await stack.call("vault::set", {"name": "name-marker-31337", "value": SECRET})
        await stack.call("vault::set", {"name": "k", "value": SECRET})
        assert (await stack.call("vault::get", {"name": "k"}))["value"] == SECRET
        await stack.call("vault::rotate", {})
        assert await stack.code_of("vault::set", {"name": "bad name!", "value": SECRET}) == "invalid_arguments"
        record = await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "k"})
        assert len(base64.b64decode(record["nonce"])) == 12
        assert SECRET not in str(record)
        audit = await stack.call("security::audit_list", {})
        assert [e["type"] for e in audit["entries"]] == [
            "vault.set", "vault.set", "vault.read", "vault.rotated"]
        assert SECRET not in str(audit)
    assert files_contain(tmp_path, "name-marker-31337")  # control: names are stored, and found
    assert files_contain(tmp_path, SECRET) == []
    assert SECRET not in caplog.text and base64.b64encode(SECRET.encode()).decode() not in caplog.text


async def test_each_encryption_uses_a_fresh_nonce(stack: Stack) -> None:
    await stack.call("vault::set", {"name": "a", "value": "same"})
    first = await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "a"})
    await stack.call("vault::set", {"name": "a", "value": "same"})
    second = await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "a"})
    assert first["nonce"] != second["nonce"] and first["ciphertext"] != second["ciphertext"]


async def test_ciphertext_is_bound_to_its_name(stack: Stack) -> None:
    await stack.call("vault::set", {"name": "admin", "value": "root-pw"})
    await stack.call("vault::set", {"name": "guest", "value": "guest-pw"})
    admin = await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "admin"})
    guest = await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "guest"})
    moved = {**guest, "nonce": admin["nonce"], "ciphertext": admin["ciphertext"]}
    await stack.call("state::set", {"scope": VAULT_SCOPE, "key": "guest", "value": moved})
    assert await stack.code_of("vault::get", {"name": "guest"}) == "vault_locked"
    flipped = {**admin, "ciphertext": base64.b64encode(b"x" + base64.b64decode(admin["ciphertext"])[1:]).decode()}
    await stack.call("state::set", {"scope": VAULT_SCOPE, "key": "admin", "value": flipped})
    assert await stack.code_of("vault::get", {"name": "admin"}) == "vault_locked"


async def test_rotation_reencrypts_under_a_new_key_version(stack: Stack) -> None:
    for name in ("a", "b"):
        await stack.call("vault::set", {"name": name, "value": f"value-{name}"})
    before = await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "a"})
    rotated = await stack.call("vault::rotate", {})
    assert rotated == {"key_version": 2, "rotated": ["a", "b"]}
    after = await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "a"})
    assert after["key_version"] == 2 and after["ciphertext"] != before["ciphertext"]
    assert (await stack.call("vault::get", {"name": "a"}))["value"] == "value-a"
    one = await stack.call("vault::rotate", {"name": "b", "value": "new-b"})
    assert one == {"key_version": 3, "rotated": ["b"]}
    assert (await stack.call("vault::get", {"name": "b"}))["value"] == "new-b"
    assert (await stack.call("vault::get", {"name": "a"}))["value"] == "value-a"  # still on v2
    await stack.call("vault::set", {"name": "c", "value": 1})
    assert (await stack.call("state::get", {"scope": VAULT_SCOPE, "key": "c"}))["key_version"] == 3
    assert await stack.code_of("vault::rotate", {"value": "x"}) == "invalid_arguments"
    assert await stack.code_of("vault::rotate", {"name": "missing"}) == "not_found"


async def test_a_wrong_master_key_is_detected(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        await stack.call("vault::set", {"name": "k", "value": "v"})
    other = SecurityConfig(data_dir=tmp_path / "data", vault_key=os.urandom(32).hex())
    async with running(tmp_path, config=other) as stack:
        assert await stack.code_of("vault::get", {"name": "k"}) == "vault_locked"
        assert await stack.code_of("vault::set", {"name": "k2", "value": "v"}) == "vault_locked"


async def test_a_generated_key_file_is_private_and_reused(tmp_path: Path) -> None:
    config = SecurityConfig(data_dir=tmp_path / "data")
    async with running(tmp_path, config=config) as stack:
        await stack.call("vault::set", {"name": "k", "value": "v"})
    key_file = tmp_path / "data" / "vault.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    async with running(tmp_path, config=config) as stack:
        assert (await stack.call("vault::get", {"name": "k"}))["value"] == "v"
    key_file.chmod(0o644)
    async with running(tmp_path, config=config) as stack:
        assert await stack.code_of("vault::get", {"name": "k"}) == "vault_locked"


def test_master_key_sources(tmp_path: Path) -> None:
    raw = MasterKey.load(VAULT_KEY, tmp_path)
    assert raw.source == "AGENTOS_VAULT_KEY" and VAULT_KEY not in repr(raw)
    b64 = MasterKey.load(base64.b64encode(bytes.fromhex(VAULT_KEY)).decode(), tmp_path)
    assert b64.data_key("r", 1, b"s" * 16) == raw.data_key("r", 1, b"s" * 16)
    phrase = MasterKey.load("a long enough passphrase", tmp_path)
    assert stat.S_IMODE((tmp_path / "vault.salt").stat().st_mode) == 0o600
    assert phrase.data_key(None, 1, b"s" * 16) == MasterKey.load("a long enough passphrase",
                                                                tmp_path).data_key(None, 1, b"s" * 16)
    assert raw.data_key("acme", 1, b"s" * 16) != raw.data_key("beta", 1, b"s" * 16)
    with pytest.raises(KeyringError):
        MasterKey.load("short", tmp_path)


async def test_clients_cannot_read_secrets(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, client_token="t-acme") as acme:
        await acme.call("vault::set", {"name": "k", "value": SECRET})
        assert [s["name"] for s in (await acme.call("vault::list"))["secrets"]] == ["k"]
        with pytest.raises(InvocationError) as err:
            await acme.call("vault::get", {"name": "k"})
        assert err.value.code == "forbidden" and SECRET not in err.value.message
        # Refused by the engine (vault::get is registered with min_role "worker"), before the
        # vault's own check: the message is the engine's.
        assert "may only be called by worker callers" in err.value.message
        async with connect(acme.node.url, workers=[], name="beta", token="t-beta") as beta:
            assert (await beta.trigger("vault::list"))["secrets"] == []  # realms are separate
        async with connect(acme.node.url, workers=[], name="tools", token="t-worker") as worker:
            # a worker acts in the default realm here: acme's secret is not there
            with pytest.raises(InvocationError) as err:
                await worker.trigger("vault::get", {"name": "k"})
            assert err.value.code == "not_found"


def test_only_vault_get_is_registered_worker_only() -> None:
    roles = {f.id: f.min_role for f in SecurityService().definitions()}
    assert roles["vault::get"] == "worker"
    assert {fid for fid, role in roles.items() if role != "client"} == {"vault::get"}


async def test_readers_allowlist_and_callerless_calls(tmp_path: Path) -> None:
    config = SecurityConfig(data_dir=tmp_path / "data", vault_key=VAULT_KEY, vault_readers=("tools",))
    async with running(tmp_path, config=config, auth=True) as stack:
        await stack.call("vault::set", {"name": "k", "value": "v"})
        async with connect(stack.node.url, workers=[], name="tools", token="t-worker") as tools, \
                connect(stack.node.url, workers=[], name="other", token="t-worker") as other:
            assert (await tools.trigger("vault::get", {"name": "k"}))["value"] == "v"
            with pytest.raises(InvocationError) as err:
                await other.trigger("vault::get", {"name": "k"})
            assert err.value.code == "forbidden"
        # the system-role client is not on the list either
        assert await stack.code_of("vault::get", {"name": "k"}) == "forbidden"
        # a call the engine makes itself (an HTTP trigger, a cron) carries no caller
        with pytest.raises(Exception) as raised:
            await stack.node.router.invoke("vault::get", {"name": "k"}, timeout=10)
        assert getattr(raised.value, "code", None) == "forbidden"
        reads = await stack.call("security::audit_list", {"type": "vault.read"})
        assert [e["detail"]["caller"] for e in reads["entries"]] == ["tools"]


@pytest.mark.parametrize(("function_id", "payload"), [
    ("vault::set", {"name": "k"}),
    ("vault::set", {"value": "v"}),
    ("vault::set", {"name": "", "value": "v"}),
    ("vault::set", {"name": "a b", "value": "v"}),
    ("vault::set", {"name": "x" * 201, "value": "v"}),
    ("vault::set", {"name": "k", "value": "v" * 70_000}),
    ("vault::get", {"name": 3}),
    ("vault::delete", {}),
])
async def test_malformed_payloads(stack: Stack, function_id: str, payload: Any) -> None:
    assert await stack.code_of(function_id, payload) == "invalid_arguments"
