"""Fakes shared by the test suites: real servers speaking real protocols, scripted per test."""

from .openai_upstream import (
    Error,
    FakeUpstream,
    Hold,
    RecordedRequest,
    Reply,
    Slow,
    Text,
    ToolCall,
    ToolCalls,
)

__all__ = [
    "Error",
    "FakeUpstream",
    "Hold",
    "RecordedRequest",
    "Reply",
    "Slow",
    "Text",
    "ToolCall",
    "ToolCalls",
]
