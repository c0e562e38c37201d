"""Two rules every decoder keeps the same way:

- a `delta.content` that is a list of typed parts (Mistral's magistral models
  and some OpenAI-compatible hosts send text and thinking parts) gives text and
  reasoning events, never an error; unknown part types are skipped;
- `Usage.output_tokens` counts the reasoning tokens, as OpenAI and Anthropic
  report it, whatever the provider's own field leaves out.

https://github.com/laraflowai/laraflowai/issues/16
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai.wire import (
    Event,
    Finished,
    ReasoningDelta,
    StreamDecoder,
    StreamError,
    TextDelta,
    Usage,
)
from laraflowai.wire.anthropic import AnthropicMessagesDecoder
from laraflowai.wire.gemini import GeminiStreamDecoder
from laraflowai.wire.ollama import OllamaChatDecoder
from laraflowai.wire.openai import OpenAIChatDecoder
from tests.servers.anthropic_wire import anthropic_events
from tests.servers.gemini_wire import gemini_events
from tests.servers.ollama_wire import ollama_lines
from tests.servers.openai_wire import openai_chunks, sse_data
from tests.wire.typed import check_typed


def decode(make: Callable[[], StreamDecoder], data: bytes) -> list[Event]:
    decoder = make()
    events = decoder.feed(data) + decoder.finish()
    check_typed(events)
    return events


def chunk(content: Any, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    return sse_data({"id": "c", "model": "magistral-medium-2509", "choices": [choice]})


def thinking(*texts: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text} for text in texts]}


def test_content_parts_give_reasoning_and_text_in_their_order_split_anywhere() -> None:
    data = b"".join(
        [
            chunk([thinking("Хм, ", "\U0001f914")]),
            chunk([thinking("done"), {"type": "text", "text": "Olá"}]),
            chunk([{"type": "text", "text": "! Привіт"}]),
            chunk("", "stop"),
            b"data: [DONE]\n\n",
        ]
    )
    whole = decode(OpenAIChatDecoder, data)
    assert whole == [
        ReasoningDelta("Хм, "),
        ReasoningDelta("\U0001f914"),
        ReasoningDelta("done"),
        TextDelta("Olá"),
        TextDelta("! Привіт"),
        Finished("stop", "stop"),
    ]
    for cut in range(len(data) + 1):
        decoder = OpenAIChatDecoder()
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.finish() == whole


def test_content_parts_of_unknown_types_are_skipped() -> None:
    """A host may add part types (citations, images) a text stream has no use
    for: skipped like any unknown field, so the answer goes on."""
    data = chunk(
        [
            {"type": "reference", "reference_ids": [1, 2]},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "thinking", "thinking": "as one string"},
            {"type": "text", "text": "kept"},
        ]
    )
    assert decode(OpenAIChatDecoder, data) == [ReasoningDelta("as one string"), TextDelta("kept")]


@pytest.mark.parametrize(
    "content",
    [
        ["text"],
        [{"type": "text", "text": 5}],
        [{"type": "thinking", "thinking": [{"type": "text", "text": None}, 7]}],
        [{"type": "thinking", "thinking": {"text": "x"}}],
        [{"type": ["text"], "text": "x"}],
        {"type": "text", "text": "not a list"},
        17,
    ],
)
def test_wrongly_shaped_content_is_a_protocol_error_after_what_came_before(content: Any) -> None:
    events = decode(OpenAIChatDecoder, chunk("kept") + chunk(content))
    assert events[0] == TextDelta("kept")
    assert [e.kind for e in events[1:] if isinstance(e, StreamError)] == ["protocol"]


# --- reasoning tokens in output_tokens ---------------------------------------------------


def test_gemini_output_tokens_count_the_thinking_tokens() -> None:
    """Gemini's `candidatesTokenCount` leaves the thoughts out; `totalTokenCount`
    holds them (ai.google.dev/api/generate-content#UsageMetadata)."""
    data = b"".join(gemini_events(["Hi"], thoughts=["Hm"], thoughts_tokens=20, prompt_tokens=8))
    usage = [e for e in decode(GeminiStreamDecoder, data) if isinstance(e, Usage)][-1]
    assert usage == Usage(8, 21, 29, 20, None)
    assert usage.input_tokens + usage.output_tokens == usage.total_tokens  # type: ignore[operator]


def test_gemini_thinking_before_any_answer_token_is_output_already() -> None:
    data = b"".join(gemini_events(thoughts=["Hm"], thoughts_tokens=5, finish_reason=None))
    assert [e for e in decode(GeminiStreamDecoder, data) if isinstance(e, Usage)] == [
        Usage(8, 5, 13, 5, None)
    ]


def test_xai_completion_tokens_without_reasoning_get_them_added() -> None:
    """xAI's `completion_tokens` leaves reasoning out (its total adds both);
    OpenAI's already holds it: the total tells which."""
    xai = {
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "total_tokens": 32,
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    openai = {**xai, "completion_tokens": 23}
    for usage in (xai, openai):
        data = b"".join(openai_chunks(["Hi"], usage=usage, reasoning=["r"], style="xai"))
        assert [e for e in decode(OpenAIChatDecoder, data) if isinstance(e, Usage)] == [
            Usage(9, 23, 32, 20, None)
        ]


def test_anthropic_and_ollama_output_tokens_already_count_thinking() -> None:
    """Anthropic bills thinking as output tokens and Ollama's `eval_count` counts
    every generated token, thinking included: both are kept as sent."""
    anthropic = b"".join(anthropic_events(["Hi"], thinking=["Hm"], output_tokens=40))
    assert [e for e in decode(AnthropicMessagesDecoder, anthropic) if isinstance(e, Usage)][
        -1
    ] == Usage(14, 40, 54)
    ollama = b"".join(ollama_lines(["Hi"], thinking=["Hm"], prompt_eval_count=5, eval_count=9))
    assert Usage(5, 9, 14) in decode(OllamaChatDecoder, ollama)
