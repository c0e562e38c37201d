"""Tools the provider runs itself (web search, code execution, MCP servers...)
come out as ProviderToolCall and ProviderToolResult events, the same way for
every provider: never a ToolCall a caller would run again, never dropped.

https://github.com/laraflowai/laraflowai/issues/16
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from laraflowai.wire import (
    Event,
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    ReasoningSignature,
    StreamDecoder,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from laraflowai.wire.anthropic import AnthropicMessagesDecoder
from laraflowai.wire.gemini import GeminiStreamDecoder
from laraflowai.wire.openai import OpenAIChatDecoder
from tests.servers.anthropic_wire import anthropic_event, anthropic_events
from tests.servers.gemini_wire import gemini_events
from tests.servers.openai_wire import sse_data
from tests.wire.typed import check_typed

SEARCH = "srvtoolu_01Bj5uzzLcYG5hfueSLcDH8k"
RESULTS = [
    {
        "type": "web_search_result",
        "title": "Kyiv weather",
        "url": "https://example.com/kyiv",
        "encrypted_content": "Eu8BCioIBxgC",
        "page_age": None,
    }
]


def decode(make: Callable[[], StreamDecoder], data: bytes) -> list[Event]:
    decoder = make()
    events = decoder.feed(data) + decoder.finish()
    check_typed(events)
    return events


def every_split_is_the_same(make: Callable[[], StreamDecoder], data: bytes) -> list[Event]:
    whole = decode(make, data)
    for cut in range(len(data) + 1):
        decoder = make()
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.finish() == whole
    return whole


def tools_only(events: list[Event]) -> list[Event]:
    kinds = (ToolCall, ToolCallDelta, ProviderToolCall, ProviderToolResult)
    return [event for event in events if isinstance(event, kinds)]


# --- Anthropic ---------------------------------------------------------------------------


def test_anthropic_message_start_holding_whole_blocks_gives_their_events_and_tool_calls() -> None:
    """A message already complete in `message_start` (`tool_use` with its input,
    text, thinking, a server tool's result), then `message_stop`: the tool call
    is kept and the finish reason is the one `message_start` named."""
    data = b"".join(
        anthropic_events(
            message_content=[
                {"type": "thinking", "thinking": "Хм \U0001f914", "signature": "c2ln"},
                {"type": "text", "text": "Olá! "},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Київ"},
                },
            ],
            start_stop_reason="tool_use",
            stop_reason=None,
            input_tokens=7,
            ping=False,
        )
    )
    events = every_split_is_the_same(AnthropicMessagesDecoder, data)
    assert events == [
        ReasoningDelta("Хм \U0001f914"),
        ReasoningSignature("c2ln"),
        TextDelta("Olá! "),
        ToolCallDelta(2, "toolu_1", "get_weather", ""),
        ToolCallDelta(2, None, None, json.dumps({"city": "Київ"})),
        ToolCall(2, "toolu_1", "get_weather", {"city": "Київ"}),
        Usage(7, 1, 8),
        Finished("tool_calls", "tool_use"),
    ]


def test_anthropic_web_search_streams_its_input_and_its_results_come_whole() -> None:
    data = b"".join(
        anthropic_events(
            ["Сьогодні у Києві +3°C."],
            server_tools=[(SEARCH, "web_search", ['{"query": "погода', ' Київ"}'], RESULTS)],
            pad=True,
        )
    )
    events = every_split_is_the_same(AnthropicMessagesDecoder, data)
    assert tools_only(events) == [
        ProviderToolCall(SEARCH, "web_search", {"query": "погода Київ"}),
        ProviderToolResult(SEARCH, "web_search", RESULTS),
    ]
    assert events[-1] == Finished("stop", "end_turn")


@pytest.mark.parametrize(
    ("name", "result", "is_error"),
    [
        (
            "code_execution",
            {"type": "code_execution_result", "stdout": "2\n", "stderr": "", "return_code": 0},
            False,
        ),
        (
            "code_execution",
            {"type": "code_execution_tool_result_error", "error_code": "unavailable"},
            True,
        ),
        (
            "bash_code_execution",
            {"type": "bash_code_execution_result", "stdout": "", "stderr": "no", "return_code": 1},
            False,
        ),
        (
            "bash_code_execution",
            {"type": "bash_code_execution_tool_result_error", "error_code": "too_many_requests"},
            True,
        ),
        (
            "text_editor_code_execution",
            {"type": "text_editor_code_execution_view_result", "content": "x"},
            False,
        ),
        (
            "web_search",
            {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
            True,
        ),
    ],
)
def test_anthropic_server_tool_results_are_errors_when_their_content_type_says_so(
    name: str, result: Any, is_error: bool
) -> None:
    data = b"".join(
        anthropic_events(["Done"], server_tools=[("srvtoolu_9", name, ['{"a": 1}'], result)])
    )
    assert tools_only(decode(AnthropicMessagesDecoder, data)) == [
        ProviderToolCall("srvtoolu_9", name, {"a": 1}),
        ProviderToolResult("srvtoolu_9", name, result, is_error),
    ]


def test_anthropic_mcp_result_error_flag_is_read() -> None:
    call = {"type": "mcp_tool_use", "id": "mcp_1", "name": "echo", "server_name": "s", "input": {}}
    result = {
        "type": "mcp_tool_result",
        "tool_use_id": "mcp_1",
        "is_error": True,
        "content": [{"type": "text", "text": "denied"}],
    }
    events = decode(
        AnthropicMessagesDecoder,
        b"".join(anthropic_events(message_content=[call, result], stop_reason="end_turn")),
    )
    assert tools_only(events) == [
        ProviderToolCall("mcp_1", "echo", {}),
        ProviderToolResult("mcp_1", "echo", [{"type": "text", "text": "denied"}], True),
    ]


def test_anthropic_pause_turn_is_a_pause_never_a_stop() -> None:
    data = b"".join(
        anthropic_events(
            ["Searching"],
            server_tools=[(SEARCH, "web_search", ['{"query": "q"}'], RESULTS)],
            stop_reason="pause_turn",
        )
    )
    assert decode(AnthropicMessagesDecoder, data)[-1] == Finished("pause", "pause_turn")


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "message_start", "message": {"content": {"type": "text"}}},
        {"type": "message_start", "message": {"content": ["text"]}},
        {"type": "message_start", "message": {"content": [{"type": 7}]}},
        {"type": "message_start", "message": {"stop_reason": ["tool_use"]}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": {"x": 1}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "web_search_tool_result", "tool_use_id": 5},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "mcp_tool_result", "tool_use_id": "m", "is_error": "yes"},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "server_tool_use", "id": "s", "name": ["web_search"]},
        },
    ],
)
def test_anthropic_wrongly_shaped_tool_blocks_are_protocol_errors(payload: Any) -> None:
    events = decode(
        AnthropicMessagesDecoder,
        anthropic_event(
            {
                "type": "content_block_delta",
                "index": 9,
                "delta": {"type": "text_delta", "text": "kept"},
            }
        )
        + anthropic_event(payload),
    )
    assert events[0] == TextDelta("kept")
    assert [e.kind for e in events[1:] if isinstance(e, StreamError)] == ["protocol"]


def test_anthropic_server_tool_with_malformed_input_is_reported_and_the_answer_goes_on() -> None:
    data = b"".join(
        anthropic_events(["After"], server_tools=[(SEARCH, "web_search", ['{"query": '], RESULTS)])
    )
    events = decode(AnthropicMessagesDecoder, data)
    errors = [e for e in events if isinstance(e, StreamError)]
    assert [e.kind for e in errors] == ["malformed_tool_call"]
    assert not any(isinstance(e, ToolCall | ProviderToolCall) for e in events)
    assert TextDelta("After") in events and events[-1] == Finished("stop", "end_turn")


# --- Gemini ------------------------------------------------------------------------------


def test_gemini_code_execution_parts_are_a_provider_tool_call_and_result() -> None:
    parts = [
        {"executableCode": {"language": "PYTHON", "code": "print(2 + 2)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "4\n"}},
        {"executableCode": {"language": "PYTHON", "code": "while True: pass"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_DEADLINE_EXCEEDED", "output": "Київ"}},
    ]
    data = b"".join(gemini_events(["Відповідь: 4"], parts=parts))
    events = every_split_is_the_same(GeminiStreamDecoder, data)
    assert tools_only(events) == [
        ProviderToolCall(None, "code_execution", {"language": "PYTHON", "code": "print(2 + 2)"}),
        ProviderToolResult(None, "code_execution", {"outcome": "OUTCOME_OK", "output": "4\n"}),
        ProviderToolCall(
            None, "code_execution", {"language": "PYTHON", "code": "while True: pass"}
        ),
        ProviderToolResult(
            None,
            "code_execution",
            {"outcome": "OUTCOME_DEADLINE_EXCEEDED", "output": "Київ"},
            is_error=True,
        ),
    ]
    # Code Gemini ran is no call of the caller's: the answer stops, it does not wait for tools.
    assert events[-1] == Finished("stop", "STOP")


def test_gemini_server_side_tool_call_and_response_parts_are_provider_tools() -> None:
    """`toolCall`/`toolResponse` parts: the built-in tools Gemini ran, reported
    when `toolConfig.includeServerSideToolInvocations` is set
    (ai.google.dev/api/caching#Part)."""
    parts = [
        {"toolCall": {"id": "tc1", "toolType": "GOOGLE_SEARCH_WEB", "args": {"queries": ["q"]}}},
        {"toolResponse": {"id": "tc1", "toolType": "GOOGLE_SEARCH_WEB", "response": {"ok": 1}}},
    ]
    events = decode(GeminiStreamDecoder, b"".join(gemini_events(["Done"], parts=parts)))
    assert tools_only(events) == [
        ProviderToolCall("tc1", "google_search_web", {"queries": ["q"]}),
        ProviderToolResult("tc1", "google_search_web", {"ok": 1}),
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"executableCode": "print(1)"},
        {"executableCode": {"language": "PYTHON", "code": 5}},
        {"codeExecutionResult": {"outcome": ["OUTCOME_OK"], "output": ""}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": {"x": 1}}},
        {"toolCall": {"toolType": "URL_CONTEXT", "args": [1]}},
        {"toolCall": {"toolType": 3}},
        {"toolResponse": {"id": 4, "toolType": "URL_CONTEXT"}},
    ],
)
def test_gemini_wrongly_shaped_tool_parts_are_protocol_errors(part: dict[str, Any]) -> None:
    events = decode(GeminiStreamDecoder, b"".join(gemini_events(parts=[part])))
    assert [e.kind for e in events if isinstance(e, StreamError)] == ["protocol"]


# --- OpenAI-compatible hosts -------------------------------------------------------------


def groq_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return sse_data({"id": "c", "model": "groq/compound", "choices": [choice]})


SEARCH_ARGUMENTS = json.dumps({"query": "погода Київ"}, ensure_ascii=False)
SEARCH_OUTPUT = "Title: Weather in Kyiv\nURL: https://example.com\nContent: +3°C"


def test_groq_executed_tools_are_provider_tools_once_each() -> None:
    """Groq's compound systems report the tools they ran in `delta.executed_tools`
    (groq-python `types/chat/chat_completion_chunk.py`): first with the
    arguments, again with the output."""
    started = {"index": 0, "type": "search", "arguments": SEARCH_ARGUMENTS}
    done = {**started, "output": SEARCH_OUTPUT, "search_results": {"results": []}}
    code = {"index": 1, "type": "python", "arguments": '{"code": "print(1)"}', "output": "1\n"}
    data = b"".join(
        [
            groq_chunk(
                {"role": "assistant", "reasoning": "Let me search", "executed_tools": [started]}
            ),
            groq_chunk({"executed_tools": [done]}),
            groq_chunk({"executed_tools": [code]}),
            groq_chunk({"content": "+3°C"}),
            groq_chunk({}, "stop"),
            b"data: [DONE]\n\n",
        ]
    )
    events = every_split_is_the_same(OpenAIChatDecoder, data)
    assert tools_only(events) == [
        ProviderToolCall(None, "search", {"query": "погода Київ"}),
        ProviderToolResult(
            None, "search", {"output": SEARCH_OUTPUT, "search_results": {"results": []}}
        ),
        ProviderToolCall(None, "python", {"code": "print(1)"}),
        ProviderToolResult(None, "python", {"output": "1\n"}),
    ]
    assert TextDelta("+3°C") in events and events[-1] == Finished("stop", "stop")


@pytest.mark.parametrize(
    "tools",
    [
        {"index": 0},
        ["search"],
        [{"index": "0", "type": "search", "arguments": "{}"}],
        [{"index": 0, "type": 5, "arguments": "{}"}],
        [{"index": 0, "type": "search", "arguments": {"query": "q"}}],
    ],
)
def test_wrongly_shaped_executed_tools_are_protocol_errors(tools: Any) -> None:
    events = decode(
        OpenAIChatDecoder,
        groq_chunk({"content": "kept"}) + groq_chunk({"executed_tools": tools}),
    )
    assert events[0] == TextDelta("kept")
    assert [e.kind for e in events if isinstance(e, StreamError)] == ["protocol"]


def nested(levels: int) -> Any:
    value: Any = "end"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (
            AnthropicMessagesDecoder,
            anthropic_event(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {
                        "type": "web_search_tool_result",
                        "tool_use_id": "s",
                        "content": nested(200),
                    },
                }
            ),
        ),
        (
            GeminiStreamDecoder,
            b"".join(
                gemini_events(
                    parts=[
                        {
                            "toolResponse": {
                                "toolType": "URL_CONTEXT",
                                "response": {"r": nested(200)},
                            }
                        }
                    ]
                )
            ),
        ),
        (
            OpenAIChatDecoder,
            groq_chunk({"executed_tools": [{"index": 0, "type": "search", "output": nested(200)}]}),
        ),
    ],
    ids=["anthropic", "gemini", "groq"],
)
def test_provider_tool_results_nested_too_deeply_are_protocol_errors(
    make: Callable[[], StreamDecoder], data: bytes
) -> None:
    """As deep as tool arguments may be (128 levels) and no deeper: the cache
    and the web encoders stop at 255."""
    errors = [e for e in decode(make, data) if isinstance(e, StreamError)]
    assert [e.kind for e in errors] == ["protocol"]
    assert "nested at most 128 levels" in errors[0].message
    assert not any(isinstance(e, ProviderToolResult) for e in decode(make, data))
