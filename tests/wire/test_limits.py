"""Size limits of the decoders: a line, an event's data and a tool call's
arguments past their limit are a protocol `StreamError` naming the limit and
its value, and the decoders' buffers never grow past it.

https://github.com/laraflowai/laraflowai/issues/15 (item 1)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from laraflowai.wire import Event, StreamDecoder, StreamError, TextDelta, ToolCall
from laraflowai.wire._lines import LINE_TOO_LONG, LineDecoder
from laraflowai.wire.anthropic import AnthropicMessagesDecoder
from laraflowai.wire.gemini import GeminiStreamDecoder
from laraflowai.wire.ndjson import LineTooLong, NDJSONDecoder
from laraflowai.wire.ollama import OllamaChatDecoder
from laraflowai.wire.openai import OpenAIChatDecoder
from laraflowai.wire.sse import SSEDecoder


def buffered(decoder: Any) -> int:
    """Bytes a decoder holds between reads."""
    while not isinstance(decoder, LineDecoder):
        decoder = getattr(decoder, "_sse", None) or decoder._lines
    return len(decoder._buffer)


def test_a_line_past_the_limit_is_reported_once_and_never_buffered() -> None:
    decoder = LineDecoder(max_line=10)
    out: list[bytes] = []
    for _ in range(1000):
        out += decoder.feed(b"x" * 7)
        assert buffered(decoder) <= 10
    out += decoder.feed(b"tail\nok\r\n")
    assert out == [LINE_TOO_LONG, b"ok"]


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"])
def test_a_long_complete_line_in_one_read_is_replaced(ending: bytes) -> None:
    decoder = LineDecoder(max_line=4)
    assert decoder.feed(b"ab" + ending + b"abcdefgh" + ending + b"cd" + ending) == [
        b"ab",
        LINE_TOO_LONG,
        b"cd",
    ]


def test_the_line_after_a_dropped_one_splits_as_usual_across_a_crlf() -> None:
    decoder = LineDecoder(max_line=4)
    assert decoder.feed(b"abcdefgh") == [LINE_TOO_LONG]
    assert decoder.feed(b"ijk\r") == []
    assert decoder.feed(b"\nnext\n") == [b"next"]


def test_sse_event_of_many_data_lines_past_the_limit_is_dropped() -> None:
    decoder = SSEDecoder(max_event_size=100)
    events = decoder.feed(b"data: x\n" * 200 + b"\ndata: ok\n\n")
    assert [e.error is not None for e in events] == [True, False]
    assert "100 bytes" in (events[0].error or "")
    assert events[1].data == "ok"
    assert decoder._data == [] and decoder._size == 0


def sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


LIMITED: list[tuple[str, Callable[..., StreamDecoder], bytes]] = [
    ("openai", OpenAIChatDecoder, sse({"choices": [{"delta": {"content": "ok"}}]})),
    (
        "anthropic",
        AnthropicMessagesDecoder,
        b"event: content_block_delta\n"
        + sse({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "ok"}}),
    ),
    (
        "gemini",
        GeminiStreamDecoder,
        sse({"candidates": [{"content": {"parts": [{"text": "ok"}]}}]}),
    ),
    ("ollama", OllamaChatDecoder, b'{"message": {"content": "ok"}}\n'),
]


@pytest.mark.parametrize(("name", "make", "ok"), LIMITED, ids=[case[0] for case in LIMITED])
def test_junk_without_line_ends_is_one_protocol_error_naming_the_limit(
    name: str, make: Callable[..., StreamDecoder], ok: bytes
) -> None:
    decoder = make(max_event_size=1000)
    events: list[Event] = decoder.feed(ok)
    for _ in range(500):
        events += decoder.feed(b"j" * 333)
        assert buffered(decoder) <= 1006
    events += decoder.feed(b"\n\n" + ok) + decoder.finish()
    assert events[0] == TextDelta("ok") and events[-1] == TextDelta("ok")
    errors = [e for e in events if isinstance(e, StreamError)]
    assert len(errors) == 1 and errors[0].kind == "protocol"
    assert "max_event_size" in errors[0].message and "100" in errors[0].message


def test_ndjson_line_too_long_is_a_typed_value() -> None:
    decoder = NDJSONDecoder(max_line=8)
    values = decoder.feed(b'{"a": 1}\n{"a": 12345}\n[1]\n')
    assert values[0] == {"a": 1} and values[2] == [1]
    assert isinstance(values[1], LineTooLong) and "8 bytes" in str(values[1])


def openai_tool(arguments: str, finish: str | None = None) -> bytes:
    call = {"index": 0, "id": "c", "function": {"name": "f", "arguments": arguments}}
    return sse({"choices": [{"delta": {"tool_calls": [call]}, "finish_reason": finish}]})


def anthropic_tool(pieces: list[str]) -> bytes:
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
    }
    deltas = b"".join(
        b"event: content_block_delta\n"
        + sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
        )
        for piece in pieces
    )
    return (
        b"event: content_block_start\n"
        + sse(start)
        + deltas
        + b"event: content_block_stop\n"
        + sse({"type": "content_block_stop", "index": 0})
    )


ARGUMENTS = '{"q": "' + "x" * 60 + '"}'
TOOLS: list[tuple[str, Callable[..., StreamDecoder], bytes]] = [
    (
        "openai",
        OpenAIChatDecoder,
        b"".join(openai_tool(ARGUMENTS[i : i + 10]) for i in range(0, len(ARGUMENTS), 10))
        + openai_tool("", "tool_calls"),
    ),
    (
        "anthropic",
        AnthropicMessagesDecoder,
        anthropic_tool([ARGUMENTS[i : i + 10] for i in range(0, len(ARGUMENTS), 10)]),
    ),
    (
        "gemini",
        GeminiStreamDecoder,
        sse(
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [
                                {"functionCall": {"name": "f", "args": json.loads(ARGUMENTS)}}
                            ]
                        }
                    }
                ]
            }
        ),
    ),
    (
        "ollama",
        OllamaChatDecoder,
        json.dumps(
            {"message": {"tool_calls": [{"function": {"name": "f", "arguments": ARGUMENTS}}]}}
        ).encode()
        + b"\n",
    ),
]


@pytest.mark.parametrize(("name", "make", "data"), TOOLS, ids=[case[0] for case in TOOLS])
def test_tool_arguments_past_the_limit_are_a_protocol_error(
    name: str, make: Callable[..., StreamDecoder], data: bytes
) -> None:
    whole = make().feed(data)
    assert any(isinstance(e, ToolCall) for e in whole)
    events = make(max_tool_arguments_size=50).feed(data)
    assert not any(isinstance(e, ToolCall) for e in events)
    errors = [e for e in events if isinstance(e, StreamError)]
    assert len(errors) == 1 and errors[0].kind == "protocol"
    assert "max_tool_arguments_size" in errors[0].message and "50" in errors[0].message


@pytest.mark.parametrize("make", [OpenAIChatDecoder, AnthropicMessagesDecoder, OllamaChatDecoder])
def test_limits_must_be_positive_whole_numbers(make: Callable[..., StreamDecoder]) -> None:
    for bad in (0, -1, 1.5, None):
        with pytest.raises(ValueError):
            make(max_event_size=bad)
        with pytest.raises(ValueError):
            make(max_tool_arguments_size=bad)
