"""Who is connecting: Bearer tokens on the WebSocket upgrade and on HTTP requests.

Tokens come from config (``engine.auth.tokens``) and, at run time, from any extra
:class:`TokenSource` (the control plane issues realm API keys into one). Lookups hash the
presented token first, so the comparison does not leak through timing, and the plaintext is never
kept in memory longer than the config object keeps it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .types import Credential, Role

__all__ = ["Authenticator", "TokenSource", "AuthFailure", "is_loopback", "bearer_token"]


class AuthFailure(Exception):
    """The presented credential was missing or wrong; ``code`` goes on the wire."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TokenSource(Protocol):
    def lookup(self, token_hash: str) -> Credential | None: ...


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Static:
    credentials: dict[str, Credential]

    def lookup(self, token_hash: str) -> Credential | None:
        return self.credentials.get(token_hash)


class Authenticator:
    """Maps an Authorization header to a :class:`Credential`.

    With no tokens at all the engine runs open: every connection is ``system``. The config
    refuses open mode on a non-loopback address, and ``agentos start`` warns about it.
    """

    def __init__(self, tokens: Iterable[tuple[str, Role, str | None, str | None]] = ()) -> None:
        static = {_hash(tok): Credential(role, realm, name) for tok, role, realm, name in tokens}
        self._sources: list[TokenSource] = [_Static(static)]
        self.open = not static

    def add_source(self, source: TokenSource) -> None:
        """Consult another token source too (e.g. realm API keys issued at run time)."""
        self._sources.append(source)

    def authenticate(self, header: str | None) -> Credential:
        """Check an Authorization header.

        Raises:
            AuthFailure: no token when tokens are required, or an unknown token.
        """
        token = bearer_token(header)
        if token is None:
            if self.open:
                return Credential("system", None, "open")
            raise AuthFailure("UNAUTHORIZED", "missing Bearer token")
        digest = _hash(token)
        for source in self._sources:
            cred = source.lookup(digest)
            if cred is not None:
                return cred
        if self.open:
            # Open mode ignores stray tokens (an iii SDK may send III_TOKEN anyway).
            return Credential("system", None, "open")
        raise AuthFailure("UNAUTHORIZED", "invalid token")
