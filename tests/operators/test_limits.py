"""Limits for operators, against the app on a real port: requests per minute,
streams at once and body size per client, answered with 429 and Retry-After
(413 for a body), shared by every process through Redis when configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from laraflowai import Settings
from laraflowai.web import create_app
from tests.conftest import API_KEY
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply
from tests.web.conftest import BASE_ENV
from tests.web.servers import AppServer, sse_stream

TOKEN = "operator-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def serve(server: ProviderServer) -> Iterator[Callable[..., AppServer]]:
    started: list[AppServer] = []

    def start(env: dict[str, str], token: str | None = TOKEN) -> AppServer:
        settings = Settings.from_env({**BASE_ENV, **env})
        app = create_app(settings, provider="openai", base_url=f"{server.url}/v1",
                         api_key=API_KEY, token=token, allowed_hosts=["*"])  # fmt: skip
        started.append(AppServer(app).start())
        return started[-1]

    yield start
    for app in started:
        app.stop()


def status(app: AppServer, **kwargs: Any) -> httpx2.Response:
    return httpx2.get(f"{app.url}/api/stream-chat/0123456789abcdef01234567", **kwargs)


def test_requests_past_the_rate_get_429_with_retry_after(serve: Callable[..., AppServer]) -> None:
    app = serve({"LARAFLOWAI_RATE_LIMIT": "3"})
    session = httpx2.post(f"{app.url}/api/session", headers=AUTH).cookies
    assert [status(app, headers=AUTH).status_code for _ in range(2)] == [404, 404]
    refused = status(app, headers=AUTH)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The page's session (another token) is another client with its own count.
    assert status(app, cookies=session).status_code == 404


def test_a_client_on_this_machine_without_a_token_is_not_limited(
    serve: Callable[..., AppServer],
) -> None:
    app = serve({"LARAFLOWAI_RATE_LIMIT": "2"}, token=None)
    assert {status(app).status_code for _ in range(5)} == {404}


def test_one_stream_too_many_is_refused_until_one_ends(
    server: ProviderServer, serve: Callable[..., AppServer]
) -> None:
    events = openai_chunks(["Thinking"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    server.enqueue(stream_reply(openai_chunks(["ok"])))
    app = serve({"LARAFLOWAI_MAX_CONCURRENT_STREAMS": "1", "LARAFLOWAI_SSE_RESUME_GRACE": "0"})
    url = f"{app.url}/api/stream-chat"
    with httpx2.Client(timeout=10, headers=AUTH) as client:
        with sse_stream(client, url, params={"task": "First"}) as stream:
            stream.read_events(2)
            refused = client.get(url, params={"task": "Second"})
            assert refused.status_code == 429
            assert refused.json()["error"]["type"] == "too_many_streams"
            assert refused.headers["retry-after"]
        assert server.wait_for_disconnect(0, timeout=5)
        with sse_stream(client, url, params={"task": "Second"}) as again:
            assert again.read_to_end().payloads[-1]["type"] == "complete"
    assert server.request_count == 2  # the refused one never reached the provider


def test_a_body_too_large_is_refused_with_413_whether_announced_or_chunked(
    serve: Callable[..., AppServer],
) -> None:
    app = serve({"LARAFLOWAI_MAX_BODY_BYTES": "100"})
    url = f"{app.url}/api/stream-crew"
    announced = httpx2.post(url, content=b"x" * 200, headers=AUTH)
    assert announced.status_code == 413 and announced.json()["error"]["type"] == "too_large"

    def pieces() -> Iterator[bytes]:
        for _ in range(4):
            yield b"y" * 60

    chunked = httpx2.post(url, content=pieces(), headers=AUTH)
    assert chunked.status_code == 413
    # A client on this machine without a token is not counted, and still bounded.
    local = serve({"LARAFLOWAI_MAX_BODY_BYTES": "100"}, token=None)
    local_chunked = httpx2.post(f"{local.url}/api/stream-crew", content=pieces())
    assert local_chunked.status_code == 413


def test_with_redis_the_count_is_shared_by_every_process(
    serve: Callable[..., AppServer], redis_url: str
) -> None:
    env = {"LARAFLOWAI_RATE_LIMIT": "3", "LARAFLOWAI_STREAM_STORE": "redis",
           "LARAFLOWAI_REDIS_URL": redis_url}  # fmt: skip
    a, b = serve(env), serve(env)
    codes = [status(app, headers=AUTH).status_code for app in (a, b, a, b)]
    assert codes == [404, 404, 404, 429]


def test_a_stream_past_the_output_cap_ends_truncated_and_closes_its_provider_request(
    server: ProviderServer, serve: Callable[..., AppServer]
) -> None:
    words = [f"w{n:02d} " for n in range(40)]  # 160 characters, more to come after
    events = openai_chunks(words, finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    app = serve({"LARAFLOWAI_MAX_STREAM_CHARS": "50"})
    with (
        httpx2.Client(timeout=10, headers=AUTH) as client,
        sse_stream(client, f"{app.url}/api/stream-chat", params={"task": "Talk"}) as stream,
    ):
        received = stream.read_to_end()
    text = "".join(p["chunk"] for p in received.payloads if p["type"] == "chunk")
    assert text == "".join(words)[:50]
    assert received.payloads[-1] == {"type": "complete", "finish_reason": "length",
                                     "truncated": True}  # fmt: skip
    assert server.wait_for_disconnect(0, timeout=3.0)
