"""The audit hash chain, pure: entries, hashes, and the walker's verdicts on tampering."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from workers.security.chain import GENESIS, Head, Walker, canonical, entry_hash, head_of, make_entry

GENESIS_HEAD = Head()


def chain(n: int) -> list[dict[str, Any]]:
    out, head = [], Head()
    for i in range(n):
        entry = make_entry(head, ts=1000.0 + i, realm="acme", type="tool.call",
                           agent_id="a1", detail={"i": i, "text": "héllo ✓"})
        out.append(entry)
        head = Head(entry["seq"], entry["hash"])
    return out


def walk(entries: list[Any], *, start: Head = GENESIS_HEAD, end: int | None = None,
         page: int = 4) -> dict[str, Any]:
    walker = Walker(start, end)
    for i in range(0, len(entries), page):
        if walker.done:
            break
        walker.feed(entries[i:i + page])
    return walker.finish().public()


def test_canonical_json_is_stable_and_strict() -> None:
    assert canonical({"b": 1, "a": [1, 2.5, "é"]}) == '{"a":[1,2.5,"é"],"b":1}'.encode()
    for bad in (float("nan"), b"bytes", {1, 2}):
        with pytest.raises((ValueError, TypeError)):
            canonical(bad)


def test_entries_link_and_hash_every_field() -> None:
    entries = chain(3)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == GENESIS
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert all(e["hash"] == entry_hash(e) and e["id"] == e["hash"][:24] for e in entries)
    for field, value in [("ts", 1.5), ("realm", "beta"), ("type", "x"), ("agent_id", "b"),
                         ("detail", {}), ("seq", 9), ("prev_hash", "f" * 64)]:
        assert entry_hash({**entries[0], field: value}) != entries[0]["hash"], field


def test_a_sound_chain_verifies_across_pages() -> None:
    entries = chain(10)
    assert walk(entries, end=10) == {"valid": True, "entries": 10,
                                     "head": {"seq": 10, "hash": entries[-1]["hash"]}}
    assert walk(entries)["valid"]
    assert walk([], end=None) == {"valid": True, "entries": 0, "head": Head().record()}


def test_a_range_verifies_from_its_anchor() -> None:
    entries = chain(10)
    start = Head(4, entries[3]["hash"])
    assert walk(entries[4:], start=start, end=7) == {
        "valid": True, "entries": 3, "head": {"seq": 7, "hash": entries[6]["hash"]}}


@pytest.mark.parametrize(("tamper", "seq", "reason"), [
    (lambda es: es[4]["detail"].update(i=99), 5, "hash_mismatch"),
    (lambda es: es.__setitem__(4, {**es[4], "type": "benign"}), 5, "hash_mismatch"),
    (lambda es: es.__delitem__(4), 5, "missing"),
    (lambda es: es.__setitem__(slice(4, 6), [es[5], es[4]]), 5, "misplaced"),
    (lambda es: es.__delitem__(slice(7, 10)), 8, "missing"),
    (lambda es: es.__setitem__(4, "not an entry"), 5, "misplaced"),
])
def test_tampering_is_pinpointed(tamper: Any, seq: int, reason: str) -> None:
    entries = copy.deepcopy(chain(10))
    tamper(entries)
    verdict = walk(entries, end=10)
    assert verdict["valid"] is False
    assert verdict["first_broken_seq"] == seq
    assert verdict["reason"].startswith(reason)
    assert verdict["entries"] == seq - 1


def test_a_reforged_entry_breaks_the_next_link() -> None:
    entries = copy.deepcopy(chain(6))
    forged = make_entry(Head(2, entries[1]["hash"]), ts=1.0, realm="acme", type="forged",
                        agent_id=None, detail=None)
    entries[2] = forged  # self-consistent, but entry 4 still points at the original 3
    verdict = walk(entries, end=6)
    assert (verdict["first_broken_seq"], verdict["reason"].split(":")[0]) == (4, "broken_link")


def test_head_of_accepts_only_heads() -> None:
    assert head_of({"seq": 3, "hash": "ab"}) == Head(3, "ab")
    for bad in (None, [], {"seq": "3", "hash": "ab"}, {"seq": True, "hash": "x"},
                {"seq": -1, "hash": "x"}, {"seq": 1}):
        assert head_of(bad) is None
