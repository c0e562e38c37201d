"""Stop is not disconnect. A stop cancels the upstream request at once; a
disconnect detaches the client and the upstream runs on only for the resume
grace window, and only while no other client follows it. Every check is made
at the provider server: did the upstream connection close, and when."""

from __future__ import annotations

import time

import httpx2

from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply

from .conftest import ServeApp
from .servers import read_sse, sse_stream
from .test_sse_resume import wait_for_status


def hanging_reply(*chunks: str):  # type: ignore[no-untyped-def]
    """Some chunks, then silence with the connection open: a model still thinking."""
    events = openai_chunks(list(chunks), finish_reason=None, include_done=False)
    return stream_reply(events, then=[Hang()])


def test_stop_cancels_the_upstream_at_once_and_ends_listeners_with_stopped(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(hanging_reply("Partial ", "answer"))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "30"})
    url = f"{app.url}/api/stream-chat"

    with sse_stream(client, url, params={"task": "Go"}) as stream:
        stream_id = stream.read_events(3).payloads[0]["stream_id"]
        stopped = client.post(f"{url}/{stream_id}/stop")
        assert server.wait_for_disconnect(0, timeout=1.0), "upstream still open after stop"
        received = stream.read_to_end()  # the listener gets the last event, then the end

    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    assert received.payloads[-1] == {"type": "complete", "stopped": True, "reason": "stop"}
    assert [p.get("chunk") for p in received.payloads[1:-1]] == ["Partial ", "answer"]
    assert server.exchange(0).client_closed_during_reply


def test_stopped_stream_keeps_its_partial_output_readable_through_resume(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(hanging_reply("kept ", "text"))
    app = serve_app()
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"task": "Go"}) as stream:
        received = stream.read_events(3)
    stream_id = received.payloads[0]["stream_id"]
    assert client.post(f"{url}/{stream_id}/stop").json()["status"] == "stopped"

    replay = read_sse(client, url, params={"stream_id": stream_id})
    assert [p.get("chunk") for p in replay.payloads if p["type"] == "chunk"] == ["kept ", "text"]
    assert replay.payloads[-1]["stopped"] is True


def test_disconnect_with_no_grace_closes_the_upstream_at_once(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(hanging_reply("Hello"))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "0"})
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"task": "Go"}) as stream:
        received = stream.read_events(2)
        assert not server.exchange(0).client_closed
    # The client is gone; the model is still silent, so only the disconnect can tell.
    assert server.wait_for_disconnect(0, timeout=1.0), "upstream still open after disconnect"
    stream_id = received.payloads[0]["stream_id"]
    info = wait_for_status(client, f"{url}/{stream_id}", "abandoned")
    assert info["status"] == "abandoned"


def test_disconnect_then_reconnect_within_the_grace_window_loses_nothing(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    events = openai_chunks(["a", "b", "c", "d", "e", "f"])
    server.enqueue(stream_reply(events, delay=0.15))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "2"})
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"task": "Go"}) as stream:
        first = stream.read_events(2)
    time.sleep(0.4)  # offline for a while: the upstream goes on meanwhile
    assert not server.exchange(0).client_closed
    rest = read_sse(client, url, params={"task": "Go"}, last_event_id=first.events[-1].id)
    chunks = [p["chunk"] for p in first.payloads + rest.payloads if p["type"] == "chunk"]
    assert chunks == ["a", "b", "c", "d", "e", "f"]
    assert rest.payloads[-1] == {"type": "complete", "finish_reason": "stop"}
    assert server.wait_for_completion(0, timeout=2.0) and server.request_count == 1


def test_disconnect_without_reconnect_closes_the_upstream_after_the_grace_window(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(hanging_reply("still ", "thinking"))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "0.6"})
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"task": "Go"}) as stream:
        received = stream.read_events(3)
    left_at = time.monotonic()
    assert not server.wait_for_disconnect(0, timeout=0.3), "closed before the grace window"
    assert server.wait_for_disconnect(0, timeout=2.0), "still open after the grace window"
    closed_after = server.exchange(0).client_closed_at - left_at  # type: ignore[operator]
    assert closed_after >= 0.5

    # The partial answer stays readable, ending with the reason it stopped.
    stream_id = received.payloads[0]["stream_id"]
    replay = read_sse(client, url, last_event_id=f"{stream_id}-0")
    assert [p.get("chunk") for p in replay.payloads[:-1]] == ["still ", "thinking"]
    assert replay.payloads[-1] == {"type": "complete", "stopped": True, "reason": "abandoned"}


def test_upstream_keeps_running_while_another_client_follows_it(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(hanging_reply("shared"))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "0"})
    url = f"{app.url}/api/stream-chat"
    other = httpx2.Client(timeout=10)
    with sse_stream(client, url, params={"task": "Go"}) as first:
        stream_id = first.read_events(2).payloads[0]["stream_id"]
        second = sse_stream(other, url, params={"stream_id": stream_id})
        following = second.__enter__()
        following.read_events(2)
    # The first client has left; with no grace at all, the second still holds it open.
    time.sleep(0.3)
    assert not server.exchange(0).client_closed
    assert following.received.payloads[0]["stream_id"] == stream_id
    second.__exit__(None, None, None)  # now the last one leaves
    other.close()
    assert server.wait_for_disconnect(0, timeout=1.0)
    info = wait_for_status(client, f"{url}/{stream_id}", "abandoned")
    assert info["status"] == "abandoned" and info["listeners"] == 0
