"""Detectors of personal data and secrets in text, pure: what :mod:`.taint` labels automatically.

Kinds and the label each implies:

==============  =========  ===============================================================
``email``       pii        ``local@domain.tld``
``phone``       pii        ``+`` and 8-15 digits, or 10-15 digits in groups (``(555) 123-4567``)
``card``        pii        13-19 digits (spaces/dashes allowed) passing the Luhn check
``iban``        pii        country code, check digits, 11-30 alphanumerics; mod-97 == 1
``api_key``     secret     known prefixes (``sk-``, ``ghp_``, ``AKIA``, ``xox?-``, ``AIza``,
                           ``sk_live_``, ``glpat-``…) or ``key/secret/token/password = <value>``
                           with a high-entropy value
``jwt``         secret     three base64url segments, the first two decoding to JSON objects
``private_key`` secret     a PEM ``-----BEGIN … PRIVATE KEY-----`` block
==============  =========  ===============================================================

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
            "api_key": "secret", "jwt": "secret", "private_key": "secret"}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
                    r"\.[A-Za-z]{2,24}(?![\w-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,5}){1,4}(?![\w])"
                    r"|(?<![\w+])\+\d{8,15}(?!\w)")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Z0-9])")
_KEY_PREFIXED = re.compile(
    r"(?<![\w-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|"
    r"github_pat_[A-Za-z0-9_]{30,}|(?:AKIA|ASIA)[0-9A-Z]{16}|xox[baprs]-[A-Za-z0-9-]{10,}|"
    r"AIza[0-9A-Za-z_-]{35}|(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}|glpat-[A-Za-z0-9_-]{20,}|"
    r"hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36})(?![\w-])")
_KEY_ASSIGNED = re.compile(
    r"(?i)\b[\w-]*?(?:api[_-]?key|secret|token|passw(?:or)?d|pwd|access[_-]?key|auth)\w*\s*[:=]\s*"
    r"[\"']?([^\s\"',;]{12,})")
_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )*PRIVATE KEY-----|$)")
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


def _jwt_ok(token: str) -> bool:
    for part in token.split(".")[:2]:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (binascii.Error, ValueError):
            return False
        if not isinstance(decoded, dict):
            return False
    return True


def detect(text: str) -> list[Finding]:
    """Every finding in ``text``, ordered by position (overlaps resolved by the earlier kind)."""
    found: list[Finding] = []
    found += [Finding("private_key", m.span()) for m in _PEM.finditer(text)]
    found += [Finding("jwt", m.span()) for m in _JWT.finditer(text) if _jwt_ok(m.group())]
    found += [Finding("api_key", m.span()) for m in _KEY_PREFIXED.finditer(text)]
    for m in _KEY_ASSIGNED.finditer(text):
        value = m.group(1)
        if _entropy(value) >= 3.0 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            found.append(Finding("api_key", m.span(1)))
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
                and not _DATE_LIKE.fullmatch(m.group()):
            found.append(Finding("phone", m.span()))
    return _resolve(found)


def _resolve(found: list[Finding]) -> list[Finding]:
    """Ordered by position; of two overlapping findings the stronger kind stays (a sweep)."""
    rank = {kind: i for i, kind in enumerate(LABEL_OF)}
    strength = {"private_key": 0, "jwt": 1, "api_key": 2, "email": 3, "iban": 4, "card": 5,
                "phone": 6}
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (f.span[0], strength[f.kind], rank[f.kind])):
        if kept and f.span[0] < kept[-1].span[1]:
            if strength[f.kind] < strength[kept[-1].kind]:
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
