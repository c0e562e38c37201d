"""The ten-line example app of each framework, under the framework's real
server, against the local provider server: the SSE route's event sequence to
its end, and a client that disconnects closes the provider request."""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, require
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply
from tests.web.servers import AppServer, read_sse, sse_stream

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


@pytest.fixture
def provider_env(server: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": f"{server.url}/v1",
        "LARAFLOWAI_DEFAULT_PROVIDER": "openai",
        "LARAFLOWAI_STREAMING_BUFFER_SIZE": "1",
        "LARAFLOWAI_STREAMING_CACHE": "false",
        "LARAFLOWAI_MAX_RETRIES": "0",
    }.items():
        monkeypatch.setenv(name, value)


def example(name: str) -> Any:
    sys.modules.pop(f"examples.{name}", None)
    return importlib.import_module(f"examples.{name}")


class WSGIServer:
    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(provider_env: None) -> Iterator[Callable[[str], str]]:
    """Serve an example app under its framework's own server; its base URL."""
    stops: list[Callable[[], None]] = []

    def serve(framework: str) -> str:
        require(framework, f"the {framework} helper's extra")
        module = example(f"{framework}_app")
        if framework == "flask":
            wsgi = WSGIServer(module.app)
            stops.append(wsgi.stop)
            return wsgi.url
        asgi = AppServer(module.app)
        if framework == "django":
            asgi.server.config.lifespan = "off"  # Django speaks HTTP only
        stops.append(asgi.start().stop)
        return asgi.url

    yield serve
    for stop in stops:
        stop()


@pytest.mark.parametrize("framework", ["fastapi", "django", "flask"])
def test_the_example_streams_the_document_s_events_to_the_end(
    server: ProviderServer, served: Callable[[str], str], framework: str
) -> None:
    # Connection: close, so no pooled provider connection outlives Django's server
    # loop (Django has no lifespan in which the app could close it).
    chunks = openai_chunks(["Hello", ", wor", "ld \u2728"], usage=USAGE)
    server.enqueue(stream_reply(chunks, framing="close"))
    base = served(framework)
    with httpx2.Client(timeout=10) as client:
        received = read_sse(client, f"{base}/chat", params={"task": "Say hello"})
    assert received.status == 200
    assert received.headers["content-type"].startswith("text/event-stream")
    assert received.payloads == [
        {"type": "chunk", "chunk": "Hello"},
        {"type": "chunk", "chunk": ", wor"},
        {"type": "chunk", "chunk": "ld \u2728"},
        {"type": "complete", "finish_reason": "stop",
         "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}},
    ]  # fmt: skip
    assert [event.id for event in received.events] == ["0", "1", "2", "3"]
    assert server.requests[0].json()["messages"][1]["content"] == "Say hello"


@pytest.mark.parametrize("framework", ["fastapi", "django"])
def test_under_asgi_a_client_that_leaves_closes_the_provider_request_at_once(
    server: ProviderServer, served: Callable[[str], str], framework: str
) -> None:
    events = openai_chunks(["Thinking"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    base = served(framework)
    with (
        httpx2.Client(timeout=10) as client,
        sse_stream(client, f"{base}/chat", params={"task": "Think"}) as stream,
    ):
        stream.read_events(1)
    assert server.wait_for_disconnect(0, timeout=3.0), "the provider request is still open"


def test_under_wsgi_a_client_that_leaves_closes_the_provider_request_at_the_next_chunk(
    server: ProviderServer, served: Callable[[str], str]
) -> None:
    steps = stream_reply(openai_chunks([f"w{n} " for n in range(50)]), delay=0.1).steps
    server.enqueue(stream_reply([], then=steps))
    base = served("flask")
    with (
        httpx2.Client(timeout=10) as client,
        sse_stream(client, f"{base}/chat", params={"task": "Count"}) as stream,
    ):
        stream.read_events(2)
    left = time.monotonic()
    assert server.wait_for_disconnect(0, timeout=3.0), "the provider request is still open"
    assert time.monotonic() - left < 3.0
    assert not server.exchange(0).completed


def test_the_fastapi_mount_serves_the_whole_app_with_its_lifespan(
    server: ProviderServer, served: Callable[[str], str]
) -> None:
    server.enqueue(stream_reply(openai_chunks(["via ", "the mount"])))
    base = served("fastapi")
    with httpx2.Client(timeout=10) as client:
        page = client.get(f"{base}/laraflowai/")
        received = read_sse(client, f"{base}/laraflowai/api/stream-chat", params={"task": "Hi"})
    assert page.status_code == 200 and "laraflowai" in page.text
    assert [p.get("chunk") for p in received.payloads[1:-1]] == ["via ", "the mount"]


def test_the_django_url_conf_serves_the_document_s_route(
    server: ProviderServer, served: Callable[[str], str]
) -> None:
    server.enqueue(stream_reply(openai_chunks(["doc ", "route"]), framing="close"))
    base = served("django")
    with httpx2.Client(timeout=10) as client:
        received = read_sse(client, f"{base}/api/stream-chat", params={"task": "Hi"})
        missing = client.get(f"{base}/api/stream-chat")
    assert [p.get("chunk") for p in received.payloads[:-1]] == ["doc ", "route"]
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "task"


def test_a_wrong_source_is_a_typed_error() -> None:
    from laraflowai import ConfigurationError
    from laraflowai.frameworks import sse_frames

    with pytest.raises(ConfigurationError, match="agent.stream"):
        next(sse_frames("not a stream"))  # type: ignore[arg-type]
