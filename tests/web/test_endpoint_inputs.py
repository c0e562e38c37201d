"""Whatever a client sends, every endpoint answers with a typed result: a
stream, or a 4xx whose JSON says what was wrong; never a 500 or a traceback.
Hypothesis generates the bodies and queries; the app runs on a real port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laraflowai import Settings
from laraflowai.web import create_app
from tests.conftest import API_KEY
from tests.servers import ProviderServer, openai_chunks, stream_reply
from tests.web.conftest import BASE_ENV
from tests.web.servers import AppServer

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)  # fmt: skip
FIELDS = ("task", "channel", "messages", "model", "stream", "role", "goal", "provider",
          "agents", "tasks", "threadId", "runId", "socket_id", "channel_name", "parts")  # fmt: skip
BODIES = st.one_of(
    JSON,
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5),
    st.binary(max_size=60),
)
POSTS = ["/api/stream-crew", "/api/chat", "/api/ag-ui", "/v1/chat/completions",
         "/api/stream-chat-websocket", "/broadcasting/auth"]  # fmt: skip


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with ProviderServer() as provider:
        provider.set_handler(lambda request: stream_reply(openai_chunks(["ok"])))
        env = {**BASE_ENV, "LARAFLOWAI_WEBSOCKET_ENABLED": "true",
               "LARAFLOWAI_WEBSOCKET_DRIVER": "builtin", "PUSHER_APP_ID": "1",
               "PUSHER_APP_KEY": "key", "PUSHER_APP_SECRET": "secret-0123456789"}  # fmt: skip
        settings = Settings.from_env(env)
        base = f"{provider.url}/v1"
        app = AppServer(
            create_app(settings, provider="openai", base_url=base, api_key=API_KEY)
        ).start()
        try:
            yield app.url
        finally:
            app.stop()


def _typed(response: httpx2.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text
    if response.status_code >= 400 and response.status_code != 404:
        error = response.json()["error"]
        assert isinstance(error, dict) and error.get("message")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(POSTS), body=BODIES)
def test_any_post_body_gets_a_typed_answer(app_url: str, path: str, body: Any) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with httpx2.Client(timeout=10) as client:
        _typed(client.post(f"{app_url}{path}", content=content,
                           headers={"content-type": "application/json"}))  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(st.sampled_from(["task", "role", "goal", "provider", "model",
                                               "stream_id", "crew"]),
                              st.text(max_size=40), max_size=4),
       last_event_id=st.none() | st.text(max_size=30))  # fmt: skip
def test_any_query_of_the_sse_routes_gets_a_typed_answer(
    app_url: str, params: dict[str, str], last_event_id: str | None
) -> None:
    headers = {}
    if last_event_id is not None and last_event_id.isprintable() and last_event_id.isascii():
        headers["Last-Event-ID"] = last_event_id
    with httpx2.Client(timeout=10) as client:
        for path in ("/api/stream-chat", "/api/stream-crew"):
            with client.stream("GET", f"{app_url}{path}", params=params,
                               headers=headers) as response:  # fmt: skip
                response.read()
                _typed(response)
