"""Validated modules: ids per realm, compiled code shared by content hash.

Two tables. **Ids** are per realm — ``(realm, module_id) → entry`` — so one realm can neither
run, list nor replace another's modules; each realm keeps at most ``max_per_realm`` ids and
forgets its least recently used one beyond that (only its own: a realm cannot push another's
modules out). **Code** is content-addressed — ``sha256(wasm) → Module`` — and held weakly, so a
module validated under several ids or in several realms is compiled once and freed when the last
id referring to it goes.

Pure bookkeeping: no I/O, no clock (timestamps are passed in).
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import wasmtime

from .abi import ModuleInterface
from .errors import ModuleNotFound

__all__ = ["ModuleEntry", "ModuleStatistics", "ModuleStore", "digest_of"]


def digest_of(wasm: bytes) -> str:
    """The content hash modules are cached under: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(wasm).hexdigest()


@dataclass(frozen=True, slots=True)
class ModuleEntry:
    module_id: str
    realm: str
    digest: str
    size: int
    interface: ModuleInterface
    module: wasmtime.Module
    validated_at: float

    def public(self) -> dict[str, Any]:
        """What ``wasm::validate`` and ``wasm::list_modules`` answer for it."""
        return {"module_id": self.module_id, "hash": self.digest, "size": self.size,
                "imports": self.interface.imports(), "wasi": self.interface.wasi,
                "validated_at": self.validated_at}


class ModuleStatistics(NamedTuple):
    realms: int
    modules: int
    """Module ids held, all realms together."""
    compiled: int
    """Distinct compiled modules alive (shared by content hash)."""
    evicted: int
    """Ids forgotten so far because a realm went over its cap."""


class ModuleStore:
    """The two tables. ``max_per_realm`` bounds each realm's ids."""

    def __init__(self, max_per_realm: int) -> None:
        self.max_per_realm = max_per_realm
        self._realms: dict[str, OrderedDict[str, ModuleEntry]] = {}
        self._code: weakref.WeakValueDictionary[str, wasmtime.Module] = weakref.WeakValueDictionary()
        self._evicted = 0

    def compiled(self, digest: str) -> wasmtime.Module | None:
        """The compiled module with this content hash, if any id still holds it."""
        return self._code.get(digest)

    def put(self, realm: str, module_id: str, digest: str, size: int, module: wasmtime.Module,
            interface: ModuleInterface, now: float) -> ModuleEntry:
        """Store (or replace) ``module_id`` in ``realm``; may forget the realm's oldest id."""
        self._code.setdefault(digest, module)
        entries = self._realms.setdefault(realm, OrderedDict())
        entry = ModuleEntry(module_id, realm, digest, size, interface, self._code[digest], now)
        entries.pop(module_id, None)
        entries[module_id] = entry
        while len(entries) > self.max_per_realm:
            entries.popitem(last=False)
            self._evicted += 1
        return entry

    def get(self, realm: str, module_id: str) -> ModuleEntry:
        """The module, marked as recently used.

        Raises:
            ModuleNotFound: no such id in ``realm`` (never validated, or forgotten).
        """
        entries = self._realms.get(realm)
        entry = entries.get(module_id) if entries is not None else None
        if entry is None or entries is None:
            raise ModuleNotFound(f"no module {module_id!r}: validate it first (wasm::validate)")
        entries.move_to_end(module_id)
        return entry

    def list(self, realm: str) -> list[ModuleEntry]:
        """The realm's modules, by id."""
        return sorted(self._realms.get(realm, {}).values(), key=lambda e: e.module_id)

    def statistics(self) -> ModuleStatistics:
        return ModuleStatistics(len(self._realms), sum(len(e) for e in self._realms.values()),
                                len(self._code), self._evicted)
