"""Properties of every decoder, checked on generated input:

- a valid stream split anywhere (inside a UTF-8 character, between CR and LF)
  gives the same events as the stream fed whole;
- arbitrary bytes, and valid events with any field replaced by arbitrary JSON,
  give only our typed events, never an exception;
- however long the junk, a decoder never buffers more than its line limit.

https://github.com/laraflowai/laraflowai/issues/15 (item 1)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laraflowai.wire import Event, StreamDecoder, TextDelta
from laraflowai.wire._lines import LineDecoder
from laraflowai.wire.anthropic import AnthropicMessagesDecoder
from laraflowai.wire.gemini import GeminiStreamDecoder
from laraflowai.wire.ndjson import NDJSONDecoder
from laraflowai.wire.ollama import OllamaChatDecoder
from laraflowai.wire.openai import OpenAIChatDecoder
from laraflowai.wire.sse import SSEDecoder
from tests.wire.typed import check_typed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wire"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sse(payload: Any, event: str | None = None, newline: str = "\n") -> bytes:
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False)}{newline}{newline}".encode()


def _openai_stream() -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get", "arguments": ""},
    }
    return b"".join(
        [
            b": keep-alive\n\n",
            sse(chunk({"role": "assistant", "reasoning_content": "Хм 🤔"})),
            sse(chunk({"content": "Olá! 👋🏽 "})),
            sse(chunk({"content": "Привіт"}), newline="\r\n"),
            sse(chunk({"tool_calls": [call]})),
            sse(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Ки'}}]})),
            sse(chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'їв"}'}}]})),
            sse(chunk({}, "tool_calls")),
            sse({"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}),
            b"data: [DONE]\r\n\r\n",
        ]
    )


VALID: list[tuple[str, Callable[[], StreamDecoder], bytes]] = [
    ("openai", OpenAIChatDecoder, _openai_stream()),
    *[
        (path.stem, OpenAIChatDecoder, path.read_bytes())
        for path in sorted((FIXTURES / "openai").glob("*.sse"))
    ],
    *[
        (path.stem, AnthropicMessagesDecoder, path.read_bytes())
        for path in sorted((FIXTURES / "anthropic").glob("*.sse"))
    ],
    *[
        (path.stem, GeminiStreamDecoder, path.read_bytes())
        for path in sorted((FIXTURES / "gemini").glob("*.sse"))
    ],
    *[
        (path.stem, OllamaChatDecoder, path.read_bytes())
        for path in sorted((FIXTURES / "ollama").glob("*.ndjson"))
    ],
]


def feed(make: Callable[[], StreamDecoder], pieces: list[bytes]) -> list[Event]:
    decoder = make()
    events: list[Event] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.finish()
    check_typed(events)
    return events


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


CUTS = st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=30)


@pytest.mark.parametrize(("name", "make", "data"), VALID, ids=[case[0] for case in VALID])
@SETTINGS
@given(cuts=CUTS)
def test_a_valid_stream_split_anywhere_gives_the_same_events(
    name: str, make: Callable[[], StreamDecoder], data: bytes, cuts: list[int]
) -> None:
    assert feed(make, split(data, cuts)) == feed(make, [data])


@SETTINGS
@given(cuts=CUTS)
def test_line_and_sse_layers_split_anywhere_give_the_same_output(cuts: list[int]) -> None:
    data = _openai_stream() + b"event: x\r\nid: 7\rretry: 10\ndata: a\ndata: \xc3\xa9\n\n"
    lines, whole = LineDecoder(), LineDecoder()
    got = [line for piece in split(data, cuts) for line in lines.feed(piece)]
    assert got + [lines.finish()] == whole.feed(data) + [whole.finish()]
    events, one = SSEDecoder(), SSEDecoder()
    got_events = [event for piece in split(data, cuts) for event in events.feed(piece)]
    assert got_events + events.finish() == one.feed(data) + one.finish()


SSE_WORDS = [
    b"data: ", b"data:", b"event: ", b"error", b"message_start", b"content_block_delta",
    b"\n", b"\r", b"\r\n", b"\n\n", b": ping", b"id: ", b"retry: 5",
    b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"true", b"5", b"-1", b"1e999",
    b'"choices"', b'"delta"', b'"content"', b'"candidates"', b'"type"', b'"index"',
    b'"message"', b'"usage"', b'"error"', b'"tool_calls"', b'"parts"', b'"text"', b'"done"',
    b"[DONE]", b"\xef\xbb\xbf", b"\xc3", b"\xa9", b"\xff", b"\x00",
]  # fmt: skip
JUNK = st.lists(st.one_of(st.sampled_from(SSE_WORDS), st.binary(max_size=40)), max_size=60).map(
    b"".join
)
DECODERS: list[Callable[[], StreamDecoder]] = [
    OpenAIChatDecoder,
    AnthropicMessagesDecoder,
    GeminiStreamDecoder,
    OllamaChatDecoder,
]


@pytest.mark.parametrize("make", DECODERS)
@SETTINGS
@given(data=JUNK, cuts=CUTS)
def test_arbitrary_bytes_give_only_typed_events(
    make: Callable[[], StreamDecoder], data: bytes, cuts: list[int]
) -> None:
    feed(make, split(data, cuts))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)

OPENAI_EVENTS = [
    {
        "id": "c",
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"content": "a", "reasoning_content": "r"}, "finish_reason": None}
        ],
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}
                    ]
                },
                "finish_reason": "tool_calls",
            }
        ]
    },
    {
        "choices": [],
        "usage": {
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "total_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
        "x_groq": {"usage": {"prompt_tokens": 1}},
    },
    {"error": {"message": "m", "type": "server_error", "code": "c"}},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "t"}]},
                        {"type": "text", "text": "a"},
                    ],
                    "executed_tools": [
                        {"index": 0, "type": "search", "arguments": '{"q": 1}', "output": "o"}
                    ],
                },
            }
        ]
    },
]
ANTHROPIC_EVENTS = [
    {
        "type": "message_start",
        "message": {"id": "m", "model": "c", "usage": {"input_tokens": 1, "output_tokens": 1}},
    },
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"b": 2'},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "t"},
    },
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    {
        "type": "message_start",
        "message": {
            "content": [
                {"type": "text", "text": "a"},
                {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
                {"type": "mcp_tool_use", "id": "m", "name": "e", "input": {}},
                {"type": "mcp_tool_result", "tool_use_id": "m", "is_error": False, "content": []},
            ],
            "stop_reason": "tool_use",
        },
    },
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
    },
    {
        "type": "content_block_start",
        "index": 3,
        "content_block": {
            "type": "web_search_tool_result",
            "tool_use_id": "s",
            "content": {"type": "web_search_tool_result_error", "error_code": "e"},
        },
    },
]
GEMINI_EVENTS = [
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "a"},
                        {"text": "t", "thought": True},
                        {"functionCall": {"name": "f", "args": {"a": 1}}},
                    ]
                },
                "finishReason": "STOP",
                "safetyRatings": [{"category": "C", "blocked": True}],
            }
        ],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3},
        "modelVersion": "g",
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1"}},
                        {"toolCall": {"id": "i", "toolType": "URL_CONTEXT", "args": {"u": 1}}},
                        {"toolResponse": {"id": "i", "toolType": "URL_CONTEXT", "response": {}}},
                    ]
                }
            }
        ],
        "usageMetadata": {"candidatesTokenCount": 2, "thoughtsTokenCount": 3},
    },
    {
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [{"category": "C", "probability": "HIGH"}],
        }
    },
    {
        "error": {
            "code": 429,
            "message": "m",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"reason": "r"}],
        }
    },
]
OLLAMA_EVENTS = [
    {
        "message": {
            "role": "assistant",
            "content": "a",
            "thinking": "t",
            "tool_calls": [
                {"id": "i", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}
            ],
        },
        "done": False,
    },
    {
        "message": {"content": ""},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 1,
        "eval_count": 2,
    },
    {"error": "boom"},
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value = copy.deepcopy(value)
    holder = value
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return value


def anthropic_frame(payload: Any) -> bytes:
    name = payload.get("type") if isinstance(payload, dict) else None
    return sse(payload, name if isinstance(name, str) else "x")


Envelope = tuple[Callable[[], StreamDecoder], list[dict[str, Any]], Callable[[Any], bytes], bytes]
ENVELOPES: list[Envelope] = [
    (OpenAIChatDecoder, OPENAI_EVENTS, sse, sse({"choices": [{"delta": {"content": "kept"}}]})),
    (
        AnthropicMessagesDecoder,
        ANTHROPIC_EVENTS,
        anthropic_frame,
        sse({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "kept"}}),
    ),
    (
        GeminiStreamDecoder,
        GEMINI_EVENTS,
        sse,
        sse({"candidates": [{"content": {"parts": [{"text": "kept"}]}}]}),
    ),
    (
        OllamaChatDecoder,
        OLLAMA_EVENTS,
        lambda p: json.dumps(p).encode() + b"\n",
        b'{"message": {"content": "kept"}}\n',
    ),
]


@pytest.mark.parametrize(
    ("make", "templates", "frame", "ok"),
    ENVELOPES,
    ids=["openai", "anthropic", "gemini", "ollama"],
)
@SETTINGS
@given(data=st.data())
def test_any_field_replaced_by_arbitrary_json_gives_only_typed_events(
    make: Callable[[], StreamDecoder],
    templates: list[dict[str, Any]],
    frame: Callable[[Any], bytes],
    ok: bytes,
    data: st.DataObject,
) -> None:
    template = data.draw(st.sampled_from(templates))
    mutated = template
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(paths(mutated)))
        mutated = replaced(mutated, path, data.draw(JSON))
    events = feed(make, [ok, frame(mutated), frame(template)])
    assert events[0] == TextDelta("kept")


@pytest.mark.parametrize("make", [*DECODERS, SSEDecoder, NDJSONDecoder, LineDecoder])
@SETTINGS
@given(
    pieces=st.lists(
        st.one_of(
            st.binary(min_size=1, max_size=700).filter(lambda b: b"\n" not in b and b"\r" not in b),
            st.sampled_from([b"\n", b"\r", b"data: ", b"\n\n"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_buffers_never_grow_past_the_line_limit(
    make: Callable[..., Any], pieces: list[bytes]
) -> None:
    limit = 1024
    if make in (LineDecoder, SSEDecoder, NDJSONDecoder):
        decoder = make(limit)
    else:
        decoder = make(max_event_size=limit)
    lines = decoder
    while not isinstance(lines, LineDecoder):
        lines = getattr(lines, "_sse", None) or lines._lines
    sse_layer = lines if isinstance(decoder, LineDecoder) else getattr(decoder, "_sse", decoder)
    for piece in pieces * 3:
        decoder.feed(piece)
        assert len(lines._buffer) <= lines.max_line <= limit + 6
        if isinstance(sse_layer, SSEDecoder):
            assert sum(len(part) + 1 for part in sse_layer._data) <= limit + 7
    decoder.finish()
