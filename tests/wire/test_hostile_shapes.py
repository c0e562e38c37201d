"""Valid JSON of the wrong shape: every decoder answers with a protocol
`StreamError` naming the provider and the field, never another exception, and
keeps the text it decoded before the bad event.

https://github.com/laraflowai/laraflowai/issues/15 (item 1)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from laraflowai.wire import (
    Event,
    Finished,
    StreamDecoder,
    StreamError,
    TextDelta,
    ToolCall,
)
from laraflowai.wire.anthropic import AnthropicMessagesDecoder
from laraflowai.wire.gemini import GeminiStreamDecoder
from laraflowai.wire.ollama import OllamaChatDecoder
from laraflowai.wire.openai import OpenAIChatDecoder
from tests.wire.typed import check_typed

DEEP = "[" * 100_000 + "]" * 100_000  # overflows a recursive JSON parser
# Within orjson's depth limit (1024), past the recursion limit of json.dumps.
DEEP_OBJECT = '{"a":' * 990 + "{}" + "}" * 990


def deep(payload: Any) -> str:
    """`payload` as JSON, with the string "DEEP" replaced by DEEP_OBJECT."""
    return json.dumps(payload).replace('"DEEP"', DEEP_OBJECT)


def sse(payload: Any, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def ndjson(payload: Any) -> bytes:
    return (payload if isinstance(payload, str) else json.dumps(payload)).encode() + b"\n"


def run(make: Callable[[], StreamDecoder], *pieces: bytes) -> list[Event]:
    decoder = make()
    events: list[Event] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.finish()
    check_typed(events)
    return events


def protocol_errors(events: list[Event]) -> list[StreamError]:
    return [e for e in events if isinstance(e, StreamError) and e.kind == "protocol"]


def choice(delta: Any = None, finish: Any = None, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}]}


OPENAI = [
    {"choices": [1]},
    {"choices": True},
    {"choices": {"index": 0}},
    {"choices": "abc"},
    {"usage": 5},
    {"usage": [1]},
    {"choices": [], "usage": {"prompt_tokens": "5", "completion_tokens": 1}},
    {"choices": [], "usage": {"prompt_tokens": True}},
    {"choices": [], "usage": {"prompt_tokens": -3}},
    {"choices": [], "usage": {"prompt_tokens": 1.5}},
    {"choices": [], "usage": {"prompt_tokens": 1, "prompt_tokens_details": 5}},
    {"choices": [], "usage": {"completion_tokens_details": {"reasoning_tokens": "x"}}},
    choice({"tool_calls": [{"index": [1], "function": {"name": "f"}}]}),
    choice({"tool_calls": [{"index": {"a": 1}, "function": {"name": "f"}}]}),
    choice({"tool_calls": 5}),
    choice({"tool_calls": [5]}),
    choice({"tool_calls": [{"index": 0, "function": 5}]}),
    choice({"tool_calls": [{"index": 0, "function": {"name": 5}}]}),
    choice({"tool_calls": [{"index": 0, "id": [1], "function": {"name": "f"}}]}),
    choice({}, ["stop"]),
    choice({}, 5),
    choice({}, {"a": 1}),
    choice(5),
    choice("hello"),
    choice([1, 2]),
    choice({"content": 5}),
    choice({"content": ["a"]}),
    choice({"content": {"text": "a"}}),
    choice({"reasoning_content": 5}),
    choice({"reasoning": ["x"]}),
    choice({"refusal": 7}),
    {"error": {"type": 5, "message": "x"}},
    {"error": {"code": [1], "message": "x"}},
    {"error": {"type": "server_error", "message": ["x"]}},
    {"x_groq": 5},
    {"x_groq": {"usage": 5}},
]

ANTHROPIC = [
    ("message_start", {"type": "message_start", "message": 1}),
    ("message_start", {"type": "message_start", "message": {"usage": 5}}),
    ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": "5"}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": 5}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": "x"}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": [1]},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": [0], "delta": {"type": "text_delta", "text": "a"}},
    ),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": 5}),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": 5}},
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": [1], "content_block": {"type": "tool_use"}},
    ),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": 5, "name": ["f"]},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": {"a": 1}}),
    ("message_delta", {"type": "message_delta", "delta": 5}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": ["end_turn"]}}),
    ("message_delta", {"type": "message_delta", "delta": {}, "usage": 5}),
    ("message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": "9"}}),
    ("message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": -9}}),
    ("error", {"type": "error", "error": {"type": 5, "message": "x"}}),
    ("error", {"type": "error", "error": {"type": "api_error", "message": {"a": 1}}}),
]

GEMINI = [
    {"candidates": [5]},
    {"candidates": {"content": {"parts": [{"text": "a"}]}}},
    {"candidates": "abc"},
    {"candidates": [{"content": 5}]},
    {"candidates": [{"content": {"parts": 5}}]},
    {"candidates": [{"content": {"parts": [5]}}]},
    {"candidates": [{"content": {"parts": [{"text": 5}]}}]},
    {"candidates": [{"content": {"parts": [{"functionCall": 5}]}}]},
    {"candidates": [{"content": {"parts": [{"functionCall": {"name": 5, "args": {}}}]}}]},
    {"candidates": [{"finishReason": 5}]},
    {"candidates": [{"finishReason": ["STOP"]}]},
    {"candidates": [{"finishReason": "SAFETY", "safetyRatings": 5}]},
    {"candidates": [{"finishReason": "SAFETY", "safetyRatings": [5]}]},
    {"usageMetadata": 5},
    {"usageMetadata": {"promptTokenCount": "8"}},
    {"usageMetadata": {"promptTokenCount": False}},
    {"promptFeedback": 5},
    {"promptFeedback": {"blockReason": ["SAFETY"]}},
    {"error": {"code": 400, "status": 5, "message": "x"}},
    {"error": {"code": 400, "details": 5, "message": "x"}},
]

OLLAMA = [
    {"message": 5},
    {"message": "hi"},
    {"message": {"content": 5}},
    {"message": {"thinking": [1]}},
    {"message": {"tool_calls": 5}},
    {"message": {"tool_calls": [5]}},
    {"message": {"tool_calls": [{"function": 5}]}},
    {"message": {"tool_calls": [{"function": {"index": [1], "name": "f", "arguments": {}}}]}},
    {"message": {"tool_calls": [{"function": {"name": 5, "arguments": {}}}]}},
    {"message": {"content": ""}, "done": True, "prompt_eval_count": "5", "eval_count": 1},
    {"message": {"content": ""}, "done": True, "eval_count": -1},
    {"message": {"content": ""}, "done": True, "done_reason": ["stop"]},
]

OK_OPENAI = sse(choice({"content": "kept"}))
OK_ANTHROPIC = sse(
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "kept"}},
    "content_block_delta",
)
OK_GEMINI = sse({"candidates": [{"content": {"parts": [{"text": "kept"}]}}]})
OK_OLLAMA = ndjson({"message": {"role": "assistant", "content": "kept"}, "done": False})

CASES: list[tuple[str, Callable[[], StreamDecoder], bytes, bytes]] = [
    *[("openai", OpenAIChatDecoder, OK_OPENAI, sse(p)) for p in OPENAI],
    *[("anthropic", AnthropicMessagesDecoder, OK_ANTHROPIC, sse(p, e)) for e, p in ANTHROPIC],
    *[("gemini", GeminiStreamDecoder, OK_GEMINI, sse(p)) for p in GEMINI],
    *[("ollama", OllamaChatDecoder, OK_OLLAMA, ndjson(p)) for p in OLLAMA],
]

PROVIDER_WORDS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
    "ollama": "Ollama",
}


@pytest.mark.parametrize(
    ("provider", "make", "ok", "bad"),
    CASES,
    ids=[f"{case[0]}-{case[3][:90].decode()!r}" for case in CASES],
)
def test_wrongly_shaped_event_is_a_protocol_error_after_the_text_before_it(
    provider: str, make: Callable[[], StreamDecoder], ok: bytes, bad: bytes
) -> None:
    for pieces in ((ok + bad,), (ok, bad)):
        events = run(make, *pieces)
        assert events[0] == TextDelta("kept")
        errors = protocol_errors(events)
        assert len(errors) == 1, events
        assert PROVIDER_WORDS[provider] in errors[0].message


@pytest.mark.parametrize(
    ("make", "bad"),
    [
        (OpenAIChatDecoder, sse(choice({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}))),
        (
            AnthropicMessagesDecoder,
            sse(
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                },
                "content_block_start",
            ),
        ),
    ],
    ids=["openai", "anthropic"],
)
def test_deeply_nested_streamed_tool_arguments_are_a_malformed_tool_call(
    make: Callable[[], StreamDecoder], bad: bytes
) -> None:
    if make is OpenAIChatDecoder:
        rest = sse(
            choice({"tool_calls": [{"index": 0, "function": {"arguments": DEEP}}]}, "tool_calls")
        )
    else:
        rest = sse(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": DEEP},
            },
            "content_block_delta",
        ) + sse({"type": "content_block_stop", "index": 1}, "content_block_stop")
    events = run(make, bad, rest)
    errors = [e for e in events if isinstance(e, StreamError)]
    assert errors and errors[0].kind == "malformed_tool_call", events
    assert not any(isinstance(e, ToolCall) for e in events)


@pytest.mark.parametrize(
    ("make", "bad"),
    [
        (
            GeminiStreamDecoder,
            sse(
                deep(
                    {
                        "candidates": [
                            {
                                "content": {
                                    "parts": [{"functionCall": {"name": "f", "args": "DEEP"}}]
                                }
                            }
                        ]
                    }
                )
            ),
        ),
        (
            OllamaChatDecoder,
            ndjson(
                deep(
                    {"message": {"tool_calls": [{"function": {"name": "f", "arguments": "DEEP"}}]}}
                )
            ),
        ),
        (
            AnthropicMessagesDecoder,
            sse(
                deep(
                    {
                        "type": "content_block_start",
                        "index": 1,
                        "content_block": {
                            "type": "tool_use",
                            "id": "t",
                            "name": "f",
                            "input": "DEEP",
                        },
                    }
                ),
                "content_block_start",
            )
            + sse({"type": "content_block_stop", "index": 1}, "content_block_stop"),
        ),
    ],
    ids=["gemini", "ollama", "anthropic"],
)
def test_deeply_nested_whole_tool_arguments_are_a_malformed_tool_call(
    make: Callable[[], StreamDecoder], bad: bytes
) -> None:
    events = run(make, bad)
    errors = [e for e in events if isinstance(e, StreamError)]
    assert errors and errors[0].kind == "malformed_tool_call", events
    assert not any(isinstance(e, ToolCall) for e in events)


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (OpenAIChatDecoder, sse({"id": 5, "model": [1], **choice({"content": "kept"})})),
        (
            AnthropicMessagesDecoder,
            sse({"type": "message_start", "message": {"id": 5, "model": []}}, "message_start")
            + OK_ANTHROPIC,
        ),
        (GeminiStreamDecoder, sse({"modelVersion": 5, **json.loads(OK_GEMINI[6:])})),
    ],
    ids=["openai", "anthropic", "gemini"],
)
def test_metadata_of_the_wrong_type_is_ignored(
    make: Callable[[], StreamDecoder], data: bytes
) -> None:
    decoder = make()
    events = decoder.feed(data)
    check_typed(events)
    assert events == [TextDelta("kept")]
    assert getattr(decoder, "model", None) is None
    assert getattr(decoder, "id", None) is None


def test_unknown_extra_fields_are_ignored() -> None:
    events = run(
        OpenAIChatDecoder,
        sse({**choice({"content": "a", "surprise": [1]}), "obfuscation": 5, "service_tier": []}),
        b"data: [DONE]\n\n",
    )
    assert events == [TextDelta("a"), Finished(None, None)]


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (OpenAIChatDecoder, b"data: 5\n\ndata: [1]\n\ndata: null\n\n"),
        (GeminiStreamDecoder, b"data: 5\n\ndata: [1]\n\ndata: null\n\n"),
        (AnthropicMessagesDecoder, b"event: message_start\ndata: [1]\n\n"),
        (OllamaChatDecoder, b"5\n[1]\nnull\n"),
    ],
    ids=["openai", "gemini", "anthropic", "ollama"],
)
def test_an_event_that_is_not_an_object_is_a_protocol_error(
    make: Callable[[], StreamDecoder], data: bytes
) -> None:
    assert protocol_errors(run(make, data))


def test_an_event_that_is_not_json_is_kept_whole_in_the_body_never_cut() -> None:
    small = b"data: {not json " + b"k" * 500 + b"\n\n"
    error = run(OpenAIChatDecoder, small)[0]
    assert isinstance(error, StreamError) and error.kind == "protocol"
    assert error.body == {"event_bytes": 510, "event": "{not json " + "k" * 500}
    assert "kkk" not in error.message and "510 bytes" in error.message
    large = run(OpenAIChatDecoder, b"data: {" + b"k" * 70_000 + b"\n\n")[0]
    assert isinstance(large, StreamError) and large.body == {"event_bytes": 70_001}


@pytest.mark.parametrize(
    ("make", "module", "data"),
    [
        (OllamaChatDecoder, "laraflowai.wire.ndjson", DEEP.encode() + b"\n"),
        (OpenAIChatDecoder, "laraflowai.wire.openai", sse(DEEP)),
        (GeminiStreamDecoder, "laraflowai.wire.gemini", sse(DEEP)),
        (AnthropicMessagesDecoder, "laraflowai.wire.anthropic", sse(DEEP, "message_start")),
    ],
    ids=["ollama", "openai", "gemini", "anthropic"],
)
def test_deep_nesting_is_a_protocol_error_with_the_standard_library_parser_too(
    make: Callable[[], StreamDecoder], module: str, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{module}.loads", json.loads)  # as when orjson is not installed
    events = run(make, OK_OLLAMA if make is OllamaChatDecoder else OK_OPENAI, data)
    assert protocol_errors(events)
