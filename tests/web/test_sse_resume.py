"""Resume: a client that reconnects with Last-Event-ID continues exactly after
that event, with nothing lost or repeated, mid-stream and after the end."""

from __future__ import annotations

import time

import httpx2

from tests.servers import ProviderServer, openai_chunks, stream_reply

from .conftest import ServeApp
from .servers import read_sse, sse_stream

WORDS = ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight"]


def wait_for_status(client: httpx2.Client, url: str, status: str, timeout: float = 5) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        info = client.get(url).json()
        if info.get("status") == status or time.monotonic() > deadline:
            return info
        time.sleep(0.02)


def test_reconnect_mid_stream_resumes_after_last_event_id_with_no_gap_or_duplicate(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.1))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "10"})

    with sse_stream(client, f"{app.url}/api/stream-chat", params={"task": "Count"}) as stream:
        first = stream.read_events(3)  # start and two chunks, then the connection drops
    last_id = first.events[-1].id
    stream_id = first.payloads[0]["stream_id"]
    assert last_id == f"{stream_id}-2"

    # The browser reconnects to the same URL, task and all, with Last-Event-ID.
    rest = read_sse(
        client, f"{app.url}/api/stream-chat", params={"task": "Count"}, last_event_id=last_id
    )

    assert rest.status == 200
    indices = [int(event.id.rpartition("-")[2]) for event in rest.events]
    assert indices == list(range(3, 3 + len(indices)))
    chunks = [p["chunk"] for p in first.payloads + rest.payloads if p["type"] == "chunk"]
    assert chunks == WORDS
    assert rest.payloads[-1]["type"] == "complete"
    assert "stopped" not in rest.payloads[-1]
    # One upstream request, never interrupted: the reconnect followed the same stream.
    assert server.request_count == 1
    # The client can read the last bytes a moment before the server notes them sent.
    assert server.wait_for_completion(0, timeout=2.0)
    assert not server.exchange(0).client_closed_during_reply


def test_resume_after_the_stream_ended_replays_only_the_missing_events(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.02))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "10"})
    url = f"{app.url}/api/stream-chat"

    with sse_stream(client, url, params={"task": "Count"}) as stream:
        first = stream.read_events(2)
    stream_id = first.payloads[0]["stream_id"]
    info = wait_for_status(client, f"{url}/{stream_id}", "complete")
    assert info["status"] == "complete"

    rest = read_sse(client, url, params={"task": "Count"}, last_event_id=first.events[-1].id)
    assert [int(e.id.rpartition("-")[2]) for e in rest.events] == list(range(2, info["events"]))
    chunks = [p["chunk"] for p in first.payloads + rest.payloads if p["type"] == "chunk"]
    assert chunks == WORDS

    # Caught up on an ended stream: 204 tells an EventSource to stop reconnecting.
    done = client.get(url, params={"task": "Count"}, headers={"Last-Event-ID": rest.events[-1].id})
    assert done.status_code == 204
    assert server.request_count == 1


def test_a_second_client_follows_the_same_stream_from_its_start(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.05))
    app = serve_app()
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"task": "Count"}) as stream:
        stream_id = stream.read_events(1).payloads[0]["stream_id"]
        second = read_sse(client, url, params={"stream_id": stream_id})
        first = stream.read_to_end()
    assert second.payloads == first.payloads
    assert [e.id for e in second.events] == [e.id for e in first.events]
    assert server.request_count == 1


def test_resume_of_an_unknown_or_expired_stream_is_gone_and_a_foreign_id_is_refused(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app()
    url = f"{app.url}/api/stream-chat"
    gone = client.get(url, params={"task": "Hi"}, headers={"Last-Event-ID": "0123abcd-4"})
    assert gone.status_code == 410
    assert "can no longer be resumed" in gone.json()["error"]["message"]
    for foreign_id in ("42", "abc-1x", "a b-1", "abc-"):
        foreign = client.get(url, params={"task": "Hi"}, headers={"Last-Event-ID": foreign_id})
        assert foreign.status_code == 400
        assert foreign.json()["error"]["param"] == "Last-Event-ID"
    assert server.request_count == 0


def test_an_ended_stream_is_forgotten_after_the_retention_window(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(["short"])))
    app = serve_app({"LARAFLOWAI_SSE_RETENTION": "0.3"})
    url = f"{app.url}/api/stream-chat"
    received = read_sse(client, url, params={"task": "Hi"})
    stream_id = received.payloads[0]["stream_id"]
    assert client.get(f"{url}/{stream_id}").status_code == 200
    again = client.get(url, headers={"Last-Event-ID": f"{stream_id}-1"})
    assert again.status_code == 200  # still within the window: the rest is replayed
    time.sleep(0.5)
    assert client.get(f"{url}/{stream_id}").status_code == 404
    assert client.get(url, headers={"Last-Event-ID": f"{stream_id}-1"}).status_code == 410
