"""The public surface of workers.channels."""

from __future__ import annotations

import workers.channels as channels


def test_exports_are_pinned() -> None:
    assert sorted(channels.__all__) == [
        "BadPayload", "ChannelsConfig", "ChannelsError", "ChannelsService", "Destination", "Inbound",
        "PlatformError", "Unauthenticated", "build_worker", "split",
    ]
    for name in channels.__all__:
        assert getattr(channels, name) is not None
