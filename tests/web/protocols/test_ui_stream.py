"""The Vercel AI SDK UI message stream at POST /api/chat, read in Node by the
`ai` package's own transport (what `useChat` sends and parses) and its own
`readUIMessageStream`. Issue 17."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from laraflowai import Finished, ReasoningDelta, TextDelta, ToolCall, Usage
from laraflowai.web.ui_stream import UIMessageStream
from tests.conftest import API_KEY
from tests.servers import (
    Hang,
    ProviderServer,
    in_stream_error,
    openai_chunks,
    sse_data,
    stream_reply,
)

from .conftest import ServeProtocols
from .node import run_node

USAGE = {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}
CONVERSATION = [
    {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "My name is Ada."}]},
    {
        "id": "a1",
        "role": "assistant",
        "parts": [{"type": "step-start"}, {"type": "text", "text": "Hello, Ada!", "state": "done"}],
    },
    {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "Look me up."}]},
]


def reasoning_text_and_tool_call() -> list[bytes]:
    """DeepSeek-style: reasoning, answer text, one tool call, usage."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse_data({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})

    call = {"index": 0, "id": "call_1", "type": "function"}
    return [
        chunk({"role": "assistant", "content": None, "reasoning_content": "Let me "}),
        chunk({"content": None, "reasoning_content": "check."}),
        chunk({"content": "Looking "}),
        chunk({"content": "it up."}),
        chunk({"tool_calls": [{**call, "function": {"name": "lookup", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"name": "Ada"}'}}]}),
        chunk({}, "tool_calls"),
        sse_data({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": USAGE}),
        b"data: [DONE]\n\n",
    ]


def test_the_ai_package_reads_reasoning_text_and_a_tool_call_into_one_ui_message(
    server: ProviderServer, serve_protocols: ServeProtocols, js_clients: Path
) -> None:
    server.enqueue(stream_reply(reasoning_text_and_tool_call()))
    app = serve_protocols(provider="deepseek")

    read = run_node(
        js_clients, "read_ui_stream.mjs", f"{app.url}/api/chat", json.dumps(CONVERSATION)
    )

    assert read["errors"] == []
    message = read["message"]
    assert message["role"] == "assistant" and message["id"].startswith("msg-")
    assert message["parts"] == [
        {"type": "step-start"},
        {"type": "reasoning", "id": "reasoning-0", "text": "Let me check.", "state": "done"},
        {"type": "text", "text": "Looking it up.", "state": "done"},
        {
            "type": "dynamic-tool",
            "toolName": "lookup",
            "toolCallId": "call_1",
            "state": "input-available",
            "input": {"name": "Ada"},
        },
    ]
    assert message["metadata"] == {
        "usage": {"inputTokens": 40, "outputTokens": 12, "totalTokens": 52}
    }
    assert [chunk["type"] for chunk in read["chunks"]] == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "tool-input-available",
        "finish-step",
        "finish",
    ]
    assert read["chunks"][-1]["finishReason"] == "tool-calls"
    assert [m["content"] for m in server.requests[0].json()["messages"][1:]] == [
        "My name is Ada.",
        "Hello, Ada!",
        "Look me up.",
    ]


def test_a_failure_reaches_the_ai_package_as_a_safe_error_after_the_partial_text(
    server: ProviderServer, serve_protocols: ServeProtocols, js_clients: Path
) -> None:
    events = openai_chunks(["Partial "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply([*events, in_stream_error(f"{API_KEY} at {server.url}")]))
    app = serve_protocols()

    read = run_node(
        js_clients, "read_ui_stream.mjs", f"{app.url}/api/chat", json.dumps(CONVERSATION)
    )

    assert read["errors"] == ["The answer could not be completed."]
    assert read["message"]["parts"][-1] == {"type": "text", "text": "Partial ", "state": "done"}
    assert read["chunks"][-1] == {
        "type": "error",
        "errorText": "The answer could not be completed.",
    }
    assert API_KEY not in json.dumps(read) and server.url not in json.dumps(read)


def test_the_stream_carries_the_protocol_header_and_ends_with_done(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hi"])))
    app = serve_protocols()
    reply = httpx2.post(f"{app.url}/api/chat", json={"id": "c", "messages": CONVERSATION[:1]})
    assert reply.status_code == 200
    assert reply.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.text.endswith('data: {"type":"finish","finishReason":"stop"}\n\ndata: [DONE]\n\n')


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": []}, "at least one user message"),
        ({"messages": CONVERSATION[:2]}, "the last of messages must be the user's"),
        ({"messages": [{"role": "tool", "parts": []}]}, "role must be system, user or assistant"),
        ({"messages": [{"role": "user", "parts": [{"type": "text", "text": " "}]}]}, "required"),
        ({"messages": "hi"}, "messages must be a list"),
    ],
)
def test_bad_input_is_a_400_before_any_provider_request(
    server: ProviderServer, serve_protocols: ServeProtocols, body: Any, words: str
) -> None:
    app = serve_protocols()
    reply = httpx2.post(f"{app.url}/api/chat", json=body)
    assert reply.status_code == 400
    assert words in reply.json()["error"]["message"]
    assert server.request_count == 0


def test_the_route_follows_the_api_token_and_the_origin_rules(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    app = serve_protocols(token="s3cret-token-value")
    body = {"messages": CONVERSATION[:1]}
    assert httpx2.post(f"{app.url}/api/chat", json=body).status_code == 401
    evil = {"Authorization": "Bearer s3cret-token-value", "Origin": "https://evil.example"}
    assert httpx2.post(f"{app.url}/api/chat", json=body, headers=evil).status_code == 403
    assert server.request_count == 0


def test_a_client_that_disconnects_closes_the_provider_request(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    events = openai_chunks(["Thinking "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    app = serve_protocols()
    with (
        httpx2.Client(timeout=5) as client,
        client.stream("POST", f"{app.url}/api/chat", json={"messages": CONVERSATION}) as reply,
    ):
        lines = reply.iter_lines()
        while "text-delta" not in next(lines):
            pass
        assert not server.exchange(0).client_closed
    assert server.wait_for_disconnect(0, timeout=2.0), "the provider request is still open"


def test_the_encoder_opens_and_closes_blocks_around_each_kind_of_event() -> None:
    encoder = UIMessageStream("msg-1")
    frames = [
        encoder.start(),
        encoder.feed(TextDelta("a")),
        encoder.feed(ReasoningDelta("r")),
        encoder.feed(TextDelta('"b"\n')),
        encoder.feed(ToolCall(0, None, "f", {})),
        encoder.feed(Usage(1, 2, 3)),
        encoder.feed(Finished("length")),
        encoder.end(),
    ]
    chunks = [
        json.loads(line[6:])
        for line in b"".join(frames).decode().split("\n\n")
        if line and line != "data: [DONE]"
    ]
    assert chunks == [
        {"type": "start", "messageId": "msg-1"},
        {"type": "start-step"},
        {"type": "text-start", "id": "text-0"},
        {"type": "text-delta", "id": "text-0", "delta": "a"},
        {"type": "text-end", "id": "text-0"},
        {"type": "reasoning-start", "id": "reasoning-1"},
        {"type": "reasoning-delta", "id": "reasoning-1", "delta": "r"},
        {"type": "reasoning-end", "id": "reasoning-1"},
        {"type": "text-start", "id": "text-2"},
        {"type": "text-delta", "id": "text-2", "delta": '"b"\n'},
        {"type": "text-end", "id": "text-2"},
        {
            "type": "tool-input-available",
            "toolCallId": "call-msg-1-0",
            "toolName": "f",
            "input": {},
            "dynamic": True,
        },
        {"type": "finish-step"},
        {
            "type": "finish",
            "finishReason": "length",
            "messageMetadata": {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}},
        },
    ]
    assert b"".join(frames).endswith(b"data: [DONE]\n\n")


def test_the_next_turn_sends_the_read_message_back_and_its_text_becomes_history(
    server: ProviderServer, serve_protocols: ServeProtocols, js_clients: Path
) -> None:
    server.enqueue(
        stream_reply(reasoning_text_and_tool_call()),
        stream_reply(openai_chunks(["You're welcome."])),
    )
    app = serve_protocols(provider="deepseek")
    url = f"{app.url}/api/chat"
    first = run_node(js_clients, "read_ui_stream.mjs", url, json.dumps(CONVERSATION))
    thanks = {"id": "u3", "role": "user", "parts": [{"type": "text", "text": "Thanks!"}]}

    second = run_node(
        js_clients, "read_ui_stream.mjs", url, json.dumps([*CONVERSATION, first["message"], thanks])
    )

    assert second["message"]["parts"][-1]["text"] == "You're welcome."
    assert [m["content"] for m in server.requests[1].json()["messages"][1:]] == [
        "My name is Ada.",
        "Hello, Ada!",
        "Look me up.",
        "Looking it up.",
        "Thanks!",
    ]
