"""Every decoder against streams the providers really sent (recorded by other
projects' test suites: tests/fixtures/wire/README.md says which), fed whole and
split at random points and inside every multi-byte UTF-8 character, giving
exactly the expected events.

https://github.com/laraflowai/laraflowai/issues/16
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from laraflowai.wire import (
    Event,
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    ReasoningSignature,
    StreamDecoder,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from laraflowai.wire.anthropic import AnthropicMessagesDecoder
from laraflowai.wire.gemini import GeminiStreamDecoder
from laraflowai.wire.ollama import OllamaChatDecoder
from laraflowai.wire.openai import OpenAIChatDecoder
from tests.wire.typed import check_typed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wire"

GEMINI_THOUGHT = (
    "**Analyzing Weather Request**\n\nI've determined the user wants the weather in Florence,"
    ' Italy. The "weather" tool is appropriate, requiring a location. I\'ll pass "Florence,'
    ' Italy" as the location argument to retrieve the information.\n\n\n'
)
GEMINI_TRACEBACK = (
    "division by zero\nTraceback (most recent call last):\n"
    '  File "/usr/bin/entry/entry_point", line 109, in _run_python\n'
    "    exec(code, exec_scope)  # pylint: disable=exec-used\n"
    "    ^^^^^^^^^^^^^^^^^^^^^^\n"
    '  File "<string>", line 2, in <module>\n'
    "ZeroDivisionError: division by zero\n"
)
CODE_RESULT = {
    "type": "code_execution_result",
    "stderr": "",
    "return_code": 0,
    "content": [],
    "abort_reason": None,
}
OPENAI_CALL = "call_eOpGKcIP7rzEsLNRtEm9K6mx"
FETCH = "srvtoolu_01J1EKYpi3LLtWHmtZnY1gto"
MCP = "mcptoolu_017CuqaJcXe5ZHJjaz3KS1AT"
WEATHER = "toolu_0171KFcBwn1Z64XzvQfz3sZS"
# The recordings' reasoning signatures, opaque; a tool loop sends them back.
ANTHROPIC_SIGNATURE = (
    "EsQDCkYICBgCKkBr9+FTcKs+la0OlmRVB4HF/bTERKj+hr9pp9uxwdet2/P99iNZh/vwxm7Cd5wrZD0FnPkUz3DEqX"
    "v+ZoIL2fAoEgxOEzQepAptMFJiFJcaDM2L2wJzGec9170N1SIwHhl0DW0hXYbwHTRAR6w9biU0HwUh00oLghjeBusi"
    "v40ctsJB4tO/WyOR2f0iH7pZKqsC3UTE2b7nqQUmYP8dEDfnfNdbr24zEaWiZ2QMbwv9ZrwtUy0Wo/ot3n9JMpocHU"
    "SwtyKzB4GsMsgr/xtGEl9541AMSFhR1G8y3Ffn22e6pXV7dakwU/vxcBTvdwfBplrBxxJ1zT/ieuQUrdemKCRZS4QV"
    "maVijUpYQMaQF7iCJJPKYI+wBhxT0y0yOoVqORKg2AuRmbkTpMfKZJ5xRBLAeydMhloeKfYswDDisWIChmJlclIro0"
    "Jr80OhpohTcQGayY4fjn0A/ir+9PYzLzjGitR3a+/lfHvuTmPC9AnWv3Sp87mddUuJ10jqO9QWXNTnAVdehLiN/heJ"
    "VjOMkXCstWLVUycEgnfwXEqlNMMFuRAfOwTte0Ls9qHkl3Fzo8ompJiqxF879rSwcSEYAQ=="
)
GEMINI_SIGNATURE = (
    "CiQB0e2Kb6DT1heRPFG6z9Ix2zCxLHgAf41g/zMeYwdVX0LU79MKZwHR7YpvF6o2OSX1/LIKH5h310x+BUuKnBVHqM"
    "ILmM0sxwbqc9mkee/o2Ylfor4Wh0l4dPZ37nrUZ7D3gCJdk9vyxoXVmn0iRx1jnuA9My/7/gEovP8fzIs0fi4G/DZD"
    "LCI+A8ICsHwK3gEB0e2Kb8FjikH4HmeiWgdzIS42mSil6ZSEyVqloLwhQ25vcVGnQLGTMFunfmwSUy3DDRTzvgj0kb"
    "cLEw2f1YMxY7S6j7LbZcCls1eB9yT7bdIGiRrq+S9gfxSy87iwOveeim1A3yQtsrkonV3cZj4a/MEAZ17IP7BZubf/"
    "Wube7iBqhWU6fcCZE40juF2QmjtAkMJDMeoJGyqcERPLSDLr1ceruHN9s2Pe5KQCT5yHb1r24mWIQMwEIbMlevmq9V"
    "KLKMZJnSEhfk0GDN/VPGsFhIC7WRUAFctUWkgIeNk="
)

EXPECTED: dict[str, tuple[Callable[[], StreamDecoder], list[Event]]] = {
    "openai/recorded_tool_call.sse": (
        OpenAIChatDecoder,
        [
            ToolCallDelta(0, OPENAI_CALL, "weather", ""),
            *[
                ToolCallDelta(0, None, None, piece)
                for piece in ['{"', "location", '":"', "Flor", "ence", ",", " Italy", '"}']
            ],
            ToolCall(0, OPENAI_CALL, "weather", {"location": "Florence, Italy"}),
            Usage(61, 16, 77, 0, 0),
            Finished("tool_calls", "tool_calls"),
        ],
    ),
    "openai/recorded_text_usage.sse": (
        OpenAIChatDecoder,
        [
            *[
                TextDelta(piece)
                for piece in [
                    "The",
                    " weather",
                    " in",
                    " Florence",
                    ",",
                    " Italy",
                    " is",
                    " currently",
                    " ",
                    "40",
                    "\u00b0C",
                    ".",
                ]
            ],
            Usage(86, 13, 99, 0, 0),
            Finished("stop", "stop"),
        ],
    ),
    "anthropic/recorded_thinking_tool_use.sse": (
        AnthropicMessagesDecoder,
        [
            Usage(423, 6, 429, None, 0),
            ReasoningDelta("The user is asking for"),
            ReasoningDelta(" weather information for Florence, Italy. I have"),
            ReasoningDelta(' access to a weather function that takes a "location" parameter. The'),
            ReasoningDelta(' user has provided the location as "Florence,'),
            ReasoningDelta(' Italy" which is clear and specific. I have'),
            ReasoningDelta(" all the required parameters to make this function call."),
            ReasoningSignature(ANTHROPIC_SIGNATURE),
            ToolCallDelta(1, WEATHER, "weather", ""),
            *[
                ToolCallDelta(1, None, None, piece)
                for piece in ['{"location', '": "F', "lo", "rence, I", "taly", '"}']
            ],
            ToolCall(1, WEATHER, "weather", {"location": "Florence, Italy"}),
            Usage(423, 119, 542, None, 0),
            Finished("tool_calls", "tool_use"),
        ],
    ),
    "anthropic/recorded_text.sse": (
        AnthropicMessagesDecoder,
        [
            Usage(557, 2, 559, None, 0),
            TextDelta("The current"),
            TextDelta(" weather in Florence, Italy is 40\u00b0C (104\u00b0F)."),
            TextDelta(" That's quite hot! It appears"),
            TextDelta(" to be a very warm day there"),
            TextDelta("."),
            Usage(557, 35, 592, None, 0),
            Finished("stop", "end_turn"),
        ],
    ),
    "anthropic/message_start_with_content.sse": (
        AnthropicMessagesDecoder,
        [
            ProviderToolResult(
                "srvtoolu_result_1",
                "code_execution",
                {"stdout": "First concise code execution output\n", **CODE_RESULT},
            ),
            ProviderToolResult(
                "srvtoolu_result_2",
                "code_execution",
                {"stdout": "Second concise code execution output\n", **CODE_RESULT},
            ),
            ToolCallDelta(2, "toolu_followup", "lookup_customer", ""),
            ToolCallDelta(2, None, None, '{"id": "customer_123"}'),
            ToolCall(2, "toolu_followup", "lookup_customer", {"id": "customer_123"}),
            Usage(0, 0, 0, None, None),
            Finished("tool_calls", "tool_use"),
        ],
    ),
    "anthropic/web_fetch_error_then_tool_use.sse": (
        AnthropicMessagesDecoder,
        [
            Usage(1186, 3, 1189, None, 0),
            TextDelta("I'll follow"),
            TextDelta(
                " these steps in order.\n\nStep 1: Calling web_fetch on"
                " https://httpbin.org/status/500"
            ),
            ProviderToolCall(FETCH, "web_fetch", {"url": "https://httpbin.org/status/500"}),
            ProviderToolResult(
                FETCH,
                "web_fetch",
                {"type": "web_fetch_tool_result_error", "error_code": "url_not_accessible"},
                is_error=True,
            ),
            TextDelta("Step"),
            TextDelta(" 2: web_fetch has returned (with an error, but it"),
            TextDelta(" has completed).\n\nStep 3: Now calling display_products"),
            ToolCallDelta(4, "toolu_01FUuDcCDweLziH8QvQFQLtV", "display_products", ""),
            ToolCall(4, "toolu_01FUuDcCDweLziH8QvQFQLtV", "display_products", {}),
            Usage(2509, 158, 2667, None, 0),
            Finished("tool_calls", "tool_use"),
        ],
    ),
    "anthropic/mcp_tool.sse": (
        AnthropicMessagesDecoder,
        [
            Usage(589, 1, 590, None, 0),
            ProviderToolCall(MCP, "echo", {"message": "hello world"}),
            ProviderToolResult(MCP, "echo", [{"type": "text", "text": "Tool echo: hello world"}]),
            TextDelta("The echo tool responde"),
            TextDelta("d back with: **hello world**\n\nIt simply echoed back"),
            TextDelta(" the exact message that was sent to it."),
            Usage(1250, 83, 1333, None, 0),
            Finished("stop", "end_turn"),
        ],
    ),
    "gemini/recorded_thought_function_call.sse": (
        GeminiStreamDecoder,
        [
            ReasoningDelta(GEMINI_THOUGHT),
            Usage(54, 62, 116, 62, None),
            ReasoningSignature(GEMINI_SIGNATURE),
            ToolCallDelta(0, None, "weather", '{"location": "Florence, Italy"}'),
            ToolCall(0, None, "weather", {"location": "Florence, Italy"}),
            Usage(54, 76, 130, 62, None),
            Finished("tool_calls", "STOP"),
        ],
    ),
    "gemini/recorded_text.sse": (
        GeminiStreamDecoder,
        [
            TextDelta("The weather in Florence"),
            Usage(84, 4, 88, None, None),
            TextDelta(", Italy is 40 C."),
            Usage(84, 12, 96, None, None),
            Finished("stop", "STOP"),
        ],
    ),
    "gemini/recorded_code_execution.sse": (
        GeminiStreamDecoder,
        [
            ProviderToolCall(
                None, "code_execution", {"language": "PYTHON", "code": "print('ok')\nprint(1/0)"}
            ),
            ProviderToolResult(None, "code_execution", {"outcome": "OUTCOME_OK", "output": "ok\n"}),
            ProviderToolResult(
                None,
                "code_execution",
                {"outcome": "OUTCOME_FAILED", "output": GEMINI_TRACEBACK},
                is_error=True,
            ),
            TextDelta(
                "The code execution resulted in the following output:\n\n```\nok\n```\n\n"
                "Followed by an error:\n\n```python\nZeroDivisionError: division by zero\n```"
            ),
            Usage(23, 35, 347, None, None),
            Finished("stop", "STOP"),
        ],
    ),
    "ollama/recorded_tool_call.ndjson": (
        OllamaChatDecoder,
        [
            ToolCallDelta(0, None, "run_command", '{"command": "df -h"}'),
            ToolCall(0, None, "run_command", {"command": "df -h"}),
            Usage(155, 81, 236),
            Finished("tool_calls", "stop"),
        ],
    ),
}


def decode(make: Callable[[], StreamDecoder], pieces: list[bytes]) -> list[Event]:
    decoder = make()
    events: list[Event] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.finish()
    check_typed(events)
    assert decoder.complete
    return events


def inside_characters(data: bytes) -> list[int]:
    """Every offset that falls inside a multi-byte UTF-8 character."""
    return [at for at in range(1, len(data)) if data[at] & 0xC0 == 0x80]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_recorded_stream_gives_exactly_the_expected_events(name: str) -> None:
    make, expected = EXPECTED[name]
    assert decode(make, [(FIXTURES / name).read_bytes()]) == expected


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_recorded_stream_split_at_random_points_gives_the_same_events(name: str) -> None:
    make, expected = EXPECTED[name]
    data = (FIXTURES / name).read_bytes()
    rng = random.Random(f"{name}-16")  # seeded: a failure names a reproducible split
    for _ in range(60):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert decode(make, pieces) == expected, cuts


@pytest.mark.parametrize(
    "name", [name for name in EXPECTED if inside_characters((FIXTURES / name).read_bytes())]
)
def test_a_recorded_stream_cut_inside_each_character_gives_the_same_events(name: str) -> None:
    make, expected = EXPECTED[name]
    data = (FIXTURES / name).read_bytes()
    for at in inside_characters(data):
        assert decode(make, [data[:at], data[at:]]) == expected, at
