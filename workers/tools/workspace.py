"""A per-agent workspace directory, and file access that cannot leave it.

Theory of operation
-------------------
Each agent owns ``<data_dir>/workspaces/<realm>/<agent_id>/`` (mode 0700, created on first use).
A path a tool receives is **checked lexically, then walked with file descriptors**:

1. *Lexically* (:func:`split`): no NUL; an absolute path is accepted only if it lies under the
   workspace root (it is made relative); ``.`` and empty components are dropped; any ``..`` is
   refused outright (we never resolve it, so no ``a/../../x`` game); depth and component length
   are capped.
2. *By descriptor* (:meth:`Workspace._walk`): starting from an ``O_DIRECTORY`` descriptor of the
   root, each component is opened relative to its parent's descriptor with ``O_NOFOLLOW``.
   A symlink anywhere — an intermediate directory or the final file — fails the open (``ELOOP``
   / ``ENOTDIR``) and the request is refused. Because every step is relative to a descriptor
   already inside the workspace, swapping a component for a symlink between a check and a use
   gains nothing: there is no separate check.

So symlinks are never followed, even ones pointing inside the workspace (the tools never create
them; an agent cannot either). Files are opened with ``O_NONBLOCK`` and must be regular (a FIFO
cannot hang a read). Writes go to a temporary name in the same directory, then ``os.replace``
(atomic, and it replaces a symlink rather than writing through it).

Everything here blocks: the handlers call it in a worker thread.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InvalidArguments, NotFound, PathForbidden, TooLarge

__all__ = ["Workspace", "split"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_COMPONENT = 255


def split(root: Path, path: str, max_depth: int) -> list[str]:
    """The components of ``path`` relative to ``root``, or a refusal.

    Raises:
        PathForbidden: ``..``, an absolute path outside ``root``, NUL, too deep or too long.
    """
    if "\x00" in path:
        raise PathForbidden("a path may not contain NUL")
    if os.path.isabs(path):
        normal = os.path.normpath(path)
        base = str(root)
        if normal != base and not normal.startswith(base + os.sep):
            raise PathForbidden(f"{path!r} is outside the workspace (use a relative path)")
        if ".." in path.split("/"):
            raise PathForbidden("'..' is not allowed in a path")
        path = os.path.relpath(normal, base)
    parts = [c for c in path.split("/") if c not in ("", ".")]
    if ".." in parts:
        raise PathForbidden("'..' is not allowed in a path")
    if len(parts) > max_depth:
        raise PathForbidden(f"the path is deeper than {max_depth} components")
    if any(len(c.encode()) > _MAX_COMPONENT for c in parts):
        raise PathForbidden(f"a path component is longer than {_MAX_COMPONENT} bytes")
    return parts


def _refusal(exc: OSError, where: str) -> Exception:
    if exc.errno == errno.ENOENT:
        return NotFound(f"{where} does not exist")
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return PathForbidden(f"{where} is a symlink; symlinks are not followed")
    if exc.errno == errno.ENOTDIR:
        return PathForbidden(f"{where}: a component is not a directory (or is a symlink)")
    if exc.errno == errno.EISDIR:
        return InvalidArguments(f"{where} is a directory")
    return PathForbidden(f"{where}: {os.strerror(exc.errno or 0)}")


class Workspace:
    """One agent's directory. Build it with :meth:`open` (creates the root).

    Args:
        root: the workspace directory, already resolved (no symlinks in it).
        max_depth: the deepest path accepted.
    """

    def __init__(self, root: Path, max_depth: int = 32) -> None:
        self.root = root
        self.max_depth = max_depth

    @classmethod
    def open(cls, data_dir: Path, realm: str, agent_id: str, max_depth: int = 32) -> Workspace:
        """The workspace of ``agent_id`` in ``realm`` (both already validated as safe names)."""
        base = Path(os.path.realpath(data_dir)) / "workspaces" / realm
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        root = base / agent_id
        try:
            root.mkdir(mode=0o700)
        except FileExistsError:
            pass
        if root.is_symlink() or not root.is_dir():
            raise PathForbidden("the workspace root is not a plain directory")
        return cls(root, max_depth)

    def parts(self, path: str) -> list[str]:
        return split(self.root, path, self.max_depth)

    def display(self, parts: list[str]) -> str:
        return "/".join(parts) or "."

    @contextmanager
    def _walk(self, parts: list[str], *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory ``parts`` (made on the way with ``create``)."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for i, name in enumerate(parts):
                where = self.display(parts[: i + 1])
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise NotFound(f"{where} does not exist") from None
                    try:
                        os.mkdir(name, 0o700, dir_fd=fd)
                        child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    except OSError as exc:
                        raise _refusal(exc, where) from exc
                except OSError as exc:
                    raise _refusal(exc, where) from exc
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def directory(self, path: str) -> str:
        """The absolute path of an existing directory inside (for a command's ``cwd``).

        Raises:
            PathForbidden, NotFound: as for every path.
        """
        parts = self.parts(path)
        with self._walk(parts):
            pass
        return str(self.root.joinpath(*parts))

    def read(self, path: str, max_bytes: int) -> tuple[bytes, int]:
        """Up to ``max_bytes`` of a regular file, and its full size.

        Raises:
            PathForbidden, NotFound, InvalidArguments (a directory or special file).
        """
        parts = self.parts(path)
        if not parts:
            raise InvalidArguments("the workspace root is a directory")
        with self._walk(parts[:-1]) as dir_fd:
            try:
                fd = os.open(parts[-1], _READ_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                raise _refusal(exc, self.display(parts)) from exc
            try:
                info = os.fstat(fd)
                if stat.S_ISDIR(info.st_mode):
                    raise InvalidArguments(f"{self.display(parts)} is a directory")
                if not stat.S_ISREG(info.st_mode):
                    raise InvalidArguments(f"{self.display(parts)} is not a regular file")
                chunks, left = [], max_bytes
                while left > 0:
                    chunk = os.read(fd, min(left, 1 << 16))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    left -= len(chunk)
                return b"".join(chunks), info.st_size
            finally:
                os.close(fd)

    def write(self, path: str, content: bytes, *, max_bytes: int, create_parents: bool) -> int:
        """Replace (or create) a regular file atomically; returns the bytes written.

        Raises:
            PathForbidden, NotFound (a missing parent without ``create_parents``), TooLarge,
            InvalidArguments (the target is a directory).
        """
        if len(content) > max_bytes:
            raise TooLarge(f"the content is {len(content)} bytes; the cap is {max_bytes}")
        parts = self.parts(path)
        if not parts:
            raise InvalidArguments("cannot write to the workspace root")
        name = parts[-1]
        with self._walk(parts[:-1], create=create_parents) as dir_fd:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                info = None
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise InvalidArguments(f"{self.display(parts)} is a directory")
            tmp = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
            fd = os.open(tmp, _TMP_FLAGS, 0o600, dir_fd=dir_fd)
            try:
                try:
                    view = memoryview(content)
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dir_fd)
                except OSError:
                    pass
                raise
        return len(content)

    def entries(self, path: str, *, recursive: bool, max_entries: int) -> tuple[list[dict[str, Any]], bool]:
        """Entries under a directory (symlinks are listed, never entered) and whether cut short.

        Raises:
            PathForbidden, NotFound.
        """
        parts = self.parts(path)
        out: list[dict[str, Any]] = []
        with self._walk(parts) as dir_fd:
            truncated = self._list_into(dir_fd, parts, recursive, max_entries, out)
        return out, truncated

    def _list_into(self, dir_fd: int, parts: list[str], recursive: bool, max_entries: int,
                   out: list[dict[str, Any]]) -> bool:
        with os.scandir(dir_fd) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if len(out) >= max_entries:
                    return True
                info = entry.stat(follow_symlinks=False)
                kind = ("symlink" if stat.S_ISLNK(info.st_mode) else
                        "dir" if stat.S_ISDIR(info.st_mode) else
                        "file" if stat.S_ISREG(info.st_mode) else "other")
                here = [*parts, entry.name]
                out.append({"path": self.display(here), "type": kind,
                            "size": info.st_size if kind == "file" else None})
                if recursive and kind == "dir" and len(here) < self.max_depth:
                    try:
                        child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                    except OSError:
                        continue  # swapped for a symlink meanwhile: not entered
                    try:
                        if self._list_into(child, here, recursive, max_entries, out):
                            return True
                    finally:
                        os.close(child)
        return False
