"""The app behaves the same on either server it runs on: uvicorn (the default)
and granian (the `granian` extra, `laraflowai serve --server granian`). Both
notice a client that leaves mid-stream while the model is silent within the
same bound, so resume grace and abandonment mean the same on both."""

from __future__ import annotations

import importlib.util
import time

import httpx2
import pytest

from tests.servers import ProviderServer

from .conftest import ServeApp
from .servers import read_sse, sse_stream
from .test_sse_cancel import hanging_reply
from .test_sse_resume import wait_for_status

SERVERS = [
    "uvicorn",
    pytest.param(
        "granian",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("granian") is None, reason="the granian extra is not installed"
        ),
    ),
]


@pytest.mark.parametrize("on", SERVERS)
def test_a_client_leaving_mid_stream_is_noticed_at_once_and_the_stream_abandoned(
    on: str, server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(hanging_reply("Hello"))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "0"}, on=on)
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"task": "Go"}) as stream:
        received = stream.read_events(2)
        assert received.payloads[1] == {"type": "chunk", "chunk": "Hello"}
    left_at = time.monotonic()
    # The model is silent: only the server noticing the disconnect can end it.
    assert server.wait_for_disconnect(0, timeout=1.0), f"upstream still open on {on}"
    assert server.exchange(0).client_closed_at - left_at < 1.0  # type: ignore[operator]
    stream_id = received.payloads[0]["stream_id"]
    assert wait_for_status(client, f"{url}/{stream_id}", "abandoned")["status"] == "abandoned"


@pytest.mark.parametrize("on", SERVERS)
def test_a_client_leaving_is_waited_for_for_the_grace_window_then_resumes_nothing_lost(
    on: str, server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(hanging_reply("still ", "thinking"))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "0.6"}, on=on)
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"task": "Go"}) as stream:
        received = stream.read_events(3)
    left_at = time.monotonic()
    assert not server.wait_for_disconnect(0, timeout=0.3), "closed before the grace window"
    assert server.wait_for_disconnect(0, timeout=2.0), "still open after the grace window"
    assert server.exchange(0).client_closed_at - left_at >= 0.5  # type: ignore[operator]
    stream_id = received.payloads[0]["stream_id"]
    replay = read_sse(client, url, last_event_id=f"{stream_id}-0")
    assert [p.get("chunk") for p in replay.payloads[:-1]] == ["still ", "thinking"]
    assert replay.payloads[-1] == {"type": "complete", "stopped": True, "reason": "abandoned"}
    ids = [event.id for event in replay.events]
    assert ids == [f"{stream_id}-{n}" for n in range(1, 4)]
