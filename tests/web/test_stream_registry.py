"""The in-memory stream registry on its own: one producer, many listeners,
exact resume, stop, grace-window abandonment, retention."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laraflowai.broadcast import MemoryStreamRegistry, UnknownStreamError


class Producer:
    """Yields the given chunks, then waits forever unless `finish`; records its closing."""

    def __init__(self, chunks: list[str], *, finish: bool = True) -> None:
        self.chunks = chunks
        self.finish = finish
        self.closed = asyncio.Event()
        self.more = asyncio.Event()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        try:
            for chunk in self.chunks:
                yield {"type": "chunk", "chunk": chunk}
                await asyncio.sleep(0)
            if not self.finish:
                await asyncio.Event().wait()
            yield {"type": "complete", "finish_reason": "stop"}
        finally:
            self.closed.set()


async def read_all(registry: MemoryStreamRegistry, stream_id: str, after: int | None = None):
    async with await registry.subscribe(stream_id, after) as subscription:
        return [entry async for entry in subscription]


async def test_every_listener_gets_every_entry_and_resume_is_exact() -> None:
    registry = MemoryStreamRegistry()
    producer = Producer(["a", "b", "c"])
    stream_id = await registry.start(producer.events(), meta={"agent": "X"})
    first, second = await asyncio.gather(
        read_all(registry, stream_id), read_all(registry, stream_id)
    )
    assert [e.payload() for e in first] == [e.payload() for e in second]
    assert first[0].payload() == {"type": "start", "stream_id": stream_id, "agent": "X"}
    assert [e.type for e in first] == ["start", "chunk", "chunk", "chunk", "complete"]
    assert [e.index for e in first] == [0, 1, 2, 3, 4]
    resumed = await read_all(registry, stream_id, after=2)
    assert [e.index for e in resumed] == [3, 4]
    assert (await registry.info(stream_id)).status == "complete"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="has no event 9"):
        await registry.subscribe(stream_id, after=9)
    await registry.aclose()


async def test_stop_cancels_the_producer_now_and_ends_with_a_stopped_event() -> None:
    registry = MemoryStreamRegistry(resume_grace=60)
    producer = Producer(["a"], finish=False)
    stream_id = await registry.start(producer.events())
    subscription = await registry.subscribe(stream_id)
    seen = [e.type for e in await subscription.next()]
    while "chunk" not in seen:  # the producer is running, now inside its upstream
        seen += [e.type for e in await subscription.next()]
    info = await registry.stop(stream_id)
    assert producer.closed.is_set()
    assert info.status == "stopped"
    rest = [e.payload() for e in await subscription.next()]
    assert rest[-1] == {"type": "complete", "stopped": True, "reason": "stop"}
    assert await subscription.next() == []
    assert subscription.exhausted
    await subscription.aclose()
    await registry.aclose()


async def test_last_listener_leaving_cancels_after_the_grace_window_unless_one_returns() -> None:
    registry = MemoryStreamRegistry(resume_grace=0.2)
    producer = Producer(["a"], finish=False)
    stream_id = await registry.start(producer.events())
    subscription = await registry.subscribe(stream_id)
    await subscription.aclose()
    await asyncio.sleep(0.1)
    back = await registry.subscribe(stream_id, after=0)  # returns within the window
    await asyncio.sleep(0.2)
    assert not producer.closed.is_set()
    await back.aclose()
    await asyncio.wait_for(producer.closed.wait(), 1)
    info = await registry.info(stream_id)
    assert info is not None and info.status == "abandoned"
    entries = await read_all(registry, stream_id)
    assert entries[-1].payload() == {"type": "complete", "stopped": True, "reason": "abandoned"}
    await registry.aclose()


async def test_grace_zero_cancels_as_soon_as_the_last_listener_leaves() -> None:
    registry = MemoryStreamRegistry(resume_grace=0)
    producer = Producer([], finish=False)
    stream_id = await registry.start(producer.events())
    one, two = await registry.subscribe(stream_id), await registry.subscribe(stream_id)
    await one.aclose()
    await asyncio.sleep(0.05)
    assert not producer.closed.is_set()  # another listener still follows it
    await two.aclose()
    await asyncio.wait_for(producer.closed.wait(), 1)
    await registry.aclose()


async def test_ended_streams_are_forgotten_after_the_retention_window() -> None:
    registry = MemoryStreamRegistry(retention=0.1)
    stream_id = await registry.start(Producer(["a"]).events())
    await read_all(registry, stream_id)
    assert await registry.info(stream_id) is not None
    await asyncio.sleep(0.2)
    assert await registry.info(stream_id) is None
    with pytest.raises(UnknownStreamError):
        await registry.subscribe(stream_id)
    await registry.aclose()


async def test_a_failing_producer_ends_with_an_error_event_and_a_silent_one_with_complete() -> None:
    async def broken() -> AsyncIterator[dict[str, Any]]:
        yield {"type": "chunk", "chunk": "so far"}
        raise RuntimeError("secret internals")

    async def silent() -> AsyncIterator[dict[str, Any]]:
        yield {"type": "chunk", "chunk": "all"}

    registry = MemoryStreamRegistry()
    failed = await read_all(registry, await registry.start(broken()))
    assert failed[-1].payload() == {
        "type": "error",
        "message": "The answer could not be completed.",
    }
    ended = await read_all(registry, await registry.start(silent()))
    assert ended[-1].payload() == {"type": "complete"}
    await registry.aclose()


async def test_a_producer_is_closed_at_its_last_event_and_not_read_past_it() -> None:
    closed = asyncio.Event()
    read_past = False

    async def lingering() -> AsyncIterator[dict[str, Any]]:
        nonlocal read_past
        try:
            yield {"type": "chunk", "chunk": "all"}
            yield {"type": "complete", "finish_reason": "stop"}
            read_past = True
            await asyncio.Event().wait()  # would hold the stream's task forever
        finally:
            closed.set()

    registry = MemoryStreamRegistry()
    stream_id = await registry.start(lingering())
    entries = await asyncio.wait_for(read_all(registry, stream_id), 5)
    assert [entry.type for entry in entries] == ["start", "chunk", "complete"]
    await asyncio.wait_for(closed.wait(), 5)
    assert not read_past
    info = await registry.info(stream_id)
    assert info is not None and info.status == "complete"
    await registry.aclose()


async def test_an_ended_stream_keeps_its_log_and_lets_its_producer_go() -> None:
    class Events:
        """A producer object (as an answer's events are), to watch it be freed."""

        def __init__(self) -> None:
            self.chunks = iter(["a", "b"])

        def __aiter__(self) -> Events:
            return self

        async def __anext__(self) -> dict[str, Any]:
            for chunk in self.chunks:
                return {"type": "chunk", "chunk": chunk}
            raise StopAsyncIteration

    registry = MemoryStreamRegistry(retention=60)
    events = Events()
    gone = weakref.ref(events)
    stream_id = await registry.start(events)
    del events
    entries = await asyncio.wait_for(read_all(registry, stream_id), 5)
    await asyncio.sleep(0)
    gc.collect()
    assert gone() is None  # not held for the retention window
    assert (
        [entry.type for entry in await read_all(registry, stream_id)]
        == [entry.type for entry in entries]
        == ["start", "chunk", "chunk", "complete"]
    )
    await registry.aclose()


async def test_shutdown_stops_every_running_stream() -> None:
    registry = MemoryStreamRegistry()
    producer = Producer(["a"], finish=False)
    await registry.start(producer.events())
    await asyncio.sleep(0)
    await registry.aclose()
    assert producer.closed.is_set()
    assert len(registry) == 0
