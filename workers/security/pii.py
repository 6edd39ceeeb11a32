"""Detectors of personal data and secrets in text, pure: what :mod:`.taint` labels automatically.

Kinds and the label each implies:

===============  =========  ==============================================================
``email``        pii        ``local@domain.tld``
``phone``        pii        ``+`` and 8-15 digits, or 10-15 digits in groups (``(555) 123-4567``);
                            not dates, not dotted IPv4 addresses
``card``         pii        13-19 digits (spaces/dashes allowed) passing the Luhn check
``iban``         pii        country code, check digits, 11-30 alphanumerics; mod-97 == 1
``api_key``      secret     known prefixes (``sk-…`` with a random-looking body, ``sk-proj-``,
                            ``ghp_``, ``github_pat_``, ``AKIA``/``ASIA``, ``xox?-``, ``AIza``,
                            ``sk_live_``, ``glpat-``, ``SG.``, Slack webhook URLs…) or
                            ``key/secret/token/password = <value>`` (also as a JSON or YAML
                            key) with a random-looking value
``credential``   secret     ``Bearer <token>``/``token <token>``, ``Basic <base64 user:pass>``,
                            and the password of a URL's ``user:password@``
``jwt``          secret     three base64url segments, the first two decoding to JSON objects
``private_key``  secret     a PEM ``-----BEGIN … PRIVATE KEY-----`` (or PGP key block)
===============  =========  ==============================================================

Every pattern runs in time linear in the text (quantifiers before a fixed anchor are bounded,
candidate spans never overlap within one pattern), so a hostile text of megabytes cannot stall
the caller; values are then confirmed in Python (checksums, entropy, decoding).

Findings carry the span only, never the value, so they can be logged and returned safely.
:func:`redact` replaces each finding with ``[REDACTED:<kind>]``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["Finding", "detect", "labels_of", "luhn_ok", "iban_ok", "redact"]

LABEL_OF = {"email": "pii", "phone": "pii", "card": "pii", "iban": "pii",
            "api_key": "secret", "credential": "secret", "jwt": "secret", "private_key": "secret"}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
                    r"\.[A-Za-z]{2,24}(?![\w-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,5}){1,4}(?![\w])"
                    r"|(?<![\w+])\+\d{8,15}(?!\w)")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Z0-9])")
_KEY_PREFIXED = re.compile(
    r"(?<![\w-])(?:sk-(?:proj|ant|svcacct|admin)-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|"
    r"github_pat_[A-Za-z0-9_]{30,}|(?:AKIA|ASIA)[0-9A-Z]{16}|xox[abcdeoprs]-[A-Za-z0-9-]{10,}|"
    r"AIza[0-9A-Za-z_-]{35}|(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}|(?:sk|rk)_test_[A-Za-z0-9]{16,}|"
    r"whsec_[A-Za-z0-9]{24,}|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}|"
    r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|"
    r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,})(?![\w-])")
_KEY_BARE_SK = re.compile(r"(?<![\w-])sk-[A-Za-z0-9]{20,}(?![\w-])")
_KEY_ASSIGNED = re.compile(
    r"(?i)(?<![\w-])([\w-]{0,32}?(?:api[_-]?key|secret|token|passw(?:or)?d|passphrase|pwd|"
    r"access[_-]?key|auth(?!or))[\w-]{0,32})[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?([^\s\"',;&]{8,})")
_PASSWORD_NAME = re.compile(r"(?i)passw|passphrase|pwd")
_BEARER = re.compile(r"(?i)(?<![\w-])(?:bearer|token)[ \t]{1,8}([A-Za-z0-9._~+/=-]{16,})")
_BASIC = re.compile(r"(?i)(?<![\w-])basic[ \t]{1,8}([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])")
_URL_PASSWORD = re.compile(r"(?i)(?<![\w.+-])[a-z][a-z0-9+.-]{0,15}://[^\s:/?#@]{1,128}:([^\s/?#@]{1,256})@")
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                  r"(?:-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----|$)")
_IPV4_LIKE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PLACEHOLDER = ("$", "<", "{", "%", "*", "[")
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    span: tuple[int, int]

    @property
    def label(self) -> str:
        return LABEL_OF[self.kind]

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "span": list(self.span)}


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN (spaces ignored)."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _random_looking(value: str, *, min_len: int = 12, min_entropy: float = 3.0) -> bool:
    """Letters and digits, varied enough: a key or a password, not a word or a placeholder."""
    return (len(value) >= min_len and not value.startswith(_PLACEHOLDER)
            and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
            and _entropy(value) >= min_entropy)


def _jwt_ok(token: str) -> bool:
    for part in token.split(".")[:2]:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (binascii.Error, ValueError):
            return False
        if not isinstance(decoded, dict):
            return False
    return True


def _basic_ok(value: str) -> bool:
    """``value`` is base64 of a printable ``user:password``."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    user, colon, password = decoded.partition(":")
    return bool(colon and user and password and decoded.isprintable())


