"""Invocation ids: unique, UUID-shaped (the engine checks the pattern), not predictable."""

from __future__ import annotations

import re
import uuid

from workers.sdk._ids import InvocationIds

# The pattern engine.protocol.UUIDStr enforces on every invocation_id.
UUID_TEXT = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def test_ids_are_unique_version_4_uuids_across_many_blocks() -> None:
    ids = InvocationIds()
    drawn = [ids() for _ in range(10_000)]  # ~80 refills of the random block
    assert len(set(drawn)) == len(drawn)
    assert all(UUID_TEXT.match(i) for i in drawn)
    parsed = [uuid.UUID(i) for i in drawn[:300]]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == drawn[:300]  # canonical lower-case text


def test_two_sources_do_not_share_ids() -> None:
    a, b = InvocationIds(), InvocationIds()
    assert not {a() for _ in range(1000)} & {b() for _ in range(1000)}


def test_consecutive_ids_share_no_prefix_or_counter() -> None:
    # Unpredictable: a callee that sees one of our ids learns nothing about the next one.
    ids = InvocationIds()
    first, second = ids(), ids()
    assert first[:8] != second[:8] and first[-12:] != second[-12:]
