"""Wire formats, sans I/O: feed bytes as they arrive, get typed events.

Nothing here does I/O or imports the rest of laraflowai, so the sync and the
async drivers share every decoder.
"""

from __future__ import annotations

from typing import Protocol

from ._errors import classify_error
from .events import (
    Event,
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    ReasoningSignature,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    Usage,
)

__all__ = [
    "Event",
    "Finished",
    "ProviderToolCall",
    "ProviderToolResult",
    "ReasoningDelta",
    "ReasoningSignature",
    "StreamDecoder",
    "StreamError",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolResult",
    "Usage",
    "classify_error",
]


class StreamDecoder(Protocol):
    """What every wire decoder offers to the streaming drivers."""

    @property
    def complete(self) -> bool:
        """True once the provider has said the answer is finished."""
        ...

    def feed(self, data: bytes) -> list[Event]: ...

    def finish(self) -> list[Event]: ...