def _secrets(text: str) -> list[Finding]:
    found = [Finding("private_key", m.span()) for m in _PEM.finditer(text)]
    found += [Finding("jwt", m.span()) for m in _JWT.finditer(text) if _jwt_ok(m.group())]
    found += [Finding("api_key", m.span()) for m in _KEY_PREFIXED.finditer(text)]
    # a bare sk- key is mixed-case alphanumerics; a slug like sk-learn-… is not
    found += [Finding("api_key", m.span()) for m in _KEY_BARE_SK.finditer(text)
              if _random_looking(m.group()[3:], min_len=20) and m.group() != m.group().lower()]
    for m in _KEY_ASSIGNED.finditer(text):
        password = _PASSWORD_NAME.search(m.group(1)) is not None
        if _random_looking(m.group(2), min_len=8 if password else 12,
                           min_entropy=2.5 if password else 3.0):
            found.append(Finding("api_key", m.span(2)))
    found += [Finding("credential", m.span(1)) for m in _BEARER.finditer(text)
              if _random_looking(m.group(1), min_len=16)]
    found += [Finding("credential", m.span(1)) for m in _BASIC.finditer(text)
              if _basic_ok(m.group(1))]
    found += [Finding("credential", m.span(1)) for m in _URL_PASSWORD.finditer(text)
              if not m.group(1).startswith(_PLACEHOLDER)]
    return found


def detect(text: str) -> list[Finding]:
    """Every finding in ``text``, ordered by position (overlaps resolved by the stronger kind).

    Runs in time linear in ``len(text)``; callers with large texts run it off the event loop.
    """
    found = _secrets(text)
    found += [Finding("email", m.span()) for m in _EMAIL.finditer(text)]
    found += [Finding("iban", m.span()) for m in _IBAN.finditer(text) if iban_ok(m.group())]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits):
            found.append(Finding("card", m.span()))
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        plus = m.group().startswith("+")
        if (plus and 8 <= len(digits) <= 15 or 10 <= len(digits) <= 15) \
                and not _DATE_LIKE.fullmatch(m.group()) and not _IPV4_LIKE.fullmatch(m.group()):
            found.append(Finding("phone", m.span()))
    return _resolve(found)


_STRENGTH = {"private_key": 0, "jwt": 1, "api_key": 2, "credential": 3, "email": 4, "iban": 5,
             "card": 6, "phone": 7}


def _resolve(found: list[Finding]) -> list[Finding]:
    """Ordered by position; of two overlapping findings the stronger kind stays (a sweep)."""
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (f.span[0], _STRENGTH[f.kind])):
        if kept and f.span[0] < kept[-1].span[1]:
            if _STRENGTH[f.kind] < _STRENGTH[kept[-1].kind]:
                kept[-1] = f
            continue
        kept.append(f)
    return kept


def labels_of(findings: list[Finding]) -> set[str]:
    return {f.label for f in findings}


def redact(text: str, findings: list[Finding] | None = None) -> str:
    """``text`` with every finding replaced by ``[REDACTED:<kind>]``."""
    out, pos = [], 0
    for f in findings if findings is not None else detect(text):
        out.append(text[pos:f.span[0]])
        out.append(f"[REDACTED:{f.kind}]")
        pos = f.span[1]
    out.append(text[pos:])
    return "".join(out)
