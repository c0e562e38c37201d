"""The SSE responses driven through ASGI directly: a listener that falls behind
gets what it missed in one send with every id in order, keep-alive comments
come from one timer shared by every stream, and EventStreamResponse (public)
streams the caller's own frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laraflowai.broadcast import MemoryStreamRegistry
from laraflowai.web import EventStreamResponse, SubscriptionResponse, encode_event
from laraflowai.web import sse as sse_module

SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}


class Client:
    """An ASGI connection: records each body sent; `gate`, when set, makes the
    next body wait (a full socket); `leave()` is the client going away."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.gate: asyncio.Event | None = None
        self.parked = asyncio.Event()
        self.gone = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body" or not message.get("body"):
            return
        if self.gate is not None:
            gate, self.gate = self.gate, None
            self.parked.set()
            await gate.wait()
        self.bodies.append(message["body"])

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self.gone.set()

    @property
    def ids(self) -> list[str]:
        text = b"".join(self.bodies).decode()
        return [line[4:] for line in text.splitlines() if line.startswith("id: ")]


async def _chunks(count: int, step: asyncio.Event) -> AsyncIterator[dict[str, Any]]:
    for index in range(count):
        await step.wait()
        step.clear()
        yield {"type": "chunk", "chunk": f"c{index}"}
    yield {"type": "complete"}


async def _until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.001)


async def test_a_listener_behind_gets_what_it_missed_in_one_send_with_every_id_in_order() -> None:
    registry = MemoryStreamRegistry()
    step = asyncio.Event()
    stream_id = await registry.start(_chunks(6, step))
    client = Client()
    response = SubscriptionResponse(await registry.subscribe(stream_id))
    serving = asyncio.create_task(response(SCOPE, client.receive, client.send))
    await _until(lambda: len(client.bodies) == 1)  # start, written in place
    client.gate = gate = asyncio.Event()
    step.set()  # chunk 1: its socket is full, the write waits
    await asyncio.wait_for(client.parked.wait(), 5)
    for _ in range(3):  # chunks 2-4 arrive meanwhile: into the log only
        step.set()
        await asyncio.sleep(0.01)
    assert len(client.bodies) == 1
    gate.set()
    await _until(lambda: len(client.bodies) == 3)
    # The waiting write (chunk 1), then chunks 2-4 together in one send.
    assert client.bodies[1].count(b"id: ") == 1
    assert client.bodies[2].count(b"id: ") == 3
    for _ in range(2):  # chunks 5 and 6, then complete: in place again, one send each
        step.set()
        await asyncio.sleep(0.01)
    await asyncio.wait_for(serving, 5)
    assert client.ids == [f"{stream_id}-{n}" for n in range(8)]
    assert len(client.bodies) == 6
    await registry.aclose()


async def test_keep_alive_comes_from_one_timer_for_every_silent_stream() -> None:
    registry = MemoryStreamRegistry(resume_grace=0)
    silent = asyncio.Event()
    clients, serving = [], []
    for _ in range(3):
        stream_id = await registry.start(_chunks(1, silent))
        client = Client()
        response = SubscriptionResponse(await registry.subscribe(stream_id), keep_alive=0.1)
        serving.append(asyncio.create_task(response(SCOPE, client.receive, client.send)))
        clients.append(client)
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    timer = sse_module._timers[(loop, 0.1)]
    assert len(timer.streams) == 3  # one timer, every stream on it
    await asyncio.sleep(0.45)
    for client in clients:
        comments = [body for body in client.bodies if body == b": keep-alive\n\n"]
        assert 2 <= len(comments) <= 5  # about one per 0.1 s of silence
    for client in clients:
        client.leave()
    await asyncio.wait_for(asyncio.gather(*serving), 5)
    assert not timer.streams
    await asyncio.sleep(0.15)  # the timer stops once no stream is left on it
    assert (loop, 0.1) not in sse_module._timers
    await registry.aclose()


async def test_a_busy_stream_gets_no_keep_alive() -> None:
    async def busy() -> AsyncIterator[bytes]:
        for index in range(40):
            yield encode_event(str(index))
            await asyncio.sleep(0.01)

    client = Client()
    await EventStreamResponse(busy(), keep_alive=0.05)(SCOPE, client.receive, client.send)
    assert b": keep-alive\n\n" not in client.bodies
    assert len(client.bodies) == 40


