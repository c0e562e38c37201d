"""The document's WebSocket route on the Pusher protocol: the real pusher-js
client against the builtin server, and the `pusher` driver against a loopback
stand-in of Pusher's HTTP API that checks every signature."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from laraflowai import ConfigurationError, Settings
from laraflowai.web import create_app
from tests.pusher.conftest import BUILTIN, KEY, SECRET
from tests.pusher.fake_pusher import FakePusher
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply
from tests.web.conftest import BASE_ENV
from tests.web.servers import AppServer, read_sse

USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_pusher_js_authorises_a_private_channel_and_receives_the_document_s_events(
    server: ProviderServer, serve: Callable[..., AppServer], listen: Any
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello", ", wor", "ld \u2728"], usage=USAGE)))
    app = serve(BUILTIN)
    channel = "private-laraflowai.chat-1"
    listener = listen(KEY, "127.0.0.1", str(app.port), channel, f"{app.url}/broadcasting/auth")
    listener.wait_for("subscribed")

    started = httpx2.post(
        f"{app.url}/api/stream-chat-websocket", json={"task": "Say hello", "channel": "chat-1"}
    )
    assert started.status_code == 200
    body = started.json()
    assert body["status"] == "started" and body["channel"] == channel
    stream_id = body["stream_id"]

    events = listener.events()
    names = [event["name"] for event in events]
    assert names == ["start", "chunk", "chunk", "chunk", "complete"]
    chunks = [event["data"] for event in events if event["name"] == "chunk"]
    assert [chunk["chunk"] for chunk in chunks] == ["Hello", ", wor", "ld \u2728"]
    assert all(ISO.match(chunk["timestamp"]) for chunk in chunks)
    assert [event["data"]["id"] for event in events] == [f"{stream_id}-{n}" for n in range(5)]
    complete = events[-1]["data"]
    assert complete["message"] == "Streaming completed"
    assert complete["finish_reason"] == "stop"
    assert complete["usage"] == {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}


def test_a_subscription_with_a_bad_signature_is_refused(
    serve: Callable[..., AppServer], listen: Any
) -> None:
    app = serve(BUILTIN)
    listener = listen(KEY, "127.0.0.1", str(app.port), "private-laraflowai.chat-2",
                      f"{app.url}/broadcasting/auth", "bad-signature")  # fmt: skip
    error = listener.wait_for("connection_error")
    assert error["error"]["code"] == 4009
    assert "invalid signature" in error["error"]["message"]
    assert not any(item["type"] == "subscribed" for item in listener.seen)


def test_a_websocket_stream_is_an_sse_stream_too_and_stop_ends_it_for_pusher_js(
    server: ProviderServer, serve: Callable[..., AppServer], listen: Any
) -> None:
    events = openai_chunks(["Partial ", "answer"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    app = serve(BUILTIN)
    channel = "private-laraflowai.chat-3"
    listener = listen(KEY, "127.0.0.1", str(app.port), channel, f"{app.url}/broadcasting/auth")
    listener.wait_for("subscribed")
    stream_id = httpx2.post(
        f"{app.url}/api/stream-chat-websocket", json={"task": "Go", "channel": "chat-3"}
    ).json()["stream_id"]
    while sum(i["type"] == "event" and i["name"] == "chunk" for i in listener.seen) < 2:
        listener.wait_for("event")

    stopped = httpx2.post(f"{app.url}/api/stream-chat/{stream_id}/stop")
    assert stopped.json()["status"] == "stopped"
    assert server.wait_for_disconnect(0, timeout=2.0), "the provider request is still open"
    assert listener.events()[-1]["data"]["stopped"] is True

    with httpx2.Client(timeout=10) as client:
        followed = read_sse(client, f"{app.url}/api/stream-chat", params={"stream_id": stream_id})
    assert [p.get("chunk") for p in followed.payloads[1:-1]] == ["Partial ", "answer"]


def test_the_auth_route_signs_only_this_app_s_channels_and_follows_the_token(
    serve: Callable[..., AppServer],
) -> None:
    app = serve({**BUILTIN, "LARAFLOWAI_API_TOKEN": "tok-123456789"}, allowed_hosts=["*"])
    url = f"{app.url}/broadcasting/auth"
    form = {"socket_id": "123.456", "channel_name": "private-laraflowai.chat"}
    assert httpx2.post(url, data=form).status_code == 401
    headers = {"Authorization": "Bearer tok-123456789"}
    signed = httpx2.post(url, data=form, headers=headers)
    assert signed.status_code == 200
    import hashlib
    import hmac

    digest = hmac.new(SECRET.encode(), b"123.456:private-laraflowai.chat", hashlib.sha256)
    assert signed.json() == {"auth": f"{KEY}:{digest.hexdigest()}"}
    other = httpx2.post(url, data={**form, "channel_name": "private-other.chat"}, headers=headers)
    assert other.status_code == 403
    bad = httpx2.post(url, data={**form, "socket_id": "abc"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "socket_id"


def test_enabled_without_credentials_refuses_to_start_naming_the_variables() -> None:
    settings = Settings.from_env({**BASE_ENV, **BUILTIN, "PUSHER_APP_KEY": KEY})
    with pytest.raises(ConfigurationError, match="PUSHER_APP_ID, PUSHER_APP_SECRET"):
        create_app(settings)


def test_the_pusher_driver_triggers_signed_batched_events_in_the_document_s_shapes(
    server: ProviderServer, serve: Callable[..., AppServer]
) -> None:
    fake = FakePusher(app_id="1", key=KEY, secret=SECRET)
    pusher = AppServer(fake.app()).start()
    try:
        pieces = [f"w{n} " for n in range(40)]
        server.enqueue(stream_reply(openai_chunks(pieces, usage=USAGE)))
        app = serve({
            "LARAFLOWAI_WEBSOCKET_ENABLED": "true", "LARAFLOWAI_WEBSOCKET_DRIVER": "pusher",
            "PUSHER_HOST": "127.0.0.1", "PUSHER_PORT": str(pusher.port), "PUSHER_SCHEME": "http",
        })  # fmt: skip
        body = httpx2.post(
            f"{app.url}/api/stream-chat-websocket", json={"task": "Count", "channel": "room"}
        ).json()
        assert body["channel"] == "private-laraflowai.room"
        for _ in range(200):
            if fake.events and fake.events[-1]["name"] == "complete":
                break
            import time

            time.sleep(0.02)
    finally:
        pusher.stop()
    assert fake.refused == []
    assert {event["channel"] for event in fake.events} == {"private-laraflowai.room"}
    data = [json.loads(event["data"]) for event in fake.events]
    assert [event["name"] for event in fake.events] == ["start"] + ["chunk"] * 40 + ["complete"]
    assert "".join(d["chunk"] for d in data[1:-1]) == "".join(pieces)
    assert data[-1]["message"] == "Streaming completed" and data[-1]["usage"]["total_tokens"] == 12
    assert len(fake.requests) < len(fake.events)  # batched, not one call per token
