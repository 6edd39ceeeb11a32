"""workers/control_plane/worker.py and __main__.py: restore after a restart; the process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.text import TextReceiveStream

from engine.node import Node
from workers.sdk import connect

from .conftest import WAIT, Stack, node_config


async def trigger_ids(cp: Stack) -> set[str]:
    return {t["id"] for t in (await cp.sys.trigger("engine::triggers::list", {}))["triggers"]}


async def test_restore_binds_every_realms_schedules_and_subscriptions_again(cp: Stack) -> None:
    await cp.sys.trigger("realm::create", {"name": "R", "id": "r"})
    await cp.worker.trigger("pulse::register", {"realm_id": "r", "agent_id": "bot",
                                                "schedule": "0 0 1 1 *"})
    lost = {"pulse:r:bot", "control-plane:cost.incurred:r", "control-plane:council.audit:r"}
    assert lost <= await trigger_ids(cp)
    for trigger_id in lost:  # what an engine restart forgets
        await cp.sys.trigger("engine::unregister_trigger", {"id": trigger_id})
    cp.plane.subscriptions = type(cp.plane.subscriptions)()  # and a worker restart
    await cp.plane.restore(cp.worker)
    assert lost <= await trigger_ids(cp)


async def test_python_m_serves_until_sigint(tmp_path: Path) -> None:
    async with Node(node_config(tmp_path)) as node:
        env = {**os.environ, "AGENTOS_URL": node.url, "AGENTOS_TOKEN": "t-w"}
        log: list[str] = []
        ready = anyio.Event()

        async def read_log(stream: Any) -> None:
            async for chunk in TextReceiveStream(stream):
                log.append(chunk)
                if "realm default: subscriptions bound" in "".join(log):
                    ready.set()

        async with await anyio.open_process([sys.executable, "-m", "workers.control_plane"],
                                            env=env, stdout=subprocess.DEVNULL) as proc, \
                anyio.create_task_group() as tg:
            tg.start_soon(read_log, proc.stderr)
            with anyio.fail_after(WAIT):
                await ready.wait()  # connected, registered, restored
            async with connect(node.url, workers=[], name="sys", token="t-sys") as client:
                created = await client.trigger("realm::create", {"name": "Live", "id": "live"})
                assert created["status"] == "active", "".join(log)
            proc.send_signal(signal.SIGINT)
            with anyio.fail_after(WAIT):
                assert await proc.wait() == 0, "".join(log)
