"""Several real `laraflowai serve` processes sharing a real redis-server
(LARAFLOWAI_STREAM_STORE=redis, LARAFLOWAI_WEBSOCKET_DRIVER=redis): a stream
started through one process is followed, resumed and stopped through another,
over SSE and over the Pusher protocol."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, require
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply
from tests.web.servers import read_sse, sse_stream
from tests.web.test_serve import free_port, serve_env, start, stop, wait_until_serving

KEY = "multi-process-key"
WORDS = ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight"]

Serve = Callable[[], str]


@pytest.fixture
def shared_env(server: ProviderServer, redis_url: str) -> dict[str, str]:
    return serve_env(
        LARAFLOWAI_STREAM_STORE="redis",
        LARAFLOWAI_REDIS_URL=redis_url,
        LARAFLOWAI_STREAMING_CACHE="false",
        LARAFLOWAI_STREAMING_BUFFER_SIZE="1",
        LARAFLOWAI_MAX_RETRIES="0",
        LARAFLOWAI_SSE_RESUME_GRACE="10",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=f"{server.url}/v1",
        LARAFLOWAI_WEBSOCKET_ENABLED="true",
        LARAFLOWAI_WEBSOCKET_DRIVER="redis",
        PUSHER_APP_ID="1",
        PUSHER_APP_KEY=KEY,
        PUSHER_APP_SECRET="pusher-secret-multi-9f2",
    )


@pytest.fixture
def serve(shared_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start one more server process on the shared Redis; returns its URL."""
    processes: list[subprocess.Popen[str]] = []

    def start_one(**extra: str) -> str:
        port = free_port()
        env = {**shared_env, **extra}
        process = start(["--provider", "openai", "--port", str(port)], env, tmp_path)
        processes.append(process)
        wait_until_serving(process, port)
        return f"http://127.0.0.1:{port}"

    yield start_one
    for process in processes:
        stop(process)


def test_a_stream_started_on_one_process_resumes_on_another_with_no_gap_or_duplicate(
    server: ProviderServer, serve: Serve
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.1))
    a, b = serve(), serve()
    with httpx2.Client(timeout=10) as client:
        with sse_stream(client, f"{a}/api/stream-chat", params={"task": "Count"}) as stream:
            first = stream.read_events(3)  # start and two chunks, then the connection drops
        stream_id = first.payloads[0]["stream_id"]
        last_id = first.events[-1].id
        assert last_id == f"{stream_id}-2"
        rest = read_sse(client, f"{b}/api/stream-chat", last_event_id=last_id)
        followed = read_sse(client, f"{b}/api/stream-chat", params={"stream_id": stream_id})
    assert rest.status == 200
    indices = [int(event.id.rpartition("-")[2]) for event in rest.events]
    assert indices == list(range(3, 3 + len(indices)))
    chunks = [p["chunk"] for p in first.payloads + rest.payloads if p["type"] == "chunk"]
    assert chunks == WORDS
    assert rest.payloads[-1]["type"] == "complete" and "stopped" not in rest.payloads[-1]
    assert [e.id for e in followed.events] == [f"{stream_id}-{n}" for n in range(len(WORDS) + 2)]
    assert server.request_count == 1


