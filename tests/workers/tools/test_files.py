"""The file tools through their gated handlers: per-agent, per-realm workspaces and caps."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from workers.sdk import InvocationError

from .conftest import Harness

pytestmark = pytest.mark.anyio


async def fails(h: Harness, code: str, function_id: str, data: Any, env: Any = None) -> InvocationError:
    with pytest.raises(InvocationError) as caught:
        await h.call(function_id, data, env)
    assert caught.value.code == code, caught.value
    return caught.value


async def test_write_read_list(harness: Harness) -> None:
    h = harness
    assert await h.call("tool::file_write", {"path": "notes/a.md", "content": "héllo"}) == {
        "path": "notes/a.md", "bytes": 6}
    read = await h.call("tool::file_read", {"path": "notes/a.md"})
    assert read == {"path": "notes/a.md", "content": "héllo", "encoding": "utf-8", "size": 6,
                    "truncated": False}
    listed = await h.call("tool::file_list", {"recursive": True})
    assert [e["path"] for e in listed["entries"]] == ["notes", "notes/a.md"]
    assert (h.workspace() / "notes" / "a.md").read_text() == "héllo"


async def test_binary_content_as_base64(harness: Harness) -> None:
    blob = bytes(range(256))
    await harness.call("tool::file_write", {"path": "b.bin", "encoding": "base64",
                                            "content": base64.b64encode(blob).decode()})
    read = await harness.call("tool::file_read", {"path": "b.bin"})
    assert read["encoding"] == "base64" and base64.b64decode(read["content"]) == blob


async def test_a_cut_read_never_splits_a_character(harness: Harness) -> None:
    await harness.call("tool::file_write", {"path": "u.txt", "content": "aé"})
    read = await harness.call("tool::file_read", {"path": "u.txt", "max_bytes": 2})
    assert read["content"] == "a" and read["truncated"] and read["encoding"] == "utf-8"


async def test_agents_and_realms_do_not_share_workspaces(harness: Harness) -> None:
    h = harness
    await h.call("tool::file_write", {"path": "mine.txt", "content": "alice's"})
    for env in (h.env("bob"), h.env("alice", realm="beta")):
        await fails(h, "not_found", "tool::file_read", {"path": "mine.txt"}, env)
    alice_root = str(h.workspace())
    await fails(h, "path_forbidden", "tool::file_read", {"path": f"{alice_root}/mine.txt"},
                h.env("bob"))
    await fails(h, "path_forbidden", "tool::file_read", {"path": "../alice/mine.txt"}, h.env("bob"))
    await fails(h, "path_forbidden", "tool::file_read",
                {"path": "../../beta/alice/x"}, h.env("alice"))


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../../etc/passwd", "/", "x\x00y"])
async def test_traversal_is_refused(harness: Harness, path: str) -> None:
    for function_id, data in (("tool::file_read", {"path": path}),
                              ("tool::file_write", {"path": path, "content": "x"}),
                              ("tool::file_list", {"path": path})):
        if path == "/" and function_id != "tool::file_write":
            continue  # "/" is outside: refused by all three, checked once via write
        await fails(harness, "path_forbidden", function_id, data)


async def test_a_symlink_escape_is_refused(harness: Harness, tmp_path: Any) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    await harness.call("tool::file_list", {})  # creates the workspace
    (harness.workspace() / "escape").symlink_to(tmp_path, target_is_directory=True)
    error = await fails(harness, "path_forbidden", "tool::file_read", {"path": "escape/secret.txt"})
    assert "symlink" in error.message
    await fails(harness, "path_forbidden", "tool::file_write",
                {"path": "escape/planted.txt", "content": "x"})
    assert not (tmp_path / "planted.txt").exists()


async def test_an_agent_id_smuggled_in_the_arguments_is_refused(harness: Harness) -> None:
    await fails(harness, "invalid_arguments", "tool::file_read", {"path": "x", "_agent_id": "bob"})
    await fails(harness, "invalid_arguments", "tool::file_read", {"path": "x", "agent_id": "bob"})


async def test_a_call_without_an_agent_is_refused(harness: Harness) -> None:
    await fails(harness, "no_agent_identity", "tool::file_list", {}, harness.env(agent=None))


async def test_size_caps(make: Callable[..., Harness]) -> None:
    h = make(files={"max_write_bytes": 10, "max_read_bytes": 4})
    await fails(h, "too_large", "tool::file_write", {"path": "a", "content": "x" * 11})
    await h.call("tool::file_write", {"path": "a", "content": "0123456789"})
    read = await h.call("tool::file_read", {"path": "a", "max_bytes": 1000})
    assert read["content"] == "0123" and read["truncated"] and read["size"] == 10


async def test_bad_base64_is_invalid(harness: Harness) -> None:
    await fails(harness, "invalid_arguments", "tool::file_write",
                {"path": "a", "content": "!!", "encoding": "base64"})


async def test_the_tool_capability_is_rechecked(harness: Harness) -> None:
    record = {"agent_id": "alice", "capabilities": {"tools": ["tool::file_read"]}}
    env = harness.env(functions={"state::get": lambda d: record})
    await fails(harness, "forbidden", "tool::file_write", {"path": "a", "content": "x"}, env)
    await fails(harness, "not_found", "tool::file_read", {"path": "a"}, env)  # allowed, absent
    denying = harness.env(functions={"security::check_capability":
                                     lambda d: {"allowed": False, "reason": "quarantined"}})
    error = await fails(harness, "forbidden", "tool::file_list", {}, denying)
    assert error.message == "quarantined"
