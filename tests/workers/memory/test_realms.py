"""Realm isolation: the same agent name in two realms shares nothing, whatever it asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workers.memory import LocalEmbedder
from workers.sdk import Connection, InvocationError, connect

from .conftest import Stack, running

pytestmark = pytest.mark.slow


@pytest.fixture
async def realms(embedder: LocalEmbedder, tmp_path: Path) -> AsyncIterator[tuple[Stack, Connection, Connection]]:
    async with running(embedder, tmp_path / "s.db", auth=True) as stack, \
            connect(stack.node.url, workers=[], name="beta", token="t-beta") as beta, \
            connect(stack.node.url, workers=[], name="ops", token="t-worker") as ops:
        yield stack, beta, ops


async def test_one_realm_never_sees_another_realms_memories(realms: tuple[Stack, Connection, Connection]) -> None:
    stack, beta, ops = realms
    await stack.agent("ada", ["self", "shared:team"])
    await stack.agent("ada", ["self", "shared:team"], client=beta)
    secret = await stack.store("ada", "The acme launch date is March 3rd.", session_id="s")
    await stack.store("ada", "Acme's team password hint is 'blue whale'.", scope="shared:team")
    await stack.call("kb::ingest", {"name": "plan.txt", "text": "Acme will launch in March."})
    await stack.call("memory::kg::add", {"agent_id": "ada", "entities": [{"id": "launch", "type": "event"}]})

    assert len(await stack.recall("ada", "launch date")) == 2
    beta_recall = await stack.call("memory::recall", {"agent_id": "ada", "query": "launch date"}, client=beta)
    assert beta_recall["memories"] == []
    same = await stack.call("memory::store", {"agent_id": "ada", "content": "The acme launch date is March 3rd."},
                            client=beta)
    assert same["deduplicated"] is False and same["id"] != secret["id"]  # no cross-realm dedup either
    assert (await stack.call("kb::search", {"query": "launch"}, client=beta))["results"] == []
    assert (await stack.call("kb::list", {}, client=beta))["documents"] == []
    for function_id, payload in [
        ("memory::kg::query", {"agent_id": "ada", "entity_id": "launch"}),
        ("memory::session::get", {"agent_id": "ada", "session_id": "s"}),
    ]:
        with pytest.raises(InvocationError) as err:
            await stack.call(function_id, payload, client=beta)
        assert err.value.code == "not_found"
    forgot = await stack.call("memory::forget", {"agent_id": "ada", "ids": [secret["id"]]}, client=beta)
    assert forgot == {"forgotten": [], "missing": [secret["id"]]}
    assert any(m["id"] == secret["id"] for m in await stack.recall("ada", "launch date"))

    # an agent known in one realm only is unknown in the other
    await stack.agent("solo")
    with pytest.raises(InvocationError) as err:
        await stack.call("memory::recall", {"agent_id": "solo", "query": "x"}, client=beta)
    assert err.value.code == "agent_not_found"

    # a sweep without a realm (what cron sends) consolidates every realm's partitions
    swept = await stack.call("memory::consolidate", {}, client=ops)
    assert swept["partitions"] == 4  # acme: agent:ada, shared:team, kb:default; beta: agent:ada
    realm_only = await stack.call("memory::consolidate", {})
    assert realm_only["partitions"] == 3
