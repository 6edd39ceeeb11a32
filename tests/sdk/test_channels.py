"""Data channels from the SDK side, against a real node's channel hub."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from engine.config import NodeConfig
from engine.node import Node
from workers.sdk import (
    ChannelError,
    ChannelReader,
    ChannelWriter,
    Connection,
    Context,
    DefinitionError,
    InvocationError,
    Worker,
    channel_from_ref,
    connect,
    function,
    http_response,
    open_channel,
)
from workers.sdk.channels import FRAME_BYTES, is_channel_ref

pytestmark = pytest.mark.anyio


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node(NodeConfig.model_validate({"engine": {"port": 0}})) as running:
        yield running


@pytest.fixture
async def conn(node: Node) -> AsyncIterator[Connection]:
    async with connect(node.url, name="channels-test", workers=[]) as connection:
        yield connection


async def test_frames_keep_kind_and_order(conn: Connection) -> None:
    writer, reader = await open_channel(conn)
    async with writer:
        await writer.send_text("hello")
        await writer.send_bytes(b"\x00\x01")
        await writer.send_text("")
    assert [frame async for frame in reader] == ["hello", b"\x00\x01", ""]


async def test_a_megabyte_is_split_into_frames_and_read_intact(conn: Connection) -> None:
    payload = os.urandom(1024 * 1024 + 17)
    writer, reader = await open_channel(conn, buffer_size=4)  # smaller than the frame count: back-pressure
    got: list[bytes] = []

    async def read() -> None:
        got.append(await reader.read_all())

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        async with writer:
            await writer.send_bytes(payload)
    assert got == [payload]
    assert len(payload) // FRAME_BYTES + 1 == 17


async def test_closing_an_unused_writer_ends_the_stream(conn: Connection) -> None:
    writer, reader = await open_channel(conn)
    await writer.close()
    await writer.close()  # idempotent
    assert await reader.read_all() == b""


async def test_a_writer_learns_that_its_reader_is_gone(conn: Connection) -> None:
    writer, reader = await open_channel(conn, buffer_size=1)
    async with reader:
        pass  # the reader opens and leaves at once
    with pytest.raises(ChannelError, match="reader is gone"), anyio.fail_after(10):
        while True:
            await writer.send_bytes(b"x")


async def test_unknown_channel_or_second_reader_is_refused(conn: Connection, node: Node) -> None:
    fake = {"channel_id": "nope", "access_key": "k", "direction": "read"}
    with pytest.raises(ChannelError, match="HTTP 404"):
        await ChannelReader(conn, fake).read_all()
    writer, reader = await open_channel(conn)
    async with reader:
        again = ChannelReader(conn, {**fake, "channel_id": reader.channel_id, "access_key": _key(node, reader.channel_id)})
        with pytest.raises(ChannelError):
            await again.read_all()
    await writer.close()


def _key(node: Node, channel_id: str) -> str:
    return str(node.modules["channels"].channels[channel_id].keys["read"])


async def test_bad_buffer_size_is_the_engines_error(conn: Connection) -> None:
    with pytest.raises(InvocationError) as err:
        await open_channel(conn, buffer_size=0)
    assert err.value.code == "invalid_arguments"


async def test_refs_turn_into_the_right_end(conn: Connection) -> None:
    refs = await conn.trigger("engine::channels::create", {})
    assert is_channel_ref(refs["reader"]) and not is_channel_ref({"channel_id": 1})
    assert isinstance(channel_from_ref(conn, refs["reader"]), ChannelReader)
    assert isinstance(channel_from_ref(conn.options.url, refs["writer"]), ChannelWriter)
    with pytest.raises(DefinitionError, match="'write' reference"):
        ChannelWriter.from_ref(conn, refs["reader"])
    with pytest.raises(DefinitionError, match="not a channel reference"):
        channel_from_ref(conn, {"channel_id": "x"})
    with pytest.raises(DefinitionError, match="need a Connection"):
        ChannelReader.from_ref(object(), refs["reader"])  # type: ignore[arg-type]
    await ChannelWriter.from_ref(conn, refs["writer"]).close()


async def test_url_keeps_the_engine_query_and_quotes_the_key() -> None:
    ref = {"channel_id": "c1", "access_key": "a/b+c", "direction": "read"}
    assert ChannelReader("ws://h:1/?token=t", ref).url == "ws://h:1/ws/channels/c1?token=t&key=a%2Fb%2Bc&dir=read"


async def test_a_handler_passes_a_reader_to_another_function(node: Node) -> None:
    """One function writes bytes into a channel; another reads them through a ref in its payload."""

    @function("ch::read")
    async def read(data: dict[str, Any], ctx: Context) -> dict[str, Any]:
        body = await ChannelReader.from_ref(ctx, data["reader"]).read_all()
        return {"len": len(body), "head": body[:4].hex()}

    payload = b"\xde\xad\xbe\xef" + os.urandom(300_000)
    async with connect(node.url, workers=[Worker("reader", functions=[read])]) as conn:
        writer, reader_end = await open_channel(conn)
        async with writer:
            await writer.send_bytes(payload)
        refs = {"channel_id": reader_end.channel_id, "access_key": reader_end.url.split("key=")[1].split("&")[0],
                "direction": "read"}
        assert await conn.trigger("ch::read", {"reader": refs}) == {"len": len(payload), "head": "deadbeef"}


async def test_http_response_frames(conn: Connection) -> None:
    writer, reader = await open_channel(conn)
    async with http_response(writer) as res:
        await res.set_status(201)
        await res.sse("e", {"a": 1}, id="7")
        await res.sse(None, "x\ny")
        await res.write(b"raw")
    frames = [frame async for frame in reader]
    assert json.loads(frames[0]) == {"type": "set_status", "status_code": 201}
    assert json.loads(frames[1]) == {"type": "set_headers", "headers": {"content-type": "text/event-stream",
                                                                         "cache-control": "no-cache"}}
    assert frames[2:] == [b'event: e\nid: 7\ndata: {"a":1}\n\n', b"data: x\ndata: y\n\n", b"raw"]


async def test_sse_respects_a_content_type_already_set_and_refuses_line_breaks(conn: Connection) -> None:
    writer, reader = await open_channel(conn)
    async with http_response(writer) as res:
        await res.set_headers({"Content-Type": "text/plain"})
        await res.sse(None, "")
        with pytest.raises(DefinitionError):
            await res.sse("a\nb", "x")
    frames = [frame async for frame in reader]
    assert len(frames) == 2 and frames[1] == b"data: \n\n"
