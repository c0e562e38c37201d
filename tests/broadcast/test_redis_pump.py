"""The Redis registry runs an agent's answer by push (`pump`), as the in-memory
one does: every chunk reaches the log in order, the last event carries the
usage, a stop still ends the provider request, and when Redis falls behind the
producer waits for it instead of piling up writes."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest
import redis.asyncio as aioredis

from laraflowai import Agent, Settings
from laraflowai.broadcast import RedisStreamRegistry, response_events
from laraflowai.providers import (
    ChatRequest,
    InProcessProvider,
    register_provider,
    unregister_provider,
)
from laraflowai.wire import Event, Finished, TextDelta, Usage

PIECES = 3000  # more than the writes the registry lets pile up before a producer waits


class Burst(InProcessProvider):
    """`PIECES` deltas as fast as they are read, once `gate` opens."""

    name: ClassVar[str] = "burst"
    label: ClassVar[str] = "Burst"
    default_model: ClassVar[str] = "burst-1"
    gate: ClassVar[asyncio.Event | None] = None
    made: ClassVar[int] = 0

    def iter_events(self, request: ChatRequest) -> Iterator[Event]:
        raise NotImplementedError("async only")

    async def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
        assert Burst.gate is not None
        await Burst.gate.wait()
        for number in range(PIECES):
            Burst.made = number + 1
            yield TextDelta(f"{number} ")
            await asyncio.sleep(0)
        yield Usage(input_tokens=3, output_tokens=PIECES, total_tokens=PIECES + 3)
        yield Finished("stop")


@pytest.fixture
def burst() -> Iterator[type[Burst]]:
    register_provider("burst", lambda **kwargs: Burst(**kwargs), replace=True)
    Burst.gate, Burst.made = asyncio.Event(), 0
    yield Burst
    unregister_provider("burst")


def agent(**options: Any) -> Agent:
    settings = Settings().replace(buffer_size=1, cache_enabled=False, max_retries=0, **options)
    return Agent("Tester", "Test the Redis pump", "burst", settings=settings)


async def redis_pid(redis_url: str) -> int:
    client = aioredis.from_url(redis_url)
    try:
        return int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()


async def read_all(registry: RedisStreamRegistry, stream_id: str) -> list[dict[str, Any]]:
    async with await registry.subscribe(stream_id, 0) as subscription:
        return [entry.payload() async for entry in subscription]


async def test_an_answer_is_pumped_into_the_log_whole_and_in_order(
    redis_url: str, burst: type[Burst]
) -> None:
    registry = RedisStreamRegistry(redis_url)
    try:
        events = response_events(agent().astream("Go"))
        assert hasattr(events, "pump")  # the push path, which this registry now takes
        stream_id = await registry.start(events)
        assert burst.gate is not None
        burst.gate.set()
        payloads = await read_all(registry, stream_id)
    finally:
        await registry.aclose()
    chunks = [p["chunk"] for p in payloads if p["type"] == "chunk"]
    assert "".join(chunks) == "".join(f"{number} " for number in range(PIECES))
    assert payloads[-1]["type"] == "complete" and payloads[-1]["usage"]["output_tokens"] == PIECES


async def test_a_producer_waits_for_redis_when_it_falls_behind(
    redis_url: str, burst: type[Burst]
) -> None:
    pid = await redis_pid(redis_url)
    registry = RedisStreamRegistry(redis_url)
    try:
        stream_id = await registry.start(response_events(agent().astream("Go")))
        assert burst.gate is not None
        os.kill(pid, signal.SIGSTOP)  # Redis stops answering: every write waits
        try:
            burst.gate.set()
            await asyncio.sleep(0.5)
            held = burst.made
        finally:
            os.kill(pid, signal.SIGCONT)
        # The producer stopped reading after a bounded backlog, not at the end.
        assert 0 < held < PIECES
        payloads = await read_all(registry, stream_id)
    finally:
        await registry.aclose()
    chunks = [p["chunk"] for p in payloads if p["type"] == "chunk"]
    assert len(chunks) == PIECES and payloads[-1]["type"] == "complete"


async def test_a_stop_ends_a_pumped_answer_and_its_provider(
    redis_url: str, burst: type[Burst]
) -> None:
    registry = RedisStreamRegistry(redis_url, resume_grace=30)
    try:
        stream_id = await registry.start(response_events(agent().astream("Go")))
        info = await registry.stop(stream_id)  # the provider still waits for its first piece
        assert info.status == "stopped"
        payloads = await read_all(registry, stream_id)
    finally:
        await registry.aclose()
    assert payloads[-1] == {"type": "complete", "stopped": True, "reason": "stop"}
    assert burst.made == 0
