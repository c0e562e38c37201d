"""The SSE route speaks the document's protocol, with ids, retry and keep-alive,
checked with a real SSE client against the app on a loopback port."""

from __future__ import annotations

from typing import Any

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


def test_middleware_added_to_the_app_sees_every_frame(
    server: ProviderServer, client: httpx2.Client
) -> None:
    """create_app's SSE frames skip Starlette's own wrappers of `send`; a
    middleware the user adds wraps it too, and must still see every byte."""
    from laraflowai import Settings
    from laraflowai.web import create_app
    from tests.conftest import API_KEY

    from .conftest import BASE_ENV
    from .servers import AppServer

    seen: list[bytes] = []

    class BodyRecorder:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def recording(message: Any) -> None:
                if message["type"] == "http.response.body":
                    seen.append(message.get("body", b""))
                await send(message)

            await self.app(scope, receive, recording)

    server.enqueue(stream_reply(openai_chunks(["Hello", ", wor", "ld"], usage=USAGE)))
    app = create_app(
        Settings.from_env(BASE_ENV),
        provider="openai",
        base_url=f"{server.url}/v1",
        api_key=API_KEY,
    )
    app.add_middleware(BodyRecorder)
    served = AppServer(app).start()
    try:
        received = read_sse(client, f"{served.url}/api/stream-chat", params={"task": "Hi"})
    finally:
        served.stop()
    assert [payload["type"] for payload in received.payloads] == [
        "start", "chunk", "chunk", "chunk", "complete",
    ]  # fmt: skip
    body = b"".join(seen).decode()
    assert body.count("\ndata: ") == 5 and '"chunk":"ld"' in body
