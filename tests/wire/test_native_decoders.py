"""Anthropic, Gemini and Ollama decoders against fixture bytes written from each
provider's documented format, fed whole and split at every byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from laraflowai.wire import (
    Event,
    Finished,
    ReasoningDelta,
    StreamDecoder,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from laraflowai.wire.anthropic import AnthropicMessagesDecoder
from laraflowai.wire.gemini import GeminiStreamDecoder
from laraflowai.wire.ollama import OllamaChatDecoder

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wire"
ANSWER = "Ol\u00e1! \u041f\u0440\u0438\u0432\u0456\u0442 \U0001f44b\U0001f3fd\U0001f1fa\U0001f1e6"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode(make: Callable[[], StreamDecoder], data: bytes, cut: int | None = None) -> list[Event]:
    decoder = make()
    events = (
        decoder.feed(data) if cut is None else decoder.feed(data[:cut]) + decoder.feed(data[cut:])
    )
    return events + decoder.finish()


def by_type(events: list[Event], kind: type) -> list[Event]:
    return [event for event in events if isinstance(event, kind)]


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (AnthropicMessagesDecoder, "anthropic/thinking_text_tool.sse"),
        (GeminiStreamDecoder, "gemini/thought_and_text.sse"),
        (OllamaChatDecoder, "ollama/thinking_text_tool.ndjson"),
    ],
    ids=["anthropic", "gemini", "ollama"],
)
def test_split_at_every_byte_gives_the_same_events(
    make: Callable[[], StreamDecoder], name: str
) -> None:
    data = fixture(name)
    whole = decode(make, data)
    assert text(whole) == ANSWER
    for cut in range(len(data) + 1):
        assert decode(make, data, cut) == whole


def test_anthropic_thinking_text_and_tool_use() -> None:
    decoder = AnthropicMessagesDecoder()
    events = decoder.feed(fixture("anthropic/thinking_text_tool.sse")) + decoder.finish()
    assert decoder.complete
    assert reasoning(events) == "Думаю про відповідь 🤔"
    assert text(events) == ANSWER
    assert ToolCall(2, "toolu_01", "get_weather", {"city": "\u041a\u0438\u0457\u0432"}) in events
    assert by_type(events, ToolCallDelta)[0] == ToolCallDelta(2, "toolu_01", "get_weather", "")
    usages = by_type(events, Usage)
    assert usages[0] == Usage(14, 1, 15) and usages[-1] == Usage(14, 42, 56)
    assert events[-1] == Finished("tool_calls", "tool_use")


def test_anthropic_error_event_after_text() -> None:
    decoder = AnthropicMessagesDecoder()
    events = decoder.feed(fixture("anthropic/overloaded_midway.sse")) + decoder.finish()
    assert text(events) == "Ol"
    error = events[-1]
    assert isinstance(error, StreamError)
    assert (error.kind, error.message) == ("overloaded", "Overloaded")
    assert not decoder.complete


def test_gemini_thoughts_text_usage_and_finish() -> None:
    decoder = GeminiStreamDecoder()
    events = decoder.feed(fixture("gemini/thought_and_text.sse")) + decoder.finish()
    assert decoder.complete
    assert reasoning(events) == "Let me think \U0001f914"
    # output_tokens holds the 20 thinking tokens (issue 16), as OpenAI and Anthropic count them
    assert by_type(events, Usage)[-1] == Usage(8, 23, 31, 20, None)
    assert events[-1] == Finished("stop", "STOP")


def test_gemini_function_call_arrives_whole() -> None:
    events = decode(GeminiStreamDecoder, fixture("gemini/function_call.sse"))
    assert ToolCall(0, None, "get_weather", {"city": "\u041a\u0438\u0457\u0432"}) in events
    assert events[-1] == Finished("tool_calls", "STOP")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("gemini/safety_block.sse", "SAFETY, category: HARM_CATEGORY_DANGEROUS_CONTENT"),
        ("gemini/prompt_blocked.sse", "blocked the prompt (PROHIBITED_CONTENT"),
    ],
)
def test_gemini_safety_block_is_an_error_naming_the_category(name: str, words: str) -> None:
    errors = by_type(decode(GeminiStreamDecoder, fixture(name)), StreamError)
    assert len(errors) == 1
    assert errors[0].kind == "blocked" and words in errors[0].message  # type: ignore[attr-defined]


def test_gemini_eof_without_finish_reason_is_incomplete() -> None:
    data = fixture("gemini/thought_and_text.sse")
    decoder = GeminiStreamDecoder()
    decoder.feed(data[: data.index(b"STOP") - 40])
    decoder.finish()
    assert not decoder.complete


def test_ollama_thinking_text_tool_calls_and_usage() -> None:
    decoder = OllamaChatDecoder()
    events = decoder.feed(fixture("ollama/thinking_text_tool.ndjson")) + decoder.finish()
    assert decoder.complete
    assert reasoning(events) == "\u0425\u043c, \u0434\u0443\u043c\u0430\u044e"
    assert ToolCall(0, None, "get_weather", {"city": "\u041a\u0438\u0457\u0432"}) in events
    assert Usage(26, 3, 29) in events
    assert events[-1] == Finished("tool_calls", "stop")


def test_ollama_error_line_after_output() -> None:
    decoder = OllamaChatDecoder()
    events = decoder.feed(fixture("ollama/error_midway.ndjson")) + decoder.finish()
    assert text(events) == ANSWER
    assert isinstance(events[-1], StreamError) and "unexpectedly stopped" in events[-1].message
    assert not decoder.complete


def test_ollama_line_that_is_not_json_is_a_protocol_error() -> None:
    events = decode(OllamaChatDecoder, b'{"message":{"content":"ok"}}\nnot json\n')
    assert events[0] == TextDelta("ok")
    assert isinstance(events[1], StreamError) and events[1].kind == "protocol"
