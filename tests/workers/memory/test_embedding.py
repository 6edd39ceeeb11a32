"""embedding::generate end to end, and the local embedder's windows, with the real model."""

from __future__ import annotations

import numpy as np
import pytest

from workers.memory import LocalEmbedder
from workers.sdk import InvocationError

from .conftest import Stack

pytestmark = pytest.mark.slow


async def test_one_text_gives_one_unit_vector(stack: Stack) -> None:
    result = await stack.call("embedding::generate", {"text": "The weather is lovely today."})
    assert result["dim"] == 384 and result["model"] == "all-MiniLM-L6-v2"
    assert result["chunks"] == 1
    assert np.linalg.norm(result["embedding"]) == pytest.approx(1.0, abs=1e-5)


async def test_a_batch_keeps_its_order_and_meaning(stack: Stack) -> None:
    texts = ["A cat sleeps on the sofa.", "Stock markets fell sharply today.", "A kitten naps on the couch."]
    result = await stack.call("embedding::generate", {"batch": texts})
    vectors = np.array(result["embeddings"])
    assert vectors.shape == (3, 384) and result["chunks"] == [1, 1, 1]
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[1] + 0.3


async def test_a_long_text_is_embedded_window_by_window(stack: Stack) -> None:
    text = " ".join(f"Line {i}: the committee discussed item {i} at length." for i in range(300))
    result = await stack.call("embedding::generate", {"text": text, "per_chunk": True})
    windows = result["windows"]
    assert result["chunks"] == len(windows) > 1
    assert windows[0]["start"] == 0 and windows[-1]["end"] == len(text)  # nothing dropped
    assert all(b["start"] < a["end"] for a, b in zip(windows, windows[1:], strict=False))
    pooled = np.mean([w["embedding"] for w in windows], axis=0)
    assert np.allclose(result["embedding"], pooled / np.linalg.norm(pooled), atol=1e-5)


@pytest.mark.parametrize("payload", [
    {"text": ""}, {"text": "  "}, {}, {"text": "a", "batch": ["b"]}, {"batch": []},
    {"batch": ["ok", ""]}, {"batch": ["x"] * 257}, {"text": "x" * 100_001},
])
async def test_bad_input_is_refused(stack: Stack, payload: dict) -> None:
    with pytest.raises(InvocationError) as err:
        await stack.call("embedding::generate", payload)
    assert err.value.code in ("invalid_arguments", "content_too_large")


def test_windows_respect_the_model_limit(embedder: LocalEmbedder) -> None:
    text = "word " * 1000
    spans = embedder.windows(text)
    tokenizer = embedder._tokenizer
    assert len(spans) > 1 and spans[-1][1] == len(text.rstrip())
    for start, end in spans:
        ids = tokenizer(text[start:end], add_special_tokens=True)["input_ids"]
        assert len(ids) <= 256  # the model's max_seq_length: nothing truncated
    assert embedder.encode_sync(["", "hi"])[0].vectors.shape == (0, 384)
