"""The SSE route speaks the document's protocol, with ids, retry and keep-alive,
checked with a real SSE client against the app on a loopback port."""

from __future__ import annotations

import httpx2

from tests.servers import ProviderServer, Sleep, openai_chunks, stream_reply

from .conftest import ServeApp
from .servers import read_sse

USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def test_stream_chat_sends_start_chunks_and_complete_with_ids_and_retry(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello", ", wor", "ld \u2728"], usage=USAGE)))
    app = serve_app()

    received = read_sse(client, f"{app.url}/api/stream-chat", params={"task": "Say hello"})

    assert received.status == 200
    headers = received.headers
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["connection"] == "keep-alive"
    assert headers["x-accel-buffering"] == "no"
    assert received.retry == 1500
    stream_id = headers["x-stream-id"]
    assert received.payloads == [
        {
            "type": "start",
            "stream_id": stream_id,
            "agent": "Chat Assistant",
            "provider": "openai",
            "model": "gpt-4o-mini",
        },
        {"type": "chunk", "chunk": "Hello"},
        {"type": "chunk", "chunk": ", wor"},
        {"type": "chunk", "chunk": "ld \u2728"},
        {
            "type": "complete",
            "finish_reason": "stop",
            "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        },
    ]
    assert [event.id for event in received.events] == [f"{stream_id}-{n}" for n in range(5)]
    assert {event.event for event in received.events} == {"message"}  # unnamed: onmessage
    sent = server.requests[0].json()
    assert sent["messages"][0]["content"] == "You are Chat Assistant. Your goal: Help users."
    assert sent["messages"][1]["content"] == "Say hello"


def test_role_goal_and_model_come_from_the_query(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(["ok"])))
    app = serve_app()
    params = {
        "task": "Go",
        "role": "Poet",
        "goal": "Rhyme",
        "model": "gpt-4.1",
        "provider": "openai",
    }
    received = read_sse(client, f"{app.url}/api/stream-chat", params=params)
    assert received.payloads[0]["agent"] == "Poet"
    assert received.payloads[0]["model"] == "gpt-4.1"
    sent = server.requests[0].json()
    assert sent["model"] == "gpt-4.1"
    assert sent["messages"][0]["content"] == "You are Poet. Your goal: Rhyme."


def test_keep_alive_comments_flow_while_the_model_is_silent(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    events = openai_chunks(["before", "after"])
    server.enqueue(stream_reply(events[:1], then=[Sleep(1.0), *stream_reply(events[1:]).steps]))
    app = serve_app({"LARAFLOWAI_SSE_KEEP_ALIVE": "0.2"})

    received = read_sse(client, f"{app.url}/api/stream-chat", params={"task": "Go"})

    kinds = [
        item if isinstance(item, str) else item.json().get("chunk", item.json()["type"])
        for item in received.items
    ]
    first, second = kinds.index("before"), kinds.index("after")
    during_stall = kinds[first + 1 : second]
    assert len(during_stall) >= 3
    assert set(during_stall) == {"keep-alive"}
    assert kinds[0] == "start" and kinds[-1] == "complete"
