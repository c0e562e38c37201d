"""Events to stored bytes and back: compact JSON, one short array per event.

Text keeps its original delta boundaries, so a replay is chunked exactly like
the first stream was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ..wire import (
    Event,
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    ReasoningSignature,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["decode_events", "encode_events"]


def _encode(event: Event) -> list[Any]:
    kind = type(event)
    if kind is TextDelta:
        return ["t", event.text]  # type: ignore[union-attr]
    if kind is ReasoningDelta:
        return ["r", event.text]  # type: ignore[union-attr]
    if kind is Usage:
        u: Usage = event  # type: ignore[assignment]
        return [
            "u",
            u.input_tokens,
            u.output_tokens,
            u.total_tokens,
            u.reasoning_tokens,
            u.cached_input_tokens,
        ]
    if kind is Finished:
        return ["f", event.reason, event.raw_reason]  # type: ignore[union-attr]
    if kind is ToolCall:
        c: ToolCall = event  # type: ignore[assignment]
        return ["c", c.index, c.id, c.name, c.arguments]
    if kind is ToolCallDelta:
        d: ToolCallDelta = event  # type: ignore[assignment]
        return ["d", d.index, d.id, d.name, d.arguments]
    if kind is ReasoningSignature:
        g: ReasoningSignature = event  # type: ignore[assignment]
        return ["s", g.signature, g.redacted]
    if kind is ProviderToolCall:
        p: ProviderToolCall = event  # type: ignore[assignment]
        return ["p", p.id, p.name, p.arguments]
    if kind is ProviderToolResult:
        q: ProviderToolResult = event  # type: ignore[assignment]
        return ["q", q.id, q.name, q.result, q.is_error]
    raise ValueError(f"{kind.__name__} events are not stored")


_DECODERS: dict[str, Any] = {
    "t": TextDelta,
    "r": ReasoningDelta,
    "u": Usage,
    "f": Finished,
    "c": ToolCall,
    "d": ToolCallDelta,
    "s": ReasoningSignature,
    "p": ProviderToolCall,
    "q": ProviderToolResult,
}


def encode_events(events: Iterable[Event]) -> bytes:
    return orjson.dumps([_encode(event) for event in events])


def decode_events(data: bytes) -> list[Event]:
    """The events stored in `data`; ValueError if it is not a stored stream."""
    try:
        items = orjson.loads(data)
        return [_DECODERS[item[0]](*item[1:]) for item in items]
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"not a stored stream: {exc}") from None
