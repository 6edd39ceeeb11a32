"""tool::shell_exec: no shell, allowlist, scrubbed env, workspace cwd, timeouts, output caps."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workers.sdk import InvocationError

from .conftest import Harness

pytestmark = pytest.mark.anyio

SLACK_S = 5.0
"""Bound on how long a killed command may take to be reaped (not a synchronisation)."""


async def run(h: Harness, argv: list[str], **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await h.call("tool::shell_exec", {"argv": argv, **extra})
    return result


async def refused(h: Harness, code: str, argv: list[str], **extra: Any) -> str:
    with pytest.raises(InvocationError) as caught:
        await run(h, argv, **extra)
    assert caught.value.code == code, caught.value
    return caught.value.message


async def test_a_plain_command(harness: Harness) -> None:
    result = await run(harness, ["echo", "hello", "world"])
    assert result["exit_code"] == 0 and result["stdout"] == "hello world\n"
    assert result["stderr"] == "" and result["timed_out"] is False
    assert result["truncated"] == {"stdout": False, "stderr": False}


async def test_shell_metacharacters_are_literal_arguments(harness: Harness) -> None:
    h = harness
    await h.call("tool::file_write", {"path": "keep.txt", "content": "still here"})
    hostile = "hello; rm -rf . && cat /etc/passwd | tee out $(whoami) `id` > out2"
    result = await run(h, ["echo", hostile])
    assert result["stdout"] == hostile + "\n"
    assert sorted(p.name for p in h.workspace().iterdir()) == ["keep.txt"]
    result = await run(h, ["ls", "; rm -rf ."])
    assert result["exit_code"] != 0 and "; rm -rf ." in result["stderr"]
    assert (h.workspace() / "keep.txt").read_text() == "still here"


@pytest.mark.parametrize("argv", [
    ["sh", "-c", "echo pwned"], ["bash"], ["python3", "-c", "print(1)"], ["rm", "-rf", "."],
    ["/bin/ls"], ["./ls"], ["ls "], ["env"], ["find", ".", "-exec", "sh", ";"],
])
async def test_only_allowlisted_binaries_by_bare_name(harness: Harness, argv: list[str]) -> None:
    assert "not an allowed command" in await refused(harness, "command_not_allowed", argv)


@pytest.mark.parametrize("argv", [
    ["cat", "/etc/passwd"], ["cat", "../../../../etc/passwd"], ["cat", "a/../../b"],
    ["grep", "--file=/etc/shadow", "x"], ["head", "-n", "1", "~root/.ssh/id_rsa"],
])
async def test_path_arguments_that_leave_the_workspace_are_refused(harness: Harness,
                                                                   argv: list[str]) -> None:
    assert "leaves the workspace" in await refused(harness, "command_not_allowed", argv)


async def test_the_environment_is_scrubbed(make: Callable[..., Harness],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOS_TOKEN", "super-secret")
    h = make(shell={"allowlist": ["env"]})
    result = await run(h, ["env"])
    env = dict(line.split("=", 1) for line in result["stdout"].splitlines())
    assert env == {"PATH": "/usr/bin:/bin", "HOME": str(h.workspace()), "LANG": "C.UTF-8"}


async def test_cwd_is_a_workspace_directory(harness: Harness, tmp_path: Path) -> None:
    h = harness
    await h.call("tool::file_write", {"path": "sub/inner.txt", "content": "x"})
    assert (await run(h, ["ls"], cwd="sub"))["stdout"] == "inner.txt\n"
    assert (await run(h, ["pwd"]))["stdout"] == f"{h.workspace()}\n"
    await refused(h, "path_forbidden", ["ls"], cwd="..")
    (h.workspace() / "out").symlink_to(tmp_path, target_is_directory=True)
    await refused(h, "path_forbidden", ["ls"], cwd="out")
    await refused(h, "not_found", ["ls"], cwd="missing")


async def test_a_command_past_its_timeout_is_killed(make: Callable[..., Harness]) -> None:
    h = make(shell={"allowlist": ["sleep"]})
    started = time.monotonic()
    result = await run(h, ["sleep", "30"], timeout_s=0.3)
    assert result["timed_out"] is True and result["exit_code"] == -9
    assert time.monotonic() - started < SLACK_S


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


async def test_the_whole_process_group_is_killed(make: Callable[..., Harness]) -> None:
    # sh is allowlisted here only to make a grandchild; it is never in the default list
    h = make(shell={"allowlist": ["sh"], "refuse_path_args": False})
    result = await run(h, ["sh", "-c", "sleep 30 & echo $!; wait"], timeout_s=0.5)
    assert result["timed_out"] is True
    grandchild = int(result["stdout"].strip())
    assert not _alive(grandchild)


async def test_output_is_capped(make: Callable[..., Harness]) -> None:
    h = make(shell={"max_output_bytes": 100})
    result = await run(h, ["seq", "1", "100000"])
    assert result["exit_code"] == 0 and len(result["stdout"]) == 100
    assert result["stdout"].startswith("1\n2\n3\n") and result["truncated"]["stdout"] is True


async def test_limits_on_the_request(make: Callable[..., Harness]) -> None:
    h = make(shell={"allowlist": ["echo", "not-a-real-binary-anywhere"]})
    await refused(h, "invalid_arguments", ["echo", "x"], timeout_s=3600)
    await refused(h, "invalid_arguments", ["echo", "a\x00b"])
    await refused(h, "invalid_arguments", [])
    assert "not installed" in await refused(h, "command_not_allowed", ["not-a-real-binary-anywhere"])

