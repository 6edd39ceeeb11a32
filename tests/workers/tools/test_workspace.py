"""Workspace containment: traversal, absolute paths, symlink escapes, special files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workers.tools.errors import InvalidArguments, NotFound, PathForbidden, TooLarge
from workers.tools.workspace import Workspace, split


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "data", "acme", "alice")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP SECRET")
    return path


@pytest.mark.parametrize(("path", "parts"), [
    ("a.txt", ["a.txt"]), ("./a/./b", ["a", "b"]), ("a//b/", ["a", "b"]), (".", []), ("", []),
])
def test_split_normalises_harmless_paths(tmp_path: Path, path: str, parts: list[str]) -> None:
    assert split(tmp_path, path, 32) == parts


@pytest.mark.parametrize("path", [
    "..", "../x", "a/../../x", "a/..", "x/\x00", "/etc/passwd", "/", "a/" * 40 + "b", "x" * 300,
])
def test_split_refuses_escapes(tmp_path: Path, path: str) -> None:
    with pytest.raises(PathForbidden):
        split(tmp_path, path, 32)


def test_absolute_paths_inside_the_workspace_are_made_relative(ws: Workspace) -> None:
    assert ws.parts(str(ws.root / "notes" / "a.md")) == ["notes", "a.md"]
    assert ws.parts(str(ws.root)) == []
    with pytest.raises(PathForbidden):
        ws.parts(str(ws.root) + "-evil/x")  # a sibling sharing the prefix
    with pytest.raises(PathForbidden):
        ws.parts(str(ws.root / "a" / ".." / ".." / "bob" / "x"))


def test_write_read_list_round_trip(ws: Workspace) -> None:
    assert ws.write("notes/today.md", b"hello", max_bytes=100, create_parents=True) == 5
    assert ws.read("notes/today.md", 100) == (b"hello", 5)
    assert ws.read("notes/today.md", 2) == (b"he", 5)
    entries, truncated = ws.entries(".", recursive=True, max_entries=10)
    assert entries == [{"path": "notes", "type": "dir", "size": None},
                       {"path": "notes/today.md", "type": "file", "size": 5}]
    assert not truncated
    assert (ws.root / "notes" / "today.md").stat().st_mode & 0o777 == 0o600


def test_missing_things(ws: Workspace) -> None:
    with pytest.raises(NotFound):
        ws.read("nope.txt", 10)
    with pytest.raises(NotFound):
        ws.write("no/parent.txt", b"x", max_bytes=10, create_parents=False)
    with pytest.raises(NotFound):
        ws.entries("nodir", recursive=False, max_entries=10)


def test_size_cap_on_write(ws: Workspace) -> None:
    with pytest.raises(TooLarge):
        ws.write("big", b"x" * 11, max_bytes=10, create_parents=True)
    assert not (ws.root / "big").exists()


def test_a_symlinked_file_pointing_outside_is_refused(ws: Workspace, secret: Path) -> None:
    (ws.root / "link.txt").symlink_to(secret)
    with pytest.raises(PathForbidden, match="symlink"):
        ws.read("link.txt", 100)


def test_a_symlinked_directory_pointing_outside_is_refused(ws: Workspace, secret: Path) -> None:
    (ws.root / "out").symlink_to(secret.parent, target_is_directory=True)
    for attempt in (lambda: ws.read("out/secret.txt", 100),
                    lambda: ws.write("out/new.txt", b"x", max_bytes=10, create_parents=True),
                    lambda: ws.entries("out", recursive=False, max_entries=10),
                    lambda: ws.directory("out")):
        with pytest.raises(PathForbidden):
            attempt()
    assert not (secret.parent / "new.txt").exists()


def test_a_symlink_deeper_in_the_path_is_refused(ws: Workspace, secret: Path) -> None:
    (ws.root / "a" / "b").mkdir(parents=True)
    (ws.root / "a" / "b" / "c").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(PathForbidden):
        ws.read("a/b/c/secret.txt", 100)


def test_even_symlinks_pointing_inside_are_not_followed(ws: Workspace) -> None:
    ws.write("real.txt", b"data", max_bytes=10, create_parents=True)
    (ws.root / "alias.txt").symlink_to(ws.root / "real.txt")
    with pytest.raises(PathForbidden):
        ws.read("alias.txt", 10)


def test_writing_over_a_symlink_replaces_the_link_not_its_target(ws: Workspace, secret: Path) -> None:
    (ws.root / "victim").symlink_to(secret)
    ws.write("victim", b"mine", max_bytes=10, create_parents=True)
    assert secret.read_text() == "TOP SECRET"
    assert not (ws.root / "victim").is_symlink() and (ws.root / "victim").read_bytes() == b"mine"


def test_listing_shows_symlinks_without_entering_them(ws: Workspace, secret: Path) -> None:
    (ws.root / "out").symlink_to(secret.parent, target_is_directory=True)
    entries, _ = ws.entries(".", recursive=True, max_entries=100)
    assert entries == [{"path": "out", "type": "symlink", "size": None}]


def test_special_files_and_directories_are_not_read(ws: Workspace) -> None:
    os.mkfifo(ws.root / "pipe")
    with pytest.raises(InvalidArguments, match="not a regular file"):
        ws.read("pipe", 10)  # O_NONBLOCK: a FIFO without a writer cannot hang us
    (ws.root / "d").mkdir()
    with pytest.raises(InvalidArguments, match="directory"):
        ws.read("d", 10)
    with pytest.raises(InvalidArguments, match="directory"):
        ws.write("d", b"x", max_bytes=10, create_parents=True)


def test_listing_is_capped(ws: Workspace) -> None:
    for i in range(5):
        ws.write(f"f{i}", b"", max_bytes=1, create_parents=True)
    entries, truncated = ws.entries(".", recursive=False, max_entries=3)
    assert len(entries) == 3 and truncated


def test_the_workspace_root_itself_is_private(ws: Workspace) -> None:
    assert ws.root.stat().st_mode & 0o777 == 0o700
    assert ws.root.parts[-3:] == ("workspaces", "acme", "alice")
