"""Fan-out by piping: the producer writes each event to every listener in
place, a listener whose writes wait catches up on its own without holding up
the others, and the compact log gives back exactly what went in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laraflowai.broadcast import ASGIBody, MemoryStreamRegistry
from laraflowai.broadcast._eager import WRITTEN, finish, writes
from laraflowai.broadcast._log import EventLog


def _line(stream_id: str, index: int, payload: bytes) -> bytes:
    return b"%d %s\n" % (index, payload)


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """What writes of `_line` frames carried: (index, payload) per event."""
    return [(int(i), p) for i, _, p in (line.partition(b" ") for line in data.splitlines())]


def test_the_log_gives_back_every_payload_exactly() -> None:
    log = EventLog()
    payloads: list[dict[str, Any]] = [
        {"type": "start", "stream_id": "ab12", "agent": "Writer"},
        {"type": "chunk", "chunk": "Привіт, "},
        {"type": "chunk", "chunk": 'quote " back\\slash\nnew line \u2028 👋🏽'},
        {"type": "chunk", "chunk": ""},
        {"type": "chunk", "chunk": "crew", "task_index": 1, "agent": "Editor"},
        {"type": "chunk", "chunk": 7},  # not a string: kept as it is, not as a plain chunk
        {"type": "custom", "nested": {"list": [1, 2.5, None, True]}},
        {"type": "complete", "finish_reason": "stop", "usage": {"total_tokens": 3}},
    ]
    for index, payload in enumerate(payloads):
        assert log.append(payload)[:2] == (index, payload["type"])
    assert len(log) == len(payloads)
    assert [json.loads(data) for _, _, data in log.entries(0, len(log))] == payloads
    assert [log.kind(index) for index in range(len(log))] == [p["type"] for p in payloads]
    # Compact: the plain chunks' envelopes are not stored.
    assert log.payload(1) == '{"type":"chunk","chunk":"Привіт, "}'.encode()


def test_any_event_of_a_long_log_is_found_and_read_back_exactly() -> None:
    """Events past the first 32 are found from the offset kept every 32 events;
    text with newlines, quotes and any character never breaks a line apart."""
    log = EventLog()
    expected: list[tuple[str, dict[str, Any]]] = []
    texts = ["line\none\r\n", '"quoted"', "\u2028\u2029 \U0001f680", "", "\x00\x1f", "ok"]
    for index in range(200):
        payload: dict[str, Any]
        if index % 7 == 3:
            payload = {"type": f"kind-{index % 5}", "n": index, "text": texts[index % len(texts)]}
        else:
            payload = {"type": "chunk", "chunk": texts[index % len(texts)] * (index % 3)}
        assert log.append(payload if index % 2 else payload.get("chunk", payload))[0] == index
        expected.append((payload["type"], payload))
    assert len(log) == 200
    for index in (0, 31, 32, 33, 63, 64, 199, 150, 1):
        kind, payload = expected[index]
        assert log.kind(index) == kind
        assert json.loads(log.payload(index)) == payload
    entries = log.entries(29, 200)
    assert [index for index, _, _ in entries] == list(range(29, 200))
    assert [(kind, json.loads(data)) for _, kind, data in entries] == expected[29:]
    with pytest.raises(IndexError):
        log.payload(200)
    # A chunk costs its JSON string and a newline; anything else a byte more.
    assert len(log._data) == sum(
        len(
            json.dumps(
                p["chunk"] if k == "chunk" else p, separators=(",", ":"), ensure_ascii=False
            ).encode()
        )
        + (1 if k == "chunk" else 2)
        for k, p in expected
    )


def test_a_log_holds_up_to_128_event_types() -> None:
    log = EventLog()
    for number in range(128):
        log.append({"type": f"t{number}"})
    with pytest.raises(ValueError, match="at most 128 event types"):
        log.append({"type": "one-too-many"})
    assert len(log) == 128 and log.kind(127) == "t127"


def test_a_str_is_a_plain_chunk_stored_and_read_back_as_one() -> None:
    log = EventLog()
    assert log.append("tok ") == (0, "chunk", b'{"type":"chunk","chunk":"tok "}')
    log.append({"type": "chunk", "chunk": "tok "})
    assert log.payload(0) == log.payload(1)
    assert log.kind(0) == "chunk"


async def test_a_producer_may_yield_plain_chunks_as_str() -> None:
    async def events() -> AsyncIterator[Any]:
        yield "Hello, "
        yield {"type": "chunk", "chunk": "world"}
        yield {"type": "complete"}

    registry = MemoryStreamRegistry()
    stream_id = await registry.start(events())
    subscription = await registry.subscribe(stream_id)
    entries = [entry async for entry in subscription]
    assert [entry.payload() for entry in entries[1:]] == [
        {"type": "chunk", "chunk": "Hello, "},
        {"type": "chunk", "chunk": "world"},
        {"type": "complete"},
    ]
    info = await registry.info(stream_id)
    assert info is not None and info.status == "complete"
    await subscription.aclose()
    await registry.aclose()


class _TemplateFramer:
    """A framer with a `template` (a literal % in it too): plain chunks are
    framed from the template, everything else by calling it."""

    template = b"%s|%s|%s 100%%\n"

    def __call__(self, stream_id: str, index: int, payload: bytes) -> bytes:
        return b"%s|%d|%s 100%%\n" % (stream_id.encode(), index, payload)


async def test_a_framer_template_frames_chunks_as_calling_the_framer_would() -> None:
    framer = _TemplateFramer()
    step = asyncio.Event()

    async def events() -> AsyncIterator[Any]:
        yield "plain, "
        yield {"type": "chunk", "chunk": 'quoted "%s" \n'}
        yield {"type": "note", "text": "100%"}
        await step.wait()
        yield "after the second listener came"
        yield {"type": "complete"}

    registry = MemoryStreamRegistry()
    stream_id = await registry.start(events())
    written: list[list[bytes]] = [[], []]

    def writer(into: list[bytes]) -> Any:
        async def write(data: bytes) -> None:
            into.extend(data.splitlines(keepends=True))

        return write

    first = await registry.subscribe(stream_id)
    piping = [asyncio.create_task(first.pipe(framer, writer(written[0])))]
    await asyncio.sleep(0.01)
    second = await registry.subscribe(stream_id)  # two listeners: the fan-out's way
    piping.append(asyncio.create_task(second.pipe(framer, writer(written[1]))))
    await asyncio.sleep(0.01)
    step.set()
    await asyncio.wait_for(asyncio.gather(*piping), 5)
    reader = await registry.subscribe(stream_id)
    expected = [framer(stream_id, entry.index, entry.data) for entry in await reader.next()]
    assert len(expected) == 6
    assert written[0] == written[1] == expected
    for subscription in (first, second, reader):
        await subscription.aclose()
    await registry.aclose()


async def test_an_asgi_body_writer_sends_body_messages_with_more_to_come() -> None:
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    body = ASGIBody(send)
    generator = writes(body)  # the in-memory registry's way
    assert generator.send(b"one") is WRITTEN
    await body(b"two")  # any other registry's: a Writer
    assert messages == [
        {"type": "http.response.body", "body": data, "more_body": True} for data in (b"one", b"two")
    ]


def test_the_log_refuses_an_event_without_a_type() -> None:
    log = EventLog()
    with pytest.raises(ValueError, match="string 'type'"):
        log.append({"chunk": "x"})
    with pytest.raises(ValueError, match="string 'type'"):
        log.append({"type": 3})
    assert len(log) == 0


async def test_writes_run_in_place_or_finish_in_a_task_that_can_be_cancelled() -> None:
    done: list[bytes] = []
    gate = asyncio.Event()

    async def write(data: bytes) -> None:
        done.append(data)
        if data == b"wait":
            await gate.wait()
            done.append(b"finished")
        elif data == b"sleep":
            try:
                await asyncio.sleep(60)
            finally:
                done.append(b"cleaned up")
        elif data == b"fail":
            raise OSError("gone")

    generator = writes(write)
    assert generator.send(b"at once") is WRITTEN and done == [b"at once"]
    rest = finish(generator, generator.send(b"wait"))
    assert done[-1] == b"wait"
    gate.set()
    await rest
    assert done[-1] == b"finished"
    assert generator.send(b"again") is WRITTEN  # the same generator runs the next write

    rest = finish(generator, generator.send(b"sleep"))
    rest.cancel()  # before the task's first step: the write still sees it
    with pytest.raises(asyncio.CancelledError):
        await rest
    assert done[-1] == b"cleaned up"

    generator = writes(write)
    with pytest.raises(OSError, match="gone"):
        generator.send(b"fail")


async def _chunks(count: int, gate: asyncio.Event | None = None) -> AsyncIterator[dict[str, Any]]:
    for index in range(count):
        if gate is not None and index == count // 2:
            await gate.wait()
        yield {"type": "chunk", "chunk": f"c{index} "}
        await asyncio.sleep(0)
    yield {"type": "complete", "finish_reason": "stop"}


async def test_a_listener_whose_writes_wait_does_not_hold_up_the_producer_or_the_others() -> None:
    registry = MemoryStreamRegistry()
    gate = asyncio.Event()
    stream_id = await registry.start(_chunks(40, gate))
    fast_seen: list[int] = []
    slow_seen: list[int] = []
    unblock_slow = asyncio.Event()

    async def fast(data: bytes) -> None:
        fast_seen.extend(index for index, _ in _lines(data))

    async def slow(data: bytes) -> None:
        slow_seen.extend(index for index, _ in _lines(data))
        if slow_seen[-1] == 3:  # its socket is full from here on
            await unblock_slow.wait()

    fast_sub = await registry.subscribe(stream_id)
    slow_sub = await registry.subscribe(stream_id)
    fast_pipe = asyncio.create_task(fast_sub.pipe(_line, fast))
    slow_pipe = asyncio.create_task(slow_sub.pipe(_line, slow))
    gate.set()
    await asyncio.wait_for(fast_pipe, 5)  # finished while the slow one still waits
    assert fast_seen == list(range(42))
    assert slow_seen[-1] == 3 and not slow_pipe.done()
    unblock_slow.set()
    await asyncio.wait_for(slow_pipe, 5)
    assert slow_seen == list(range(42))  # caught up from the log: nothing lost or repeated
    for subscription in (fast_sub, slow_sub):
        await subscription.aclose()
    await registry.aclose()


async def test_closing_ends_a_pipe_and_a_failing_write_ends_it_with_its_error() -> None:
    registry = MemoryStreamRegistry(resume_grace=60)
    gate = asyncio.Event()
    stream_id = await registry.start(_chunks(10, gate))
    seen: list[int] = []

    async def write(data: bytes) -> None:
        seen.extend(index for index, _ in _lines(data))

    subscription = await registry.subscribe(stream_id)
    pipe = asyncio.create_task(subscription.pipe(_line, write))
    while len(seen) < 6:  # start + the chunks before the gate
        await asyncio.sleep(0)
    await subscription.aclose()
    await asyncio.wait_for(pipe, 5)

    async def broken(data: bytes) -> None:
        raise ConnectionResetError("the client went away")

    again = await registry.subscribe(stream_id, after=2)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(again.pipe(_line, broken), 5)
    await again.aclose()
    gate.set()
    await registry.aclose()


async def test_pipe_resumes_after_the_given_event_and_returns_once_the_stream_is_read() -> None:
    registry = MemoryStreamRegistry()
    stream_id = await registry.start(_chunks(5))
    first = await registry.subscribe(stream_id)
    seen: list[bytes] = []

    async def write(data: bytes) -> None:
        seen.extend(payload for _, payload in _lines(data))

    await asyncio.wait_for(first.pipe(_line, write), 5)
    await first.aclose()
    resumed: list[tuple[int, int]] = []

    async def later(data: bytes) -> None:
        lines = _lines(data)
        resumed.append((lines[0][0], len(lines)))

    second = await registry.subscribe(stream_id, after=3)
    await asyncio.wait_for(second.pipe(_line, later), 5)
    await second.aclose()
    assert [json.loads(p)["type"] for p in seen] == ["start", *["chunk"] * 5, "complete"]
    assert resumed == [(4, 3)]  # one write with the whole backlog
    await registry.aclose()


async def test_a_closed_subscription_pipes_nothing() -> None:
    registry = MemoryStreamRegistry()
    stream_id = await registry.start(_chunks(3))
    subscription = await registry.subscribe(stream_id)
    await subscription.aclose()
    written: list[bytes] = []

    async def write(data: bytes) -> None:
        written.append(data)

    await asyncio.wait_for(subscription.pipe(_line, write), 5)
    assert written == []
    await registry.aclose()


async def test_closing_a_subscription_ends_a_next_waiting_in_another_task() -> None:
    registry = MemoryStreamRegistry(resume_grace=60)
    gate = asyncio.Event()
    stream_id = await registry.start(_chunks(2, gate))
    subscription = await registry.subscribe(stream_id)
    while subscription.cursor < 2:  # start and the first chunk; then the producer waits
        await subscription.next()
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0.01)
    await subscription.aclose()
    assert await asyncio.wait_for(waiting, 5) == []
    gate.set()
    await registry.aclose()


class _Templated:
    """A framer with a `template`: plain chunks are framed from it in push()."""

    template = b"%s:%s %s\n"

    def __call__(self, stream_id: str, index: int, data: bytes) -> bytes:
        return b"%s:%d %s\n" % (stream_id.encode(), index, data)


async def test_the_one_live_listener_leaves_and_rejoins_the_in_place_path_losing_nothing() -> None:
    """A sole listener is written to in push() itself; one whose write waits
    drops out and catches up from the log, a second listener makes both go
    through the fan-out, and every event reaches each exactly once, in order."""
    registry = MemoryStreamRegistry()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def produce() -> AsyncIterator[dict[str, Any] | str]:
        while (chunk := await queue.get()) is not None:
            yield chunk  # a plain str: push()'s own path
        yield {"type": "complete"}

    stream_id = await registry.start(produce())
    seen: dict[str, list[int]] = {"a": [], "b": []}
    gate = asyncio.Event()
    gate.set()

    def writer(name: str) -> Any:
        async def write(data: bytes) -> None:
            for line in data.splitlines():
                head, _, payload = line.partition(b" ")
                assert head.startswith(stream_id.encode() + b":")
                seen[name].append(int(head.rpartition(b":")[2]))
                assert json.loads(payload)["type"] in ("start", "chunk", "complete")
            await gate.wait()

        return write

    async def put(*chunks: str) -> None:
        for chunk in chunks:
            queue.put_nowait(chunk)
        while not queue.empty():
            await asyncio.sleep(0)
        await asyncio.sleep(0)

    first = await registry.subscribe(stream_id)
    piping = asyncio.create_task(first.pipe(_Templated(), writer("a")))
    stream = registry._streams[stream_id]
    await put("one ", "two ")
    assert seen["a"] == [0, 1, 2] and first.cursor == 3 and stream.live is first

    gate.clear()  # its socket is full: the next write waits
    await put("three ", "four ", "five ")
    assert seen["a"] == [0, 1, 2, 3] and first.cursor == 4 and stream.live is None
    gate.set()
    await put("six ")
    assert seen["a"] == list(range(7)) and first.cursor == 7  # caught up, then in place again
    assert stream.live is first

    second = await registry.subscribe(stream_id, after=5)
    joined = asyncio.create_task(second.pipe(_Templated(), writer("b")))
    await put("seven ")
    assert seen["a"] == list(range(8)) and seen["b"] == [6, 7] and stream.live is None
    assert first.cursor == second.cursor == 8
    await second.aclose()
    await asyncio.wait_for(joined, 5)
    assert stream.live is first
    await put("eight ")
    queue.put_nowait(None)
    await asyncio.wait_for(piping, 5)
    assert seen["a"] == list(range(10)) and first.cursor == 10
    assert seen["b"] == [6, 7]
    await first.aclose()
    await registry.aclose()