async def test_a_busy_subscription_gets_no_keep_alive_and_a_silent_one_does() -> None:
    registry = MemoryStreamRegistry(resume_grace=0)

    async def events(count: int, pause: float) -> AsyncIterator[dict[str, Any]]:
        for index in range(count):
            await asyncio.sleep(pause)
            yield {"type": "chunk", "chunk": f"c{index}"}
        yield {"type": "complete"}

    async def serve(events: AsyncIterator[dict[str, Any]]) -> list[bytes]:
        stream_id = await registry.start(events)
        client = Client()
        response = SubscriptionResponse(await registry.subscribe(stream_id), keep_alive=0.2)
        await asyncio.wait_for(response(SCOPE, client.receive, client.send), 10)
        return client.bodies

    busy = await serve(events(30, 0.01))
    assert b": keep-alive\n\n" not in busy
    assert len(busy) == 32  # start, 30 chunks, complete
    silent = await serve(events(2, 0.5))
    assert 2 <= silent.count(b": keep-alive\n\n") <= 6  # about one per 0.2 s of silence
    await registry.aclose()


@pytest.mark.parametrize("wakes", [True, False], ids=["server-wakes-receive", "server-does-not"])
async def test_the_disconnect_watch_ends_with_the_response_and_leaves_no_task(wakes: bool) -> None:
    class Server(Client):
        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if wakes and message["type"] == "http.response.body" and not message["more_body"]:
                self.leave()  # as uvicorn wakes a waiting receive() once the response is done

    registry = MemoryStreamRegistry(resume_grace=0)
    step = asyncio.Event()
    step.set()
    stream_id = await registry.start(_chunks(1, step))
    client = Server()
    response = SubscriptionResponse(await registry.subscribe(stream_id))
    await asyncio.wait_for(response(SCOPE, client.receive, client.send), 5)
    assert len(client.ids) == 3
    await asyncio.sleep(0)  # the watch's last turn
    assert not response.disconnected  # the response's own end is not the client leaving
    assert asyncio.all_tasks() == {asyncio.current_task()} | _producers(registry)
    await registry.aclose()


def _producers(registry: MemoryStreamRegistry) -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if task.get_name().startswith("laraflowai-")}


async def test_event_stream_response_sends_retry_frames_and_closes_the_iterator_on_disconnect() -> (
    None
):
    closed = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield encode_event("one", id="1")
            yield encode_event("two\nlines", event="note")
            await asyncio.sleep(60)  # a silent source: only the disconnect can end it
            yield encode_event("never")
        finally:
            closed.set()

    client = Client()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        await client.send(message)

    response = EventStreamResponse(frames(), retry=1500, headers={"X-Extra": "1"})
    serving = asyncio.create_task(response(SCOPE, client.receive, send))
    await _until(lambda: len(client.bodies) == 3)
    client.leave()
    await asyncio.wait_for(serving, 5)
    assert closed.is_set()
    assert client.bodies == [
        b"retry: 1500\n\n",
        b"id: 1\ndata: one\n\n",
        b"event: note\ndata: two\ndata: lines\n\n",
    ]
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"text/event-stream"
    assert headers[b"x-accel-buffering"] == b"no" and headers[b"x-extra"] == b"1"


def test_headers_add_to_the_sse_defaults_or_replace_one_and_are_each_responses_own() -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b""

    plain = EventStreamResponse(nothing())
    extra = EventStreamResponse(nothing(), headers={"X-Stream-Id": "ab12"})
    replaced = EventStreamResponse(nothing(), headers={"cache-control": "no-store"})
    assert dict(extra.raw_headers)[b"x-stream-id"] == b"ab12"
    assert b"x-stream-id" not in dict(plain.raw_headers)
    cache = [value for name, value in replaced.raw_headers if name == b"cache-control"]
    assert cache == [b"no-store"]
    plain.raw_headers.append((b"x-added", b"by middleware"))
    assert b"x-added" not in dict(EventStreamResponse(nothing()).raw_headers)
