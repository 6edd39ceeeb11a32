"""Vault cryptography: the master key, per-realm data keys, AES-256-GCM sealing.

Theory of operation
-------------------
**Master key** (:meth:`MasterKey.load`), in order:

1. ``AGENTOS_VAULT_KEY`` decoding (base64, base64url or hex) to exactly 32 bytes: used as is;
2. any other ``AGENTOS_VAULT_KEY`` of at least 16 characters: a passphrase, stretched with
   scrypt (n=2^15, r=8, p=1) and a random salt kept in ``<data_dir>/vault.salt``;
3. otherwise ``<data_dir>/vault.key``: 32 random bytes, created on first use with mode 0600
   (``O_EXCL``, so two processes cannot both create it). An existing key file readable by group
   or others is refused: fix its mode rather than run with a leaked key.

**Data keys**: each realm has a keyring of versions (stored by :mod:`.vault`), each with a random
16-byte salt; the data key of version ``v`` is HKDF-SHA256(master, salt, info =
``agentos-vault/v1|<realm>|<v>``). A *check* value sealed under each version detects a wrong
master key up front (the seed had no verifier: a wrong key showed only as garbage).

**Sealing**: AES-256-GCM with a fresh random 96-bit nonce per encryption and associated data
``agentos-vault/v1|<realm>|<name>|<v>``, so a ciphertext moved to another name, realm or key
version fails to open. Nothing here logs or returns key material.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["CHECK_PLAINTEXT", "KeyringError", "MasterKey", "aad", "open_sealed", "seal"]

KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16
CHECK_PLAINTEXT = b"agentos-vault-check"
_PREFIX = "agentos-vault/v1"


class KeyringError(Exception):
    """The master key cannot be loaded or created (the message names the file, never a key)."""


def _decode_raw(value: str) -> bytes | None:
    text = value.strip()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == KEY_BYTES:
            return raw
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if len(raw) == KEY_BYTES else None


def _private_file(path: Path, create: bytes) -> bytes:
    """The contents of ``path``, created with mode 0600 holding ``create`` if missing.

    Raises:
        KeyringError: the file is readable by group/others, or cannot be read or created.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(create)
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(f"{path} is accessible by group or others (mode "
                               f"{stat.S_IMODE(mode):o}); chmod 600 it")
        return path.read_bytes()
    except OSError as exc:
        raise KeyringError(f"cannot read or create {path}: {exc.strerror}") from exc


class MasterKey:
    """The vault master key; derive data keys with :meth:`data_key`."""

    __slots__ = ("_key", "source")

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != KEY_BYTES:
            raise KeyringError("the master key must be 32 bytes")
        self._key, self.source = key, source

    def __repr__(self) -> str:
        return f"<MasterKey from {self.source}>"

    @classmethod
    def load(cls, configured: str | None, data_dir: Path) -> MasterKey:
        """The master key (see the module docstring).

        Raises:
            KeyringError: a passphrase under 16 characters, or an unusable key or salt file.
        """
        if configured:
            raw = _decode_raw(configured)
            if raw is not None:
                return cls(raw, "AGENTOS_VAULT_KEY")
            if len(configured) < 16:
                raise KeyringError("AGENTOS_VAULT_KEY must be 32 bytes (base64/hex) or a "
                                   "passphrase of at least 16 characters")
            salt = _private_file(data_dir / "vault.salt", os.urandom(SALT_BYTES))
            derived = Scrypt(salt=salt, length=KEY_BYTES, n=2**15, r=8, p=1).derive(configured.encode())
            return cls(derived, "AGENTOS_VAULT_KEY (passphrase)")
        stored = _private_file(data_dir / "vault.key", base64.b64encode(os.urandom(KEY_BYTES)))
        raw = _decode_raw(stored.decode("ascii", "replace"))
        if raw is None:
            raise KeyringError(f"{data_dir / 'vault.key'} does not hold a base64 32-byte key")
        return cls(raw, str(data_dir / "vault.key"))

    def data_key(self, realm: str | None, version: int, salt: bytes) -> bytes:
        """The data key of ``realm``'s keyring version ``version``."""
        info = f"{_PREFIX}|{realm or ''}|{version}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(self._key)


def aad(realm: str | None, name: str, version: int) -> bytes:
    """The associated data binding a ciphertext to its realm, name and key version."""
    return f"{_PREFIX}|{realm or ''}|{name}|{version}".encode()


def seal(key: bytes, plaintext: bytes, associated: bytes) -> tuple[str, str]:
    """``(nonce, ciphertext)``, base64, of ``plaintext`` under ``key``."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated)
    return base64.b64encode(nonce).decode(), base64.b64encode(sealed).decode()


def open_sealed(key: bytes, nonce: str, ciphertext: str, associated: bytes) -> bytes | None:
    """The plaintext, or None if it does not authenticate (wrong key, moved or edited record)."""
    try:
        return AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), associated)
    except (InvalidTag, binascii.Error, ValueError):
        return None
