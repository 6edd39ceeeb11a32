"""The ``KV`` contract, run against every backend (see conftest ``backend``)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from engine.adapters import AdapterClosedError, SerializationError, SqliteKV

if TYPE_CHECKING:
    from conftest import Backend

pytestmark = pytest.mark.anyio


async def test_set_get_delete_return_old_values(backend: Backend) -> None:
    kv = await backend.open_kv()
    assert await kv.get("s", "k") is None
    assert await kv.set("s", "k", {"n": 1}) is None
    assert await kv.get("s", "k") == {"n": 1}
    assert await kv.set("s", "k", [1, "two", None]) == {"n": 1}
    assert await kv.delete("s", "k") == [1, "two", None]
    assert await kv.get("s", "k") is None
    assert await kv.delete("s", "k") is None


async def test_values_are_json_copies(backend: Backend) -> None:
    kv = await backend.open_kv()
    value: dict[str, Any] = {"t": (1, 2), "u": "héllo ✓", "f": 1.5, "b": True, "z": None}
    await kv.set("s", "k", value)
    got = await kv.get("s", "k")
    assert got == {"t": [1, 2], "u": "héllo ✓", "f": 1.5, "b": True, "z": None}
    got["u"] = "changed"
    assert (await kv.get("s", "k"))["u"] == "héllo ✓"
    await kv.set("s", "null", None)
    assert await kv.list("s") == [("k", got | {"u": "héllo ✓"}), ("null", None)]


async def test_non_json_values_are_refused(backend: Backend) -> None:
    kv = await backend.open_kv()
    with pytest.raises(SerializationError):
        await kv.set("s", "k", {1, 2})
    with pytest.raises(ValueError):
        await kv.set("s", "k", float("nan"))
    assert await kv.scopes() == []


async def test_list_and_scopes_are_sorted(backend: Backend) -> None:
    kv = await backend.open_kv()
    for scope, key in [("b", "z"), ("b", "a"), ("a:2", "x"), ("a:1", "x"), ("c", "m"), ("b", "é")]:
        await kv.set(scope, key, f"{scope}/{key}")
    assert await kv.list("b") == [("a", "b/a"), ("z", "b/z"), ("é", "b/é")]
    assert await kv.list("missing") == []
    assert await kv.scopes() == ["a:1", "a:2", "b", "c"]
    assert await kv.scopes("a:") == ["a:1", "a:2"]
    assert await kv.scopes("b") == ["b"]
    assert await kv.scopes("zz") == []
    await kv.delete("c", "m")
    assert await kv.scopes() == ["a:1", "a:2", "b"]


async def test_update_returns_old_and_new(backend: Backend) -> None:
    kv = await backend.open_kv()
    assert await kv.update("s", "n", lambda v: (v or 0) + 5) == (None, 5)
    assert await kv.update("s", "n", lambda v: [v]) == (5, [5])
    assert await kv.get("s", "n") == [5]
    assert await kv.scopes() == ["s"]


async def test_update_fn_may_mutate_its_argument(backend: Backend) -> None:
    kv = await backend.open_kv()
    await kv.set("s", "d", {"a": 1})

    def add_b(value: Any) -> Any:
        value["b"] = 2
        return value

    assert await kv.update("s", "d", add_b) == ({"a": 1}, {"a": 1, "b": 2})


async def _increment_many(kvs: list[Any], n: int) -> None:
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(kvs[i % len(kvs)].update, "counters", "c", lambda v: (v or 0) + 1)


async def test_update_is_atomic_under_50_concurrent_writers(backend: Backend) -> None:
    kv = await backend.open_kv()
    await _increment_many([kv], 50)
    assert await kv.get("counters", "c") == 50


async def test_update_is_atomic_across_two_instances(backend: Backend) -> None:
    first, second = await backend.open_kv(), await backend.open_kv()
    await _increment_many([first, second], 50)
    assert await first.get("counters", "c") == 50
    assert await second.get("counters", "c") == 50


async def test_update_fn_raising_writes_nothing(backend: Backend) -> None:
    kv = await backend.open_kv()
    await kv.set("s", "k", 1)

    def boom(_: Any) -> Any:
        raise LookupError("no")

    with pytest.raises(LookupError, match="no"):
        await kv.update("s", "k", boom)
    with pytest.raises(LookupError):
        await kv.update("other", "k", boom)
    with pytest.raises(SerializationError):
        await kv.update("s", "k", lambda _: object())
    assert await kv.get("s", "k") == 1
    assert await kv.scopes() == ["s"]


async def test_persists_across_close_and_reopen(backend: Backend) -> None:
    if not backend.durable:
        pytest.skip("memory storage does not outlive its instance")
    kv = await backend.open_kv()
    await kv.set("s", "k", {"v": 1})
    await kv.update("s", "n", lambda v: 41 + 1)
    await kv.close()
    reopened = await backend.open_kv()
    assert await reopened.list("s") == [("k", {"v": 1}), ("n", 42)]


async def test_use_after_close_raises(backend: Backend) -> None:
    kv = await backend.open_kv()
    await kv.close()
    await kv.close()  # idempotent
    with pytest.raises(AdapterClosedError):
        await kv.get("s", "k")


_CHILD = textwrap.dedent(
    """
    import sys, anyio
    from engine.adapters import SqliteKV

    async def main():
        async with SqliteKV(sys.argv[1]) as kv:
            for i in range(100):
                await kv.set("s", f"k{i:03}", i)
            await kv.update("s", "k000", lambda v: "updated")
            print("committed", flush=True)
            await anyio.sleep_forever()

    anyio.run(main)
    """
)


@pytest.mark.slow
async def test_sqlite_commits_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    async with await anyio.open_process([sys.executable, "-c", _CHILD, str(path)]) as proc:
        assert proc.stdout is not None
        line = await proc.stdout.receive()
        assert line.startswith(b"committed")
        proc.kill()  # SIGKILL: no close, no checkpoint
        assert await proc.wait() != 0
    async with SqliteKV(path) as kv:
        items = await kv.list("s")
    assert len(items) == 100
    assert items[0] == ("k000", "updated")
    assert items[-1] == ("k099", 99)


async def test_sqlite_lazy_open_is_race_free(tmp_path: Path) -> None:
    kv = SqliteKV(tmp_path / "lazy.db")  # not entered: the first calls open it
    try:
        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(kv.set, "s", f"k{i}", i)
        assert len(await kv.list("s")) == 10
    finally:
        await kv.close()
