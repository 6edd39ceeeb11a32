"""Hands on a real engine: a cron fires a hand, its run is recorded, metrics count outcomes."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import anyio  # noqa: E402
import anyio.to_thread  # noqa: E402
import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from engine.cli import app  # noqa: E402
from engine.config import NodeConfig  # noqa: E402
from engine.node import Node  # noqa: E402
from tests.fakes import Error, FakeUpstream  # noqa: E402
from workers.agent_core import AgentCore, AgentCoreConfig, TemplateLibrary  # noqa: E402
from workers.hands import Hands, HandSpec, load_hands  # noqa: E402
from workers.llm_router import LlmConfig, LlmRouter  # noqa: E402
from workers.sdk import Connection, InvocationError, connect  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
BOUND = 20.0
"""A bound on waiting for the cron's next second (never a synchronisation)."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def hand(**extra: object) -> HandSpec:
    return HandSpec.model_validate({
        "id": "ticker", "name": "Ticker", "enabled": True, "schedule": "* * * * * *",
        "tools": {"allowed": ["tool::nothing"]},
        "settings": [{"key": "topic", "type": "string", "default": "owls"}], **extra})


@dataclass
class Stack:
    url: str
    client: Connection
    fake: FakeUpstream
    hands: Hands


@asynccontextmanager
async def running(specs: list[HandSpec]) -> AsyncIterator[Stack]:
    config = NodeConfig.model_validate({"engine": {"port": 0}, "workers": [
        {"name": "iii-state", "config": {"adapter": {"name": "memory"}}},
        {"name": "iii-pubsub", "config": {}},
        {"name": "iii-cron", "config": {"adapter": {"name": "memory"}}}]})
    hands = Hands(specs, run_timeout=BOUND)
    async with FakeUpstream() as fake:
        router = LlmRouter(LlmConfig.model_validate({
            "aliases": {"default": [{"model": "openai/gpt-4o-mini", "api_base": fake.base_url,
                                     "api_key": "sk-test", "max_retries": 0}]},
            "retry": {"initial_backoff_s": 0.001, "multiplier": 2, "max_backoff_s": 0.004,
                      "jitter": 0, "max_retry_after_s": 0.02},
            "ollama": {"autodetect": False}, "defaults": {"timeout_s": 10}}))
        core = AgentCore(AgentCoreConfig(agents_dir=None), templates=TemplateLibrary())
        async with Node(config) as node, \
                connect(node.url, workers=[router.worker()]), \
                connect(node.url, workers=[core.worker()]), \
                connect(node.url, workers=[hands.worker()]) as conn, \
                connect(node.url, workers=[], name="client") as client, \
                anyio.create_task_group() as tg:
            await tg.start(hands.run, conn)
            yield Stack(node.url, client, fake, hands)
            tg.cancel_scope.cancel()


async def test_a_hand_fires_on_schedule_and_its_run_is_recorded() -> None:
    async with running([hand()]) as stack:
        agent = await stack.client.trigger("agent::get", {"agent_id": "hand-ticker"})
        assert agent["capabilities"]["tools"] == ["tool::nothing"]
        with anyio.fail_after(BOUND):
            await stack.hands.wait_runs("ticker", 1)
        await stack.client.trigger("hand::disable", {"hand_id": "ticker"})
        runs = (await stack.client.trigger("hand::runs", {"hand_id": "ticker"}))["runs"]
        first = runs[-1]
        assert first["trigger"] == "cron" and first["ok"] is True and first["error"] is None
        assert first["content"] == FakeUpstream.DEFAULT_TEXT and first["tool_calls"] == 0
        assert first["finished"] >= first["started"] and first["duration_ms"] >= 0
        prompt = stack.fake.chat_requests[0].body["messages"][-1]["content"]
        assert "Ticker" in prompt and "tool::nothing" in prompt and '- topic: "owls"' in prompt
        listed = (await stack.client.trigger("hand::list", {}))["hands"]
        [ticker] = listed
        assert ticker["enabled"] is False  # persisted by hand::disable
        metrics = ticker["metrics"]
        assert metrics["runs"] == len(runs) == metrics["successes"]  # every run, counted once
        assert metrics["failures"] == 0 and metrics["last_status"] == "ok"


async def test_a_failing_run_counts_as_one_failure() -> None:
    async with running([hand(enabled=False)]) as stack:
        stack.fake.script(Error(400, "the model refused"))
        record = await stack.client.trigger("hand::run", {"hand_id": "ticker"}, timeout=BOUND)
        assert record["ok"] is False and "the model refused" in record["error"]
        got = await stack.client.trigger("hand::get", {"hand_id": "ticker"})
        runs = (await stack.client.trigger("hand::runs", {"hand_id": "ticker"}))["runs"]
        failures = sum(1 for r in runs if not r["ok"])
        assert failures == 1 and got["metrics"]["failures"] == 1
        assert got["metrics"]["runs"] == len(runs)
        assert got["metrics"]["successes"] == len(runs) - 1


async def test_unknown_hands_are_refused() -> None:
    async with running([]) as stack:
        with pytest.raises(InvocationError) as info:
            await stack.client.trigger("hand::run", {"hand_id": "nope"})
        assert info.value.code == "not_found"


async def test_the_cli_lists_runs_and_toggles_hands() -> None:
    runner = CliRunner()
    async with running([hand(enabled=False)]) as stack:
        def invoke(*args: str) -> Any:
            return runner.invoke(app, ["hands", *args, "--url", stack.url])

        ran = await anyio.to_thread.run_sync(functools.partial(invoke, "run", "ticker"))
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.output)["ok"] is True
        listed = await anyio.to_thread.run_sync(functools.partial(invoke, "list"))
        assert listed.exit_code == 0
        assert listed.output.splitlines()[1].split()[:6] == [
            "ticker", "Ticker", "*", "*", "*", "*"]  # the schedule's fields, then…
        assert "disabled  1     0         ok" in listed.output
        enabled = await anyio.to_thread.run_sync(functools.partial(invoke, "enable", "ticker"))
        assert json.loads(enabled.output) == {"hand_id": "ticker", "enabled": True}
        disabled = await anyio.to_thread.run_sync(functools.partial(invoke, "disable", "ticker"))
        assert json.loads(disabled.output) == {"hand_id": "ticker", "enabled": False}
        missing = await anyio.to_thread.run_sync(functools.partial(invoke, "run", "nope"))
        assert missing.exit_code == 1 and "not_found" in missing.output


def test_the_seven_shipped_hands_load_disabled() -> None:
    specs = load_hands(REPO / "hands")
    assert [s.id for s in specs] == ["browser", "clip", "collector", "lead", "predictor",
                                     "researcher", "twitter"]
    assert not any(s.enabled for s in specs)


def test_invalid_hand_files_are_skipped_with_file_and_key(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "HAND.toml").write_text('[hand]\nid = "bad"\nschedule = "every day"\n')
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "HAND.toml").write_text('[hand]\nid = "ok"\nschedule = "*/5 * * * *"\n')
    assert [s.id for s in load_hands(tmp_path)] == ["ok"]
    assert "bad/HAND.toml" in caplog.text and "hand.schedule" in caplog.text