def test_a_stop_sent_to_another_process_ends_the_stream_and_its_provider_request(
    server: ProviderServer, serve: Serve
) -> None:
    events = openai_chunks(["Partial ", "answer"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    a, b = serve(), serve()
    with httpx2.Client(timeout=10) as client:
        with sse_stream(client, f"{a}/api/stream-chat", params={"task": "Go"}) as stream:
            stream_id = stream.read_events(3).payloads[0]["stream_id"]
            stopped = client.post(f"{b}/api/stream-chat/{stream_id}/stop")
            assert server.wait_for_disconnect(0, timeout=3.0), "upstream still open after stop"
            received = stream.read_to_end()
        status = client.get(f"{b}/api/stream-chat/{stream_id}").json()
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert received.payloads[-1] == {"type": "complete", "stopped": True, "reason": "stop"}
    assert status["status"] == "stopped"


def test_a_stream_started_on_one_process_reaches_pusher_js_connected_to_another(
    server: ProviderServer, serve: Serve, listen: Any
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.05))
    a, b = serve(), serve()
    port_b = b.rpartition(":")[2]
    channel = "private-laraflowai.room-9"
    listener = listen(KEY, "127.0.0.1", port_b, channel, f"{b}/broadcasting/auth")
    listener.wait_for("subscribed")
    started = httpx2.post(
        f"{a}/api/stream-chat-websocket", json={"task": "Count", "channel": "room-9"}
    ).json()
    assert started["channel"] == channel
    events = listener.events()
    assert [e["data"]["chunk"] for e in events if e["name"] == "chunk"] == WORDS
    assert events[-1]["name"] == "complete"
    ids = [e["data"]["id"] for e in events]
    assert ids == [f"{started['stream_id']}-{n}" for n in range(len(ids))]


@pytest.fixture
def worker(shared_env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    require("taskiq_redis", "background jobs come with the jobs extra")
    process = subprocess.Popen(
        [sys.executable, "-m", "laraflowai", "worker", "--log-level", "warning"],
        env=shared_env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    yield
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_two_servers_and_a_worker_serve_one_stream_over_websocket_and_sse_and_stop_it(
    server: ProviderServer, serve: Callable[..., str], worker: None, listen: Any
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.1))
    hanging = openai_chunks(["Partial ", "answer"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(hanging, then=[Hang()]))
    a = serve(LARAFLOWAI_QUEUE="redis")
    b = serve(LARAFLOWAI_QUEUE="redis")
    channel = "private-laraflowai.room-w"
    listener = listen(KEY, "127.0.0.1", b.rpartition(":")[2], channel, f"{b}/broadcasting/auth")
    listener.wait_for("subscribed")

    with httpx2.Client(timeout=30) as client:
        body = {"task": "Count", "channel": "room-w"}
        stream_id = client.post(f"{a}/api/stream-chat-websocket", json=body).json()["stream_id"]
        url = f"{a}/api/stream-chat"
        with sse_stream(client, url, params={"stream_id": stream_id}) as stream:
            first = stream.read_events(3)  # on A: start and two chunks, then cut off
        rest = read_sse(client, f"{b}/api/stream-chat", last_event_id=first.events[-1].id)
        events = listener.events()

        indices = [int(event.id.rpartition("-")[2]) for event in rest.events]
        assert indices == list(range(3, 3 + len(indices)))
        chunks = [p["chunk"] for p in first.payloads + rest.payloads if p["type"] == "chunk"]
        assert chunks == WORDS
        assert [e["data"]["chunk"] for e in events if e["name"] == "chunk"] == WORDS
        assert events[-1]["name"] == "complete"

        body = {"task": "Go", "channel": "room-w"}
        second = client.post(f"{a}/api/stream-chat-websocket", json=body).json()["stream_id"]
        assert server.wait_for_requests(2, timeout=30)
        stopped = client.post(f"{b}/api/stream-chat/{second}/stop").json()
        assert stopped["status"] == "stopped"
        assert server.wait_for_disconnect(1, timeout=5.0), "the worker's request is still open"


def test_with_queue_sse_an_sse_stream_runs_in_the_worker_and_resumes_on_another_server(
    server: ProviderServer, serve: Callable[..., str], worker: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.1))
    queued = {"LARAFLOWAI_QUEUE": "redis", "LARAFLOWAI_QUEUE_SSE": "true"}
    a, b = serve(**queued), serve(**queued)
    with httpx2.Client(timeout=30) as client:
        with sse_stream(client, f"{a}/api/stream-chat", params={"task": "Count"}) as stream:
            first = stream.read_events(3)
        rest = read_sse(client, f"{b}/api/stream-chat", last_event_id=first.events[-1].id)
    chunks = [p["chunk"] for p in first.payloads + rest.payloads if p["type"] == "chunk"]
    assert chunks == WORDS
    indices = [int(event.id.rpartition("-")[2]) for event in first.events + rest.events]
    assert indices == list(range(len(indices)))
    assert server.request_count == 1  # one provider request, made by the worker
