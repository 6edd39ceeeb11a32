"""``tool::file_read``, ``tool::file_write``, ``tool::file_list``: files in the agent's workspace.

Paths are relative to the calling agent's workspace (see :mod:`.workspace` for what is refused
and why). Content is text (UTF-8) by default, or base64 for binary data; a read of bytes that
are not UTF-8 answers base64 whatever was asked, and says so in ``encoding``.

``file_write`` is a ``file`` sink of the taint policy (:mod:`.sinks`): the path and the content
are checked before anything is written (a secret is refused, personal data is not). Reads
declare no ``output_taint``: the workspace holds what agents wrote.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

import anyio.to_thread
from pydantic import Field

from workers.sdk import Context

from .config import ToolsConfig
from .errors import InvalidArguments, TooLarge
from .identity import Caller, Request, caller_of, parse
from .sinks import Gate, as_text
from .workspace import Workspace

__all__ = ["FileListRequest", "FileReadRequest", "FileWriteRequest", "Files"]

Path = Annotated[str, Field(min_length=1, max_length=4096,
                            description="A path relative to your workspace, e.g. notes/todo.md")]
Encoding = Literal["utf-8", "base64"]


class FileReadRequest(Request):
    path: Path
    max_bytes: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Read at most this many bytes (default and cap: the worker's limit)")
    encoding: Encoding = Field("utf-8", description="utf-8 text, or base64 for binary files")


class FileWriteRequest(Request):
    path: Path
    content: str = Field(description="The new content of the file (it is replaced)")
    encoding: Encoding = Field("utf-8", description="How content is encoded")
    create_parents: bool = Field(True, description="Create missing parent directories")


class FileListRequest(Request):
    path: Annotated[str, Field(max_length=4096)] = Field(".", description="A directory in your workspace")
    recursive: bool = False


class Files:
    """The three file tools over one config and the taint gate."""

    def __init__(self, config: ToolsConfig, gate: Gate) -> None:
        self.config, self.gate = config, gate

    def workspace(self, caller: Caller) -> Workspace:
        """The caller's workspace (created on first use). Blocks briefly (mkdir)."""
        return Workspace.open(self.config.data_dir, caller.realm, caller.agent_id,
                              self.config.files.max_path_depth)

    async def read(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(FileReadRequest, data)
        caller = caller_of(ctx, self.config)
        cap = self.config.files.max_read_bytes
        limit = min(req.max_bytes or cap, cap)

        def run() -> tuple[bytes, int]:
            return self.workspace(caller).read(req.path, limit)

        content, size = await anyio.to_thread.run_sync(run)
        encoding: str = req.encoding
        if encoding == "utf-8":
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                # a cut may split a character: drop at most 3 trailing bytes before giving up
                text, encoding = _decode_cut(content, size)
        if encoding == "base64":
            text = base64.b64encode(content).decode()
        return {"path": req.path, "content": text, "encoding": encoding, "size": size,
                "truncated": len(content) < size}

    async def write(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(FileWriteRequest, data)
        caller = caller_of(ctx, self.config)
        cap = self.config.files.max_write_bytes
        if len(req.content) > (cap * 4 // 3 + 4 if req.encoding == "base64" else cap):
            raise TooLarge(f"the content exceeds {cap} bytes")
        if req.encoding == "base64":
            try:
                content = base64.b64decode(req.content, validate=True)
            except binascii.Error as exc:
                raise InvalidArguments(f"content is not valid base64: {exc}") from exc
            text = as_text(content)
        else:
            content = req.content.encode("utf-8")
            text = req.content
        await self.gate.enforce(ctx, caller, "file", f"{req.path}\n{text}",
                                what="the file path or content")

        def run() -> int:
            return self.workspace(caller).write(req.path, content,
                                                max_bytes=self.config.files.max_write_bytes,
                                                create_parents=req.create_parents)

        written = await anyio.to_thread.run_sync(run)
        return {"path": req.path, "bytes": written}

    async def list(self, data: Any, ctx: Context) -> dict[str, Any]:
        req = parse(FileListRequest, data)
        caller = caller_of(ctx, self.config)

        def run() -> tuple[list[dict[str, Any]], bool]:
            return self.workspace(caller).entries(req.path, recursive=req.recursive,
                                               max_entries=self.config.files.max_list_entries)

        entries, truncated = await anyio.to_thread.run_sync(run)
        return {"path": req.path, "entries": entries, "truncated": truncated}


def _decode_cut(content: bytes, size: int) -> tuple[str, str]:
    if len(content) < size:
        for cut in range(1, 4):
            try:
                return content[:-cut].decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                continue
    return "", "base64"
