"""The module store: ids per realm with LRU eviction, code shared by content hash."""

from __future__ import annotations

import gc

import pytest
import wasmtime

from workers.wasm_sandbox import example
from workers.wasm_sandbox.abi import inspect_module
from workers.wasm_sandbox.errors import ModuleNotFound
from workers.wasm_sandbox.modules import ModuleStore, digest_of

ENGINE = wasmtime.Engine()
SUM = bytes(wasmtime.wat2wasm(example("sum")))
UPPER = bytes(wasmtime.wat2wasm(example("echo_upper")))


def put(store: ModuleStore, realm: str, module_id: str, wasm: bytes = SUM) -> None:
    digest = digest_of(wasm)
    module = store.compiled(digest) or wasmtime.Module(ENGINE, wasm)
    store.put(realm, module_id, digest, len(wasm), module, inspect_module(module), 0.0)


def test_digest_is_sha256_of_the_binary() -> None:
    assert digest_of(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_ids_are_per_realm() -> None:
    store = ModuleStore(max_per_realm=8)
    put(store, "acme", "m")
    assert store.get("acme", "m").module_id == "m"
    with pytest.raises(ModuleNotFound):
        store.get("beta", "m")
    assert [e.module_id for e in store.list("acme")] == ["m"] and store.list("beta") == []


def test_same_content_compiles_once_across_ids_and_realms() -> None:
    store = ModuleStore(max_per_realm=8)
    put(store, "acme", "a")
    put(store, "beta", "b")
    assert store.get("acme", "a").module is store.get("beta", "b").module
    assert store.statistics().compiled == 1 and store.statistics().modules == 2


def test_least_recently_used_id_goes_first_and_only_in_its_realm() -> None:
    store = ModuleStore(max_per_realm=2)
    put(store, "beta", "keep")
    put(store, "acme", "one")
    put(store, "acme", "two")
    store.get("acme", "one")  # "two" is now the least recently used
    put(store, "acme", "three", UPPER)
    assert [e.module_id for e in store.list("acme")] == ["one", "three"]
    assert store.get("beta", "keep")
    assert store.statistics().evicted == 1


def test_replacing_an_id_keeps_one_entry() -> None:
    store = ModuleStore(max_per_realm=2)
    put(store, "acme", "m")
    put(store, "acme", "m", UPPER)
    assert store.get("acme", "m").digest == digest_of(UPPER)
    assert store.statistics().modules == 1


def test_code_no_id_refers_to_is_freed() -> None:
    store = ModuleStore(max_per_realm=1)
    put(store, "acme", "a")
    put(store, "acme", "b", UPPER)
    gc.collect()
    assert store.compiled(digest_of(SUM)) is None
    assert store.compiled(digest_of(UPPER)) is not None
