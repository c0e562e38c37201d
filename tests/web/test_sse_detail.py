"""Reasoning and tool events on our own SSE route, opt-in (`include=` or
LARAFLOWAI_SSE_INCLUDE): the document's events stay the default, and a
detailed answer carries the reasoning and the tool call a real provider
stream holds, between the chunks where they happened. Issue 17."""

from __future__ import annotations

import httpx2
import pytest

from tests.servers import ProviderServer, stream_reply
from tests.web.protocols.test_ui_stream import reasoning_text_and_tool_call

from .conftest import ServeApp
from .servers import read_sse

DETAILED = [
    {"type": "reasoning", "reasoning": "Let me "},
    {"type": "reasoning", "reasoning": "check."},
    {"type": "chunk", "chunk": "Looking "},
    {"type": "chunk", "chunk": "it up."},
    {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"name": "Ada"}},
]
COMPLETE = {
    "type": "complete",
    "finish_reason": "tool_calls",
    "usage": {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52},
}


def test_by_default_only_the_documents_events_are_sent(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(reasoning_text_and_tool_call()))
    app = serve_app(provider="deepseek")

    payloads = read_sse(client, f"{app.url}/api/stream-chat", params={"task": "Who?"}).payloads

    assert [p["type"] for p in payloads] == ["start", "chunk", "chunk", "complete"]
    assert payloads[-1] == COMPLETE


@pytest.mark.parametrize("include", ["reasoning,tools", "all", " Tools , REASONING "])
def test_include_adds_reasoning_and_tool_call_events_in_stream_order(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client, include: str
) -> None:
    server.enqueue(stream_reply(reasoning_text_and_tool_call()))
    app = serve_app(provider="deepseek")

    received = read_sse(
        client, f"{app.url}/api/stream-chat", params={"task": "Who?", "include": include}
    )

    assert received.payloads[1:] == [*DETAILED, COMPLETE]
    ids = [int(event.id.rpartition("-")[2]) for event in received.events]
    assert ids == list(range(len(ids)))  # resumable like every other event


def test_include_reasoning_alone_leaves_the_tool_call_out(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(reasoning_text_and_tool_call()))
    app = serve_app(provider="deepseek")

    payloads = read_sse(
        client, f"{app.url}/api/stream-chat", params={"task": "Who?", "include": "reasoning"}
    ).payloads

    assert [p["type"] for p in payloads] == [
        "start", "reasoning", "reasoning", "chunk", "chunk", "complete",
    ]  # fmt: skip


def test_the_setting_turns_details_on_and_a_request_can_turn_them_off(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(reasoning_text_and_tool_call()))
    server.enqueue(stream_reply(reasoning_text_and_tool_call()))
    app = serve_app({"LARAFLOWAI_SSE_INCLUDE": "reasoning,tools"}, provider="deepseek")
    url = f"{app.url}/api/stream-chat"

    detailed = read_sse(client, url, params={"task": "Who?"}).payloads
    plain = read_sse(client, url, params={"task": "Who?", "include": ""}).payloads

    assert detailed[1:] == [*DETAILED, COMPLETE]
    assert [p["type"] for p in plain] == ["start", "chunk", "chunk", "complete"]


def test_an_unknown_include_is_a_400_before_any_provider_request(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app()
    answer = client.get(
        f"{app.url}/api/stream-chat", params={"task": "Hi", "include": "reasoning,secrets"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "include"
    assert "reasoning, tools" in answer.json()["error"]["message"]
    assert server.request_count == 0


def test_a_malformed_include_setting_is_refused_at_start(serve_app: ServeApp) -> None:
    from laraflowai import ConfigurationError

    with pytest.raises(ConfigurationError, match="LARAFLOWAI_SSE_INCLUDE"):
        serve_app({"LARAFLOWAI_SSE_INCLUDE": "thoughts"})
