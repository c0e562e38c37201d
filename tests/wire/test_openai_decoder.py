"""The OpenAI-compatible stream decoder, fed bytes in every possible split."""

from __future__ import annotations

import json
from typing import Any

from laraflowai.wire import (
    Event,
    Finished,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from laraflowai.wire.openai import OpenAIChatDecoder


def sse(payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return sse({"id": "c1", "object": "chat.completion.chunk", "choices": choices, **extra})


def decode(data: bytes, cut: int | None = None) -> tuple[list[Event], OpenAIChatDecoder]:
    decoder = OpenAIChatDecoder()
    if cut is None:
        events = decoder.feed(data)
    else:
        events = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
    return events + decoder.finish(), decoder


def texts(events: list[Event]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def test_wire_example_split_at_every_byte_gives_same_events() -> None:
    stream = (
        chunk({"role": "assistant", "content": "Ol"})
        + chunk({"content": "\u00e1! \u041f\u0440\u0438\u0432\u0456\u0442 \U0001f44b\U0001f3fd"})
        + chunk({}, "stop")
        + chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12})
        + sse("[DONE]")
    )
    expected, decoder = decode(stream)
    assert decoder.complete
    assert expected == [
        TextDelta("Ol"),
        TextDelta("\u00e1! \u041f\u0440\u0438\u0432\u0456\u0442 \U0001f44b\U0001f3fd"),
        Usage(9, 3, 12),
        Finished("stop", "stop"),
    ]
    for cut in range(len(stream) + 1):
        assert decode(stream, cut)[0] == expected


def test_eof_without_done_or_finish_reason_is_incomplete() -> None:
    _, decoder = decode(chunk({"content": "partial"}))
    assert not decoder.complete


def test_xai_missing_finish_reason_key_and_groq_null_content_are_tolerated() -> None:
    stream = (
        sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]})
        + sse({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
        + chunk({}, "stop")
        + sse("[DONE]")
    )
    events, decoder = decode(stream)
    assert texts(events) == "hi"
    assert events[-1] == Finished("stop", "stop")


def test_groq_usage_repeated_in_x_groq_and_usage_chunk_keeps_a_snapshot() -> None:
    usage = {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
    stream = (
        chunk({"content": "ok"})
        + chunk({}, "stop", x_groq={"id": "req_1", "usage": {"queue_time": 0.1, **usage}})
        + chunk(None, usage=usage)
        + sse("[DONE]")
    )
    events, _ = decode(stream)
    usages = [event for event in events if isinstance(event, Usage)]
    assert usages and all(item == Usage(20, 3, 23) for item in usages)


def test_groq_x_groq_alone_carries_usage() -> None:
    stream = chunk({}, "stop", x_groq={"usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    events, _ = decode(stream + sse("[DONE]"))
    assert Usage(5, 2, None) in events


def test_deepseek_reasoning_is_kept_apart_and_first_answer_token_survives() -> None:
    stream = (
        b": keep-alive\n\n"
        + chunk({"role": "assistant", "content": None, "reasoning_content": "9.8 > 9.11"})
        + chunk({"reasoning_content": " because", "content": "Yes"})
        + chunk({"content": ", 9.8"})
        + chunk({}, "stop")
        + chunk(
            None,
            usage={
                "prompt_tokens": 10,
                "completion_tokens": 30,
                "total_tokens": 40,
                "prompt_cache_hit_tokens": 4,
                "completion_tokens_details": {"reasoning_tokens": 20},
            },
        )
        + sse("[DONE]")
    )
    events, _ = decode(stream)
    assert texts(events) == "Yes, 9.8"
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["9.8 > 9.11", " because"]
    assert events.index(ReasoningDelta(" because")) < events.index(TextDelta("Yes"))
    assert Usage(10, 30, 40, 20, 4) in events


def test_tool_call_fragments_assemble_with_parsed_arguments() -> None:
    stream = (
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        )
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "\u041a'}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '\u0438\u0457\u0432"}'}}]})
        + chunk({}, "tool_calls")
        + sse("[DONE]")
    )
    events, _ = decode(stream)
    assert [e for e in events if isinstance(e, ToolCallDelta)][0].name == "get_weather"
    assert ToolCall(0, "call_1", "get_weather", {"city": "\u041a\u0438\u0457\u0432"}) in events
    assert events[-1] == Finished("tool_calls", "tool_calls")


def test_malformed_tool_arguments_are_an_error_event_not_a_crash() -> None:
    stream = (
        chunk(
            {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{"}}]}
        )
        + chunk({}, "tool_calls")
        + sse("[DONE]")
    )
    events, decoder = decode(stream)
    errors = [e for e in events if isinstance(e, StreamError)]
    assert errors and errors[0].kind == "malformed_tool_call" and "'f'" in errors[0].message
    assert decoder.complete


def test_error_object_inside_a_200_stream_becomes_an_error_event() -> None:
    stream = chunk({"content": "so far"}) + sse(
        {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}
    )
    events, _ = decode(stream)
    assert events[0] == TextDelta("so far")
    assert isinstance(events[1], StreamError) and events[1].kind == "rate_limit"


def test_malformed_json_event_is_a_protocol_error_event() -> None:
    events, _ = decode(b"data: {not json\n\n")
    assert isinstance(events[0], StreamError) and events[0].kind == "protocol"
