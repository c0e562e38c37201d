"""A listener that stops reading holds up neither the stream nor the others:
its writes wait for its own socket, and it catches up from the log later."""

from __future__ import annotations

import time

import httpx2

from tests.servers import ProviderServer, openai_chunks, stream_reply

from .conftest import ServeApp
from .servers import read_sse, sse_stream

# About 15 MB of answer: more than the loopback socket buffers and uvicorn's
# write buffer hold, so the silent listener's writes have to wait.
WORDS = [f"{index:05d}" + "x" * 2495 for index in range(6000)]


def test_a_silent_listener_holds_up_neither_the_stream_nor_another_listener(
    server: ProviderServer, serve_app: ServeApp
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS)))
    app = serve_app({"LARAFLOWAI_MAX_STREAM_CHARS": "0"})  # the whole ~15 MB answer
    url = f"{app.url}/api/stream-chat"
    timeout = httpx2.Timeout(30, read=30)
    with (
        httpx2.Client(timeout=timeout) as slow_client,
        httpx2.Client(timeout=timeout) as client,
        sse_stream(slow_client, url, params={"task": "Write a lot"}) as slow,
    ):
        stream_id = slow.received.headers["x-stream-id"]
        # The first listener reads nothing more for now; a second follows the stream.
        fast = read_sse(client, url, params={"stream_id": stream_id})
        assert fast.payloads[-1]["type"] == "complete"
        status = client.get(f"{url}/{stream_id}").json()
        assert status["status"] == "complete" and status["events"] == len(fast.events)
        registry = app.app.state.streams
        waiting = [pipe for pipe in registry._streams[stream_id].pipes if pipe._writing]
        assert waiting, "the silent listener's write should be waiting for its socket"
        time.sleep(0.2)
        rest = slow.read_to_end()
    chunks = [p["chunk"] for p in fast.payloads if p["type"] == "chunk"]
    assert "".join(chunks) == "".join(WORDS)
    assert rest.payloads == fast.payloads
    ids = [f"{stream_id}-{n}" for n in range(len(chunks) + 2)]
    assert [event.id for event in rest.events] == ids
    assert server.request_count == 1
