"""What every decoder must give, whatever it was fed: only our events, each
holding values of the types it declares."""

from __future__ import annotations

from laraflowai.wire import (
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
    Usage,
)


def check_typed(events: list[Event]) -> None:
    """Every event is one of ours and carries values of the declared types."""
    for event in events:
        if isinstance(event, TextDelta | ReasoningDelta):
            assert type(event.text) is str, event
        elif isinstance(event, ReasoningSignature):
            assert type(event.signature) is str and event.signature, event
            assert type(event.redacted) is bool, event
        elif isinstance(event, ToolCallDelta):
            assert type(event.index) is int and type(event.arguments) is str, event
            assert event.id is None or type(event.id) is str, event
            assert event.name is None or type(event.name) is str, event
        elif isinstance(event, ToolCall):
            assert type(event.index) is int and type(event.name) is str, event
            assert type(event.arguments) is dict, event
        elif isinstance(event, ProviderToolCall):
            assert type(event.name) is str and type(event.arguments) is dict, event
            assert event.id is None or type(event.id) is str, event
        elif isinstance(event, ProviderToolResult):
            assert type(event.name) is str and type(event.is_error) is bool, event
            assert event.id is None or type(event.id) is str, event
        elif isinstance(event, Usage):
            for value in (
                event.input_tokens,
                event.output_tokens,
                event.total_tokens,
                event.reasoning_tokens,
                event.cached_input_tokens,
            ):
                assert value is None or (type(value) is int and value >= 0), event
        elif isinstance(event, Finished):
            assert event.reason is None or type(event.reason) is str, event
            assert event.raw_reason is None or type(event.raw_reason) is str, event
        elif isinstance(event, StreamError):
            assert type(event.kind) is str and type(event.message) is str, event
            assert event.code is None or type(event.code) is str, event
            assert event.status is None or type(event.status) is int, event
        else:  # pragma: no cover - the assertion names the stranger
            raise AssertionError(f"not one of our events: {event!r}")
