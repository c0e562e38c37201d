"""Pusher signatures and the batched HTTP API, checked against the official
`pusher` package and a loopback stand-in that verifies every signature."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from laraflowai import ConfigurationError
from laraflowai.pusher import (
    ChannelPublisher,
    PusherClient,
    PusherCredentials,
    PusherError,
    PusherEvent,
    channel_signature,
)
from tests.conftest import require
from tests.pusher.fake_pusher import FakePusher
from tests.web.servers import AppServer

SECRET = "pusher-secret-7f3a9c2b"


@pytest.fixture
def fake() -> Iterator[tuple[FakePusher, PusherCredentials]]:
    fake = FakePusher(app_id="4242", key="app-key-1", secret=SECRET)
    server = AppServer(fake.app()).start()
    try:
        credentials = PusherCredentials(
            app_id="4242", key="app-key-1", secret=SECRET,
            host="127.0.0.1", port=server.port, scheme="http",
        )  # fmt: skip
        yield fake, credentials
    finally:
        server.stop()


def test_channel_auth_matches_the_official_library() -> None:
    require("pusher", "the official library is the test oracle (test extra)")
    import pusher

    official = pusher.Pusher(app_id="1", key="app-key-1", secret=SECRET)
    for socket_id, channel in [("123.456", "private-laraflowai.chat"), ("1.2", "private-a=b@c")]:
        expected = official.authenticate(channel=channel, socket_id=socket_id)["auth"]
        assert channel_signature("app-key-1", SECRET, socket_id, channel) == expected


def test_the_stand_in_accepts_the_official_library_and_refuses_a_wrong_secret(
    fake: tuple[FakePusher, PusherCredentials],
) -> None:
    """The stand-in's own check is right: the official client passes it."""
    require("pusher", "the official library is the test oracle (test extra)")
    import pusher

    server, credentials = fake
    assert credentials.port is not None
    official = pusher.Pusher(
        app_id="4242", key="app-key-1", secret=SECRET, host="127.0.0.1",
        port=credentials.port, ssl=False,
    )  # fmt: skip
    official.trigger("private-x", "chunk", {"chunk": "hi"})
    official.trigger_batch([{"channel": "private-x", "name": "chunk", "data": "{}"}] * 2)
    assert server.refused == [] and len(server.events) == 3
    wrong = pusher.Pusher(
        app_id="4242", key="app-key-1", secret="not-the-secret", host="127.0.0.1",
        port=credentials.port, ssl=False,
    )  # fmt: skip
    with pytest.raises(Exception, match="401|Unauthorized|signature"):
        wrong.trigger("private-x", "chunk", {"chunk": "hi"})
    assert server.refused == ["invalid signature"]


async def test_one_and_batched_triggers_are_signed_and_delivered(
    fake: tuple[FakePusher, PusherCredentials],
) -> None:
    server, credentials = fake
    client = PusherClient(credentials)
    try:
        await client.trigger([PusherEvent("private-a", "chunk", '{"chunk":"one"}')])
        await client.trigger([PusherEvent("private-a", "chunk", f'{{"n":{n}}}') for n in range(10)])
    finally:
        await client.aclose()
    assert server.refused == []
    assert server.requests == ["/apps/4242/events", "/apps/4242/batch_events"]
    assert [json.loads(event["data"]) for event in server.events[1:]] == [
        {"n": n} for n in range(10)
    ]


async def test_a_refused_call_is_a_typed_error_without_the_secret(
    fake: tuple[FakePusher, PusherCredentials],
) -> None:
    server, credentials = fake
    wrong = PusherCredentials(
        app_id="4242", key="app-key-1", secret="wrong-secret-123",
        host="127.0.0.1", port=credentials.port, scheme="http",
    )  # fmt: skip
    client = PusherClient(wrong)
    with pytest.raises(PusherError) as caught:
        await client.trigger([PusherEvent("private-a", "chunk", "{}")])
    await client.aclose()
    assert caught.value.status_code == 401 and not caught.value.retryable
    assert "wrong-secret-123" not in str(caught.value) and "wrong-secret-123" not in repr(wrong)


async def test_a_fast_stream_is_batched_in_order_and_a_slow_one_is_not_held_back(
    fake: tuple[FakePusher, PusherCredentials],
) -> None:
    server, credentials = fake
    client = PusherClient(credentials)
    publisher = ChannelPublisher(client, "private-fast")
    for n in range(45):  # queued together: batches of 10
        publisher.publish("chunk", json.dumps({"n": n}))
    await publisher.aclose()
    assert [json.loads(e["data"])["n"] for e in server.events] == list(range(45))
    assert publisher.requests == 5 and max(e["batch"] for e in server.events) == 10

    server.events.clear()
    slow = ChannelPublisher(client, "private-slow")
    for n in range(3):  # one at a time: each goes out on its own, at once
        slow.publish("chunk", json.dumps({"n": n}))
        for _ in range(100):
            if len(server.events) == n + 1:
                break
            await asyncio.sleep(0.01)
        assert len(server.events) == n + 1
    await slow.aclose()
    await client.aclose()


async def test_a_failing_call_is_retried_then_the_rest_still_arrives(
    fake: tuple[FakePusher, PusherCredentials],
) -> None:
    server, credentials = fake
    server.fail_next = [503, 500]
    client = PusherClient(credentials)
    publisher = ChannelPublisher(client, "private-r")
    for n in range(3):
        publisher.publish("chunk", json.dumps({"n": n}))
    await publisher.aclose()
    await client.aclose()
    assert publisher.failed is None
    assert [json.loads(e["data"])["n"] for e in server.events] == [0, 1, 2]


def test_an_event_over_pusher_s_limit_is_refused_before_sending() -> None:
    with pytest.raises(PusherError, match="at most 10240"):
        PusherEvent("private-a", "chunk", json.dumps({"chunk": "x" * 10_300}))


def test_credentials_name_every_missing_variable_and_hide_the_secret() -> None:
    env = {"PUSHER_APP_KEY": "k"}
    with pytest.raises(ConfigurationError) as caught:
        PusherCredentials.from_env(env.get)
    assert "PUSHER_APP_ID" in str(caught.value) and "PUSHER_APP_SECRET" in str(caught.value)
    full = {"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": SECRET,
            "PUSHER_APP_CLUSTER": "eu"}  # fmt: skip
    credentials = PusherCredentials.from_env(full.get)
    assert credentials.api_url == "https://api-eu.pusher.com/apps/1"
    assert SECRET not in repr(credentials)
    with pytest.raises(ConfigurationError, match="PUSHER_PORT"):
        PusherCredentials.from_env({**full, "PUSHER_PORT": "http"}.get)
    with pytest.raises(ConfigurationError, match="PUSHER_APP_CLUSTER"):
        PusherCredentials.from_env({**full, "PUSHER_APP_CLUSTER": "eu/../x"}.get)
