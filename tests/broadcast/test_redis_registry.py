"""The Redis stream registry against a real redis-server: exact resume, stop,
abandonment and retention, across registries that share nothing but Redis
(as two server processes do), and a producing process killed mid-stream."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laraflowai.broadcast import RedisStreamRegistry, UnknownStreamError
from tests.web.test_stream_registry import Producer


async def read_all(registry: RedisStreamRegistry, stream_id: str, after: int | None = None):
    async with await registry.subscribe(stream_id, after) as subscription:
        return [entry async for entry in subscription]


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


async def test_a_second_registry_reads_every_entry_and_resumes_exactly(redis_url: str) -> None:
    a, b = RedisStreamRegistry(redis_url), RedisStreamRegistry(redis_url)
    try:
        producer = Producer(["a", "b\u2728", "c"])
        stream_id = await a.start(producer.events(), meta={"agent": "X"})
        here, there = await asyncio.gather(read_all(a, stream_id), read_all(b, stream_id))
        assert [e.payload() for e in here] == [e.payload() for e in there]
        assert there[0].payload() == {"type": "start", "stream_id": stream_id, "agent": "X"}
        assert [e.type for e in there] == ["start", "chunk", "chunk", "chunk", "complete"]
        assert [e.index for e in there] == [0, 1, 2, 3, 4]
        assert [e.index for e in await read_all(b, stream_id, after=2)] == [3, 4]
        info = await b.info(stream_id)
        assert info is not None and info.status == "complete" and info.events == 5
        with pytest.raises(ValueError, match="has no event 9"):
            await b.subscribe(stream_id, after=9)
        with pytest.raises(UnknownStreamError):
            await b.subscribe("0123456789abcdef01234567")
        done = await b.subscribe(stream_id, after=4)
        assert done.exhausted
        await done.aclose()
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_listener_elsewhere_follows_live_events_as_they_come(redis_url: str) -> None:
    a, b = RedisStreamRegistry(redis_url), RedisStreamRegistry(redis_url)
    gate = asyncio.Event()

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"type": "chunk", "chunk": "first"}
        await gate.wait()
        yield {"type": "chunk", "chunk": "second"}

    try:
        stream_id = await a.start(events())
        async with await b.subscribe(stream_id) as subscription:
            seen = []
            while len(seen) < 2:
                seen += await subscription.next()
            assert [e.type for e in seen] == ["start", "chunk"]
            gate.set()
            rest = [entry async for entry in subscription]
        assert [e.payload().get("chunk") for e in rest] == ["second", None]
        assert rest[-1].payload() == {"type": "complete"}
    finally:
        await a.aclose()
        await b.aclose()


async def test_stop_from_another_registry_cancels_the_producer_where_it_runs(
    redis_url: str,
) -> None:
    a, b = RedisStreamRegistry(redis_url, resume_grace=60), RedisStreamRegistry(redis_url)
    try:
        producer = Producer(["a"], finish=False)
        stream_id = await a.start(producer.events())
        subscription = await b.subscribe(stream_id)
        seen = [e.type for e in await subscription.next()]
        while "chunk" not in seen:
            seen += [e.type for e in await subscription.next()]
        info = await b.stop(stream_id)
        assert producer.closed.is_set()
        assert info.status == "stopped"
        rest = [entry async for entry in subscription]
        assert rest[-1].payload() == {"type": "complete", "stopped": True, "reason": "stop"}
        await subscription.aclose()
    finally:
        await a.aclose()
        await b.aclose()


async def test_the_last_listener_leaving_elsewhere_abandons_after_the_grace(
    redis_url: str,
) -> None:
    a = RedisStreamRegistry(redis_url, resume_grace=0.3)
    b = RedisStreamRegistry(redis_url)
    try:
        producer = Producer(["a"], finish=False)
        stream_id = await a.start(producer.events())
        subscription = await b.subscribe(stream_id)
        await subscription.next()
        await subscription.aclose()
        await asyncio.wait_for(producer.closed.wait(), 5)

        async def abandoned() -> bool:
            info = await b.info(stream_id)
            return info is not None and info.status == "abandoned"

        await until(abandoned)

        # A listener that comes back within the grace keeps the stream running.
        kept = Producer(["b"], finish=False)
        stream_id = await a.start(kept.events())
        first = await b.subscribe(stream_id)
        await first.aclose()
        again = await b.subscribe(stream_id)
        await asyncio.sleep(0.6)
        assert not kept.closed.is_set()
        await again.aclose()
    finally:
        await a.aclose()
        await b.aclose()


async def test_an_ended_stream_expires_after_its_retention(redis_url: str) -> None:
    registry = RedisStreamRegistry(redis_url, retention=1)
    try:
        stream_id = await registry.start(Producer(["x"]).events())
        await read_all(registry, stream_id)

        async def gone() -> bool:
            return await registry.info(stream_id) is None

        await until(gone, timeout=4)
        with pytest.raises(UnknownStreamError):
            await registry.subscribe(stream_id)
    finally:
        await registry.aclose()


_PRODUCER = """
import asyncio, sys
from laraflowai.broadcast import RedisStreamRegistry

async def endless():
    n = 0
    while True:
        n += 1
        yield {"type": "chunk", "chunk": f"{n} "}
        await asyncio.sleep(0.05)

async def main():
    registry = RedisStreamRegistry(sys.argv[1])
    print(await registry.start(endless()), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_producing_process_killed_mid_stream_ends_every_listener_with_an_error(
    redis_url: str,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _PRODUCER, redis_url], stdout=subprocess.PIPE, text=True
    )
    registry = RedisStreamRegistry(redis_url)
    try:
        assert process.stdout is not None
        stream_id = process.stdout.readline().strip()
        listeners = [await registry.subscribe(stream_id) for _ in range(2)]
        for listener in listeners:
            while not await listener.next():
                pass
        process.send_signal(signal.SIGKILL)
        process.wait()
        started = time.monotonic()

        async def drain(listener: Any) -> list[Any]:
            return [entry async for entry in listener]

        ends = await asyncio.wait_for(asyncio.gather(*(drain(s) for s in listeners)), 20)
        assert time.monotonic() - started < 15
        for entries in ends:
            assert entries[-1].type == "error"
            assert sum(entry.type == "error" for entry in entries) == 1
            indices = [entry.index for entry in entries]
            assert indices == list(range(indices[0], indices[0] + len(indices)))
        info = await registry.info(stream_id)
        assert info is not None and info.status == "error"
        for listener in listeners:
            await listener.aclose()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        await registry.aclose()
