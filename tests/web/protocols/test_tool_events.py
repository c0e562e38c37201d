"""Tool results and tools the provider ran itself, as each protocol names them,
read by the protocols' own clients: the `ai` package's UI message stream
reader (`tool-output-available`, `tool-output-error`, `providerExecuted`),
the `ag-ui-protocol` types (`TOOL_CALL_RESULT`), and our own SSE route's
opt-in events. The agents' tool loop produces these events; here the
encoders get them as that loop will hand them over, and the bytes go to the
clients over real HTTP. Issue 17."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from laraflowai.broadcast.sources import DETAILS, detail_payload
from laraflowai.web.ag_ui import AGUIEvents
from laraflowai.web.sse import EventStreamResponse
from laraflowai.web.ui_stream import UI_STREAM_HEADERS, UIMessageStream
from laraflowai.wire import (
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from tests.web.servers import AppServer

from .node import run_node
from .test_ag_ui import EVENT, check_well_formed
from .test_ui_stream import CONVERSATION

# One answer of a tool loop: text, a tool call and its result, a web search the
# provider ran, a call (without an id) whose tool failed, then the answer.
LOOP: list[Any] = [
    TextDelta("Let me look."),
    ToolCall(0, "call_1", "lookup", {"name": "Ada"}),
    ToolResult("call_1", "lookup", "Ada Lovelace, born 1815"),
    ProviderToolCall("srvtoolu_1", "web_search", {"query": "Ada Lovelace"}),
    ProviderToolResult("srvtoolu_1", "web_search", [{"url": "https://example.com/ada"}]),
    ToolCall(1, None, "count", {"what": "papers"}),
    ToolResult(None, "count", "the archive is offline", is_error=True),
    TextDelta("She was born "),
    TextDelta("in 1815."),
    Finished("stop"),
    Usage(input_tokens=50, output_tokens=20, total_tokens=70),
]


async def frames(encoder: Any, events: Sequence[Any]) -> AsyncIterator[bytes]:
    yield encoder.start()
    for event in events:
        frame = encoder.feed(event)
        if frame:
            yield frame
    yield encoder.end()


@pytest.fixture
def loop_app() -> Iterator[AppServer]:
    async def ui(request: Request) -> Response:
        await request.body()
        return EventStreamResponse(
            frames(UIMessageStream("msg-loop"), LOOP), headers=UI_STREAM_HEADERS
        )

    async def ag_ui(request: Request) -> Response:
        await request.body()
        return EventStreamResponse(frames(AGUIEvents("thread-1", "run-1"), LOOP))

    app = AppServer(
        Starlette(routes=[Route("/api/chat", ui, methods=["POST"]),
                          Route("/api/ag-ui", ag_ui, methods=["POST"])])
    ).start()  # fmt: skip
    yield app
    app.stop()


def test_the_ai_package_reads_tool_results_and_provider_run_tools(
    loop_app: AppServer, js_clients: Path
) -> None:
    read = run_node(
        js_clients, "read_ui_stream.mjs", f"{loop_app.url}/api/chat", json.dumps(CONVERSATION)
    )

    assert read["errors"] == []
    parts = read["message"]["parts"]
    tools = [part for part in parts if part["type"] == "dynamic-tool"]
    assert tools == [
        {
            "type": "dynamic-tool",
            "toolName": "lookup",
            "toolCallId": "call_1",
            "state": "output-available",
            "input": {"name": "Ada"},
            "output": "Ada Lovelace, born 1815",
        },
        {
            "type": "dynamic-tool",
            "toolName": "web_search",
            "toolCallId": "srvtoolu_1",
            "state": "output-available",
            "input": {"query": "Ada Lovelace"},
            "output": [{"url": "https://example.com/ada"}],
            "providerExecuted": True,
        },
        {
            "type": "dynamic-tool",
            "toolName": "count",
            "toolCallId": "call-msg-loop-2",
            "state": "output-error",
            "input": {"what": "papers"},
            "errorText": "the archive is offline",
        },
    ]
    texts = [part["text"] for part in parts if part["type"] == "text"]
    assert texts == ["Let me look.", "She was born in 1815."]
    # A model call per step: the provider's own tool runs inside one.
    assert [part["type"] for part in parts] == [
        "step-start", "text", "dynamic-tool",
        "step-start", "dynamic-tool", "dynamic-tool",
        "step-start", "text",
    ]  # fmt: skip
    assert read["chunks"][-1] == {
        "type": "finish",
        "finishReason": "stop",
        "messageMetadata": {"usage": {"inputTokens": 50, "outputTokens": 20, "totalTokens": 70}},
    }


def test_every_ag_ui_event_of_a_tool_loop_validates_and_results_follow_their_calls(
    loop_app: AppServer,
) -> None:
    events = []
    with httpx2.stream("POST", f"{loop_app.url}/api/ag-ui", json={}, timeout=10) as reply:
        for line in reply.iter_lines():
            if line.startswith("data: "):
                event = EVENT.validate_json(line[6:])
                assert not event.model_extra
                events.append(event)

    check_well_formed(events)
    results = [e for e in events if e.type == "TOOL_CALL_RESULT"]
    assert [(r.tool_call_id, r.content, r.role) for r in results] == [
        ("call_1", "Ada Lovelace, born 1815", "tool"),
        ("srvtoolu_1", '[{"url":"https://example.com/ada"}]', "tool"),
        ("run-1-call-2", "the archive is offline", "tool"),
    ]
    starts = [e.tool_call_name for e in events if e.type == "TOOL_CALL_START"]
    assert starts == ["lookup", "web_search", "count"]


def test_our_sse_routes_detail_events_name_each_kind_of_tool_event() -> None:
    payloads = [detail_payload(event, DETAILS) for event in LOOP]
    assert [p for p in payloads if p is not None] == [
        {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"name": "Ada"}},
        {
            "type": "tool_result",
            "id": "call_1",
            "name": "lookup",
            "output": "Ada Lovelace, born 1815",
            "is_error": False,
        },
        {
            "type": "provider_tool_call",
            "id": "srvtoolu_1",
            "name": "web_search",
            "arguments": {"query": "Ada Lovelace"},
        },
        {
            "type": "provider_tool_result",
            "id": "srvtoolu_1",
            "name": "web_search",
            "result": [{"url": "https://example.com/ada"}],
            "is_error": False,
        },
        {"type": "tool_call", "id": None, "name": "count", "arguments": {"what": "papers"}},
        {
            "type": "tool_result",
            "id": None,
            "name": "count",
            "output": "the archive is offline",
            "is_error": True,
        },
    ]
    assert [detail_payload(event, frozenset({"reasoning"})) for event in LOOP[1:7]] == [None] * 6
